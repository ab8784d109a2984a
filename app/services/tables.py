"""Reading uploaded tables (CSV, Parquet, JSON / JSON Lines) into pandas with clear errors.

Rows in every message are 0-based data rows (the header is not counted), the convention of
app.crowd's messages too.
"""

from __future__ import annotations

import csv
import io
import json
import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal, cast

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from app.core.errors import InvalidInput

TableFormat = Literal["csv", "parquet", "json"]

ERR_EMPTY = "the file is empty"
ERR_NO_ROWS = "the file has a header but no data rows"
ERR_NOT_UTF8 = "the file is not UTF-8 text (byte {pos}); save it as UTF-8 CSV or JSON"
ERR_CSV = "malformed CSV: {error}"
ERR_EXTRA_FIELDS = "a data row has more fields than the header"
ERR_DUP_HEADER = "duplicate column name {column!r} in the header"
ERR_EMPTY_HEADER = "column {index} has an empty name in the header"
ERR_JSON = "malformed JSON: {error}"
ERR_JSON_SHAPE = (
    "JSON must be a list of objects (one per row), an object with a 'data' list, or JSON Lines"
)
ERR_JSON_ROW = "row {row}: expected a JSON object, got {kind}"
ERR_PARQUET = "not a readable Parquet file: {error}"
ERR_NESTED = "row {row}, column {column!r}: values must be scalars (text, number, boolean or empty)"
ERR_NONFINITE = "row {row}, column {column!r}: {value} is not a finite number"
ERR_NUL = "row {row}, column {column!r}: text contains a NUL character"
ERR_MISSING_COLUMN = "missing required column {column!r}; the file has columns: {columns}"
ERR_EMPTY_CELL = "row {row}, column {column!r}: empty value"
ERR_TOO_LONG = "row {row}, column {column!r}: longer than {limit} characters"

_EXTENSIONS: dict[str, TableFormat] = {
    ".csv": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".json": "json",
    ".jsonl": "json",
    ".ndjson": "json",
}


@contextmanager
def unit_of_work(session: Session) -> Iterator[Session]:
    """Commit on success; on any error roll back so a failed request changes nothing."""
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise


def detect_format(data: bytes, filename: str | None, declared: str | None) -> TableFormat:
    if declared in ("csv", "parquet", "json"):
        return declared  # type: ignore[return-value]
    if filename:
        lower = filename.lower()
        for ext, fmt in _EXTENSIONS.items():
            if lower.endswith(ext):
                return fmt
    if data[:4] == b"PAR1":
        return "parquet"
    if data.lstrip()[:1] in (b"[", b"{"):
        return "json"
    return "csv"


def read_table(
    data: bytes,
    *,
    filename: str | None = None,
    fmt: str | None = None,
    text_columns: tuple[str, ...] = (),
) -> pd.DataFrame:
    """Parse an uploaded file; `text_columns` (ids) are kept as text, never as numbers."""
    if not data or not data.strip():
        raise InvalidInput(ERR_EMPTY)
    kind = detect_format(data, filename, fmt)
    if kind == "parquet":
        try:
            frame = pd.read_parquet(io.BytesIO(data))
        except Exception as exc:  # pyarrow raises many types for corrupt input
            raise InvalidInput(ERR_PARQUET.format(error=str(exc)[:200])) from None
        for col in text_columns:
            if col in frame.columns:
                frame[col] = frame[col].map(lambda v: None if _is_missing(v) else str(v))
    elif kind == "json":
        frame = _read_json(_decode(data), text_columns)
    else:
        frame = _read_csv(_decode(data), text_columns)
    frame.columns = [str(c) for c in frame.columns]
    for column in frame.columns:
        if "\x00" in column:
            raise InvalidInput("a column name contains a NUL character")
    if len(frame) == 0:
        raise InvalidInput(ERR_NO_ROWS)
    return frame.reset_index(drop=True)


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(ERR_NOT_UTF8.format(pos=exc.start)) from None


def _read_csv(text: str, text_columns: tuple[str, ...]) -> pd.DataFrame:
    try:
        header = next(csv.reader(io.StringIO(text)))
    except (csv.Error, StopIteration) as exc:
        raise InvalidInput(ERR_CSV.format(error=exc)) from None
    seen: set[str] = set()
    for index, name in enumerate(header):
        if not name.strip():
            raise InvalidInput(ERR_EMPTY_HEADER.format(index=index))
        if name in seen:
            raise InvalidInput(ERR_DUP_HEADER.format(column=name), column=name)
        seen.add(name)
    if "\x00" in text:
        raise InvalidInput("the file contains NUL characters; it is not a text CSV")
    try:
        with warnings.catch_warnings():
            # index_col=False: a row with extra fields must be an error, not a silent index.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            return pd.read_csv(
                io.StringIO(text),
                dtype={c: str for c in text_columns if c in seen},
                index_col=False,
            )
    except pd.errors.ParserWarning:
        raise InvalidInput(ERR_CSV.format(error=ERR_EXTRA_FIELDS)) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise InvalidInput(ERR_CSV.format(error=str(exc).strip()[:300])) from None


