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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from app.core.errors import InvalidInput, PayloadTooLarge

if TYPE_CHECKING:
    from app.core.config import Settings

TableFormat = Literal["csv", "parquet", "json"]

ERR_EMPTY = "the file is empty"
ERR_NO_ROWS = "the file has a header but no data rows"
ERR_NOT_UTF8 = "the file is not UTF-8 text (byte {pos}); save it as UTF-8 CSV or JSON"
ERR_CSV = "malformed CSV: {error}"
ERR_EXTRA_FIELDS = "row {row} has {n} fields but the header has {m}"
ERR_SHORT_ROW = (
    "row {row}, column {column!r}: missing (the row has {n} fields, the header {m}); "
    "write an empty value as an empty field between commas"
)
ERR_DEEP_JSON = "malformed JSON: nested too deeply (values must be scalars)"
ERR_INT_RANGE = (
    "row {row}, column {column!r}: {value} is outside the 64-bit integer range; "
    "store it as text (quote it) or scale it"
)
ERR_ROWS = "the file has {n} rows or more; at most {limit} are accepted (MAX_UPLOAD_ROWS): split it"
ERR_COLUMNS = "the file has {n} columns; at most {limit} are accepted (MAX_UPLOAD_COLUMNS)"
ERR_DECODED = (
    "the file decodes to more than {limit} bytes of column data (MAX_DECODED_BYTES); "
    "split it into smaller files"
)
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
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


@dataclass(frozen=True)
class TableLimits:
    """What one uploaded table may hold once decoded (Settings.max_upload_*)."""

    rows: int = 2_000_000
    columns: int = 1_000
    decoded_bytes: int = 1024 * 1024 * 1024

    @classmethod
    def of(cls, settings: Settings) -> TableLimits:
        return cls(
            rows=settings.max_upload_rows,
            columns=settings.max_upload_columns,
            decoded_bytes=settings.max_decoded_bytes,
        )

    def check(self, rows: int, columns: int) -> None:
        if columns > self.columns:
            raise PayloadTooLarge(ERR_COLUMNS.format(n=columns, limit=self.columns))
        if rows > self.rows:
            raise PayloadTooLarge(ERR_ROWS.format(n=rows, limit=self.rows))


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
    limits: TableLimits | None = None,
) -> pd.DataFrame:
    """Parse an uploaded file; `text_columns` (ids) are kept as text, never as numbers.

    `limits` bound rows, columns and decoded size (413 past them), checked before the data
    is decoded in full (a Parquet file's metadata, a CSV's header, a JSON document's rows)."""
    limits = limits or TableLimits()
    if not data or not data.strip():
        raise InvalidInput(ERR_EMPTY)
    kind = detect_format(data, filename, fmt)
    if kind == "parquet":
        frame = _read_parquet(data, limits)
        for col in text_columns:
            if col in frame.columns:
                frame[col] = frame[col].map(lambda v: None if _is_missing(v) else str(v))
    elif kind == "json":
        frame = _read_json(_decode(data), text_columns, limits)
    else:
        frame = _read_csv(_decode(data), text_columns, limits)
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


def _read_parquet(data: bytes, limits: TableLimits) -> pd.DataFrame:
    # Imported here: pyarrow loads only for a Parquet upload.
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(io.BytesIO(data))
        meta = parquet.metadata
        limits.check(meta.num_rows, meta.num_columns)
        declared = sum(
            meta.row_group(g).column(c).total_uncompressed_size
            for g in range(meta.num_row_groups)
            for c in range(meta.num_columns)
        )
        if declared > limits.decoded_bytes:
            raise PayloadTooLarge(ERR_DECODED.format(limit=limits.decoded_bytes))
        # Decode in small batches, counting rows and bytes: the metadata may understate them.
        batches, rows, size = [], 0, 0
        for batch in parquet.iter_batches(batch_size=4096):
            rows += batch.num_rows
            size += batch.nbytes
            limits.check(rows, batch.num_columns)
            if size > limits.decoded_bytes:
                raise PayloadTooLarge(ERR_DECODED.format(limit=limits.decoded_bytes))
            batches.append(batch)
        table = pa.Table.from_batches(batches, schema=parquet.schema_arrow)
        return table.to_pandas()
    except PayloadTooLarge:
        raise
    except Exception as exc:  # pyarrow raises many types for corrupt input
        raise InvalidInput(ERR_PARQUET.format(error=str(exc)[:200])) from None


