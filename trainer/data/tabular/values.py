"""Reading tables and comparing their values: the errors every loader raises (messages are
module constants so that tests compare them exactly), canonical value strings, CSV/Parquet
reading and column checks."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

Source = str | Path | pd.DataFrame

# Error messages are module constants so that tests can compare them exactly.
MSG_EMPTY = "{what} has no rows"
MSG_MISSING = "{what} is missing column(s) {cols}; it has {have}"
MSG_LABEL_VALUES = (
    "label column {col!r} has {n} distinct values {values}; expected two "
    "(+1/-1, 1/0, or two strings with positive_label set)"
)
MSG_LABEL_POSITIVE = (
    "label column {col!r} holds the strings {values}; say which one is positive with positive_label"
)
MSG_LABEL_UNKNOWN = (
    "label column {col!r}: value {value!r} in row(s) {rows} is neither {pos!r} nor {neg!r}"
)
MSG_MISSING_VALUES = "column {col!r} has missing values in row(s) {rows}"
MSG_UNKNOWN_LEVEL = (
    "column {col!r}: value {value!r} in row(s) {rows} was not seen when the encoder was fit "
    "(known: {known})"
)
MSG_NOT_NUMERIC = "numeric column {col!r} has non-numeric value {value!r} in row(s) {rows}"
MSG_FORMAT = "cannot read {path}: use a .csv or .parquet file"


class DataError(ValueError):
    """Base class of every data problem the loaders report."""


class EmptyDataError(DataError):
    """The file or table has no rows."""


class MissingColumnError(DataError):
    """A column named in the roles is not in the table."""


class LabelError(DataError):
    """The label column is not binary or its positive value is unknown."""


class EncodingError(DataError):
    """A value cannot be encoded (unknown category, missing or non-numeric value)."""


def _rows(mask: NDArray[np.bool_] | pd.Series, index: pd.Index | None = None, k: int = 5) -> str:
    """The first ``k`` offending row labels, for error messages."""
    m = np.asarray(mask)
    where = np.flatnonzero(m)
    labels = list(index[where[:k]]) if index is not None else list(where[:k])
    more = f" (+{len(where) - k} more)" if len(where) > k else ""
    return f"{labels}{more}"


def _canon_one(v: Any) -> Any:
    if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, bool | np.bool_):
        return "1" if v else "0"
    if isinstance(v, int | np.integer):
        return str(int(v))
    if isinstance(v, float | np.floating):
        return str(int(v)) if float(v).is_integer() else repr(float(v))
    return str(v).strip()


def canon(values: pd.Series) -> pd.Series:
    """Canonical string form of a column's values: stripped, integral floats without ``.0``.

    Why: a value must compare equal whether it came from a CSV (``"1"``), a Parquet float
    column (``1.0``) or a Python int (``1``). Missing values become ``None``.
    """
    s = values
    if pd.api.types.is_bool_dtype(s.dtype) or pd.api.types.is_object_dtype(s.dtype):
        out = [_canon_one(v) for v in s.tolist()]
        return pd.Series(out, index=s.index, dtype=object)
    if pd.api.types.is_numeric_dtype(s.dtype):
        arr = s.to_numpy(dtype=np.float64, na_value=np.nan)
        res = np.empty(len(arr), dtype=object)
        nan = np.isnan(arr)
        integral = np.isfinite(arr) & (arr == np.floor(np.where(np.isfinite(arr), arr, 0)))
        res[integral] = [str(int(x)) for x in arr[integral]]
        rest = ~nan & ~integral
        res[rest] = [repr(float(x)) for x in arr[rest]]
        res[nan] = None
        return pd.Series(res, index=s.index, dtype=object)
    # string dtypes: vectorised strip
    st = s.astype("string").str.strip()
    res = np.array([None if v is pd.NA else v for v in st.tolist()], dtype=object)
    return pd.Series(res, index=s.index, dtype=object)


def _numeric(col: pd.Series) -> pd.Series:
    """The column as floats, NaN where a value does not parse (skips parsing numeric dtypes)."""
    if pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
        return col.astype(np.float64)
    return pd.to_numeric(col, errors="coerce")


def read_table(source: Source, *, what: str | None = None) -> pd.DataFrame:
    """Read a CSV or Parquet file (or copy a DataFrame), refusing empty tables.

    Raises:
        EmptyDataError: the file or table has no rows.
        DataError: the file type is not CSV or Parquet, or the file does not exist.
    """
    if isinstance(source, pd.DataFrame):
        df = source.copy()
        what = what or "the table"
    else:
        path = Path(source)
        what = what or str(path)
        if not path.exists():
            raise DataError(f"{path} does not exist")
        suffix = path.suffix.lower()
        try:
            if suffix in (".csv", ".txt"):
                df = pd.read_csv(path)
            elif suffix in (".parquet", ".pq"):
                df = pd.read_parquet(path)
            else:
                raise DataError(MSG_FORMAT.format(path=path))
        except pd.errors.EmptyDataError as e:
            raise EmptyDataError(MSG_EMPTY.format(what=what)) from e
    if len(df) == 0:
        raise EmptyDataError(MSG_EMPTY.format(what=what))
    df.columns = [str(c).strip() for c in df.columns]
    return df


def require_columns(df: pd.DataFrame, cols: Sequence[str], what: str = "the table") -> None:
    """Raise :class:`MissingColumnError` naming every column of ``cols`` absent from ``df``."""
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise MissingColumnError(MSG_MISSING.format(what=what, cols=missing, have=list(df.columns)))