def _read_json(text: str, text_columns: tuple[str, ...]) -> pd.DataFrame:
    stripped = text.strip()
    records: Any
    try:
        records = json.loads(stripped)
    except json.JSONDecodeError as exc:
        if stripped.startswith("{") and "\n" in stripped:
            records = []
            for line_no, line in enumerate(stripped.splitlines()):
                if not line.strip():
                    continue
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as line_exc:
                    raise InvalidInput(
                        ERR_JSON.format(error=f"line {line_no + 1}: {line_exc.msg}")
                    ) from None
        else:
            raise InvalidInput(ERR_JSON.format(error=f"{exc.msg} at line {exc.lineno}")) from None
    if isinstance(records, dict) and isinstance(records.get("data"), list):
        records = records["data"]
    if isinstance(records, dict):
        records = [records]
    if not isinstance(records, list):
        raise InvalidInput(ERR_JSON_SHAPE)
    for row, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise InvalidInput(ERR_JSON_ROW.format(row=row, kind=type(rec).__name__), row=row)
    columns: list[str] = []
    seen: set[str] = set()
    for rec in records:
        for key in rec:
            if key not in seen:
                seen.add(key)
                columns.append(key)
    for row, rec in enumerate(records):
        for col, value in rec.items():
            if isinstance(value, dict | list):
                raise InvalidInput(ERR_NESTED.format(row=row, column=col), row=row, column=col)
    frame = pd.DataFrame.from_records(records, columns=columns)
    for col in text_columns:
        if col in frame.columns:
            frame[col] = frame[col].map(lambda v: None if _is_missing(v) else str(v))
    return frame


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def require_columns(frame: pd.DataFrame, *columns: str) -> None:
    for column in columns:
        if column not in frame.columns:
            raise InvalidInput(
                ERR_MISSING_COLUMN.format(column=column, columns=", ".join(frame.columns)),
                column=column,
            )


def text_column(frame: pd.DataFrame, column: str, *, limit: int = 200) -> list[str]:
    """A required text column (ids): no empty cells, no NUL, at most `limit` characters."""
    out: list[str] = []
    for row, value in enumerate(frame[column].tolist()):
        if _is_missing(value) or (isinstance(value, str) and not value.strip()):
            raise InvalidInput(
                ERR_EMPTY_CELL.format(row=row, column=column), row=row, column=column
            )
        text = _as_text(value)
        if "\x00" in text:
            raise InvalidInput(ERR_NUL.format(row=row, column=column), row=row, column=column)
        if len(text) > limit:
            raise InvalidInput(
                ERR_TOO_LONG.format(row=row, column=column, limit=limit), row=row, column=column
            )
        out.append(text)
    return out


def _as_text(value: Any) -> str:
    # 7.0 from a float column is the id "7", not "7.0".
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def json_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-safe dicts of Python scalars (NaN -> None); rejects inf and NUL text."""
    frame = frame.copy()
    for col in frame.columns:
        series = frame[col]
        if pd.api.types.is_datetime64_any_dtype(series):
            frame[col] = series.map(lambda v: None if pd.isna(v) else v.isoformat())
        elif pd.api.types.is_float_dtype(series):
            values = series.to_numpy(dtype=np.float64)
            bad = np.isinf(values)
            if bad.any():
                row = int(np.flatnonzero(bad)[0])
                raise InvalidInput(
                    ERR_NONFINITE.format(row=row, column=col, value=values[row]),
                    row=row,
                    column=col,
                )
    obj = frame.astype(object).where(frame.notna(), None)
    records = cast(list[dict[str, Any]], obj.to_dict("records"))
    for row, rec in enumerate(records):
        for col, value in rec.items():
            if isinstance(value, str):
                if "\x00" in value:
                    raise InvalidInput(ERR_NUL.format(row=row, column=col), row=row, column=col)
            elif isinstance(value, float) and not math.isfinite(value):
                raise InvalidInput(
                    ERR_NONFINITE.format(row=row, column=col, value=value), row=row, column=col
                )
            elif isinstance(value, np.generic):
                rec[col] = value.item()
            elif not isinstance(value, int | float | bool | type(None)):
                rec[col] = str(value)
    return records