def _check_fields(text: str, header: list[str], limits: TableLimits) -> None:
    """Every data row has exactly the header's fields (pandas would pad a short row with
    nulls silently), and there are not too many rows. Blank lines are skipped, as pandas does."""
    m = len(header)
    reader = csv.reader(io.StringIO(text))
    next(reader)
    row = -1
    try:
        for fields in reader:
            if not fields:
                continue
            row += 1
            if row >= limits.rows:
                raise PayloadTooLarge(ERR_ROWS.format(n=row + 1, limit=limits.rows))
            n = len(fields)
            if n < m:
                raise InvalidInput(
                    ERR_SHORT_ROW.format(row=row, column=header[n], n=n, m=m),
                    row=row,
                    column=header[n],
                )
            if n > m:
                raise InvalidInput(ERR_CSV.format(error=ERR_EXTRA_FIELDS.format(row=row, n=n, m=m)))
    except csv.Error as exc:
        raise InvalidInput(ERR_CSV.format(error=f"row {row + 1}: {exc}")) from None


def _read_csv(text: str, text_columns: tuple[str, ...], limits: TableLimits) -> pd.DataFrame:
    try:
        header = next(csv.reader(io.StringIO(text)))
    except (csv.Error, StopIteration) as exc:
        raise InvalidInput(ERR_CSV.format(error=exc)) from None
    if len(header) > limits.columns:
        raise PayloadTooLarge(ERR_COLUMNS.format(n=len(header), limit=limits.columns))
    seen: set[str] = set()
    for index, name in enumerate(header):
        if not name.strip():
            raise InvalidInput(ERR_EMPTY_HEADER.format(index=index))
        if name in seen:
            raise InvalidInput(ERR_DUP_HEADER.format(column=name), column=name)
        seen.add(name)
    if "\x00" in text:
        raise InvalidInput("the file contains NUL characters; it is not a text CSV")
    _check_fields(text, header, limits)
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
        raise InvalidInput(
            ERR_CSV.format(error="a data row has more fields than the header")
        ) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise InvalidInput(ERR_CSV.format(error=str(exc).strip()[:300])) from None


def _read_json(text: str, text_columns: tuple[str, ...], limits: TableLimits) -> pd.DataFrame:
    try:
        return _read_json_records(text, text_columns, limits)
    except RecursionError:
        raise InvalidInput(ERR_DEEP_JSON) from None


def _read_json_records(
    text: str, text_columns: tuple[str, ...], limits: TableLimits
) -> pd.DataFrame:
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
    if len(records) > limits.rows:
        raise PayloadTooLarge(ERR_ROWS.format(n=len(records), limit=limits.rows))
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
        if len(columns) > limits.columns:
            raise PayloadTooLarge(ERR_COLUMNS.format(n=len(columns), limit=limits.columns))
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
        if pd.api.types.is_unsigned_integer_dtype(series) and len(series):
            big = series.to_numpy() > INT64_MAX
            if big.any():
                row = int(np.flatnonzero(big)[0])
                raise InvalidInput(
                    ERR_INT_RANGE.format(row=row, column=col, value=int(series.iloc[row])),
                    row=row,
                    column=col,
                )
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
                rec[col] = value = value.item()
            if isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
                # JSON stores it, but no export (Parquet, pandas) could read it back.
                raise InvalidInput(
                    ERR_INT_RANGE.format(row=row, column=col, value=value), row=row, column=col
                )
            if not isinstance(value, str | int | float | bool | type(None)):
                rec[col] = str(value)
    return records
