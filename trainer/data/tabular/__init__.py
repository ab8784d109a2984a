"""Generic tabular loading: column roles, encoders fit on the training split, clear errors.

Every real data set (COMPAS, AdultCensus, a user's CSV or Parquet file) goes through the
same path (paper §4: "same preprocessing as AIF360"; docs/ALGORITHMS.md §2):

1. read a table and give its columns roles: id, features, sensitive attribute, label;
2. encode labels to ``{-1, +1}`` and the sensitive attribute to group codes ``0 .. G-1``;
3. split rows with a seeded split stratified on ``(y, z)`` (:mod:`trainer.data.splits`);
4. one-hot the categorical features (levels taken from the whole table, since the schema is
   not label information) and standardise the numeric ones with the mean and standard
   deviation of the *training split only*;
5. keep the fitted encoder, as a JSON-friendly dict in ``Dataset.info["encoder"]``, so that an
   external validation file (the crowdsourced set) is encoded into exactly the same columns
   (:func:`replace_validation`).

Every input problem raises a :class:`DataError` (a ``ValueError``) whose message names the
column and, where it applies, the first offending rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from trainer.data.base import Dataset, Split
from trainer.data.splits import stratified_split

ColumnKind = Literal["numeric", "categorical", "binary"]
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


@dataclass
class ColumnSpec:
    """How one raw feature column becomes encoded columns."""

    name: str
    kind: ColumnKind
    #: categorical: the one-hot levels, in output order.
    levels: list[str] = field(default_factory=list)
    #: binary: the value encoded as 1 (every other value is 0), e.g. race "Caucasian".
    positive: str | None = None
    #: numeric: (x - mean) / scale, with mean 0 and scale 1 when scaling is off.
    mean: float = 0.0
    scale: float = 1.0

    def output_names(self) -> list[str]:
        if self.kind == "categorical":
            return [f"{self.name}={lv}" for lv in self.levels]
        return [self.name]


@dataclass
class TableEncoder:
    """Column roles plus fitted encodings; turns a raw table into a :class:`Split`.

    Labels: ``+1`` for ``positive_label`` and ``-1`` for ``negative_label``. A column whose
    values are all in ``{-1, 1}`` is always read as ``±1`` (the service's export format), and
    when the encoder was fit on numeric ``0/1`` labels, ``0`` also reads as negative.

    Sensitive attribute: with ``privileged`` set, ``z = 1`` for that value and ``0`` for every
    other; otherwise ``groups[k]`` gets code ``k`` (multi-valued attributes, codes ``0..G-1``).
    """

    features: list[ColumnSpec]
    sensitive: str
    groups: list[str]
    privileged: str | None
    label: str
    positive_label: str
    negative_label: str
    id_column: str | None = None

    @property
    def feature_names(self) -> list[str]:
        return [n for spec in self.features for n in spec.output_names()]

    @property
    def group_names(self) -> dict[int, str]:
        if self.privileged is not None:
            others = [g for g in self.groups if g != self.privileged]
            zero = others[0] if len(others) == 1 else f"not {self.privileged}"
            return {0: zero, 1: self.privileged}
        return dict(enumerate(self.groups))

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form, stored in ``Dataset.info["encoder"]``."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TableEncoder:
        feats = [ColumnSpec(**f) for f in d["features"]]
        return cls(**{**d, "features": feats})

    # -- transforms ----------------------------------------------------------------------
    def transform_features(self, df: pd.DataFrame, what: str = "the table") -> NDArray[np.float32]:
        """Encoded feature matrix, columns in :attr:`feature_names` order."""
        require_columns(df, [s.name for s in self.features], what)
        blocks: list[NDArray[np.float64]] = []
        for spec in self.features:
            col = df[spec.name]
            if spec.kind == "numeric":
                num = _numeric(col)
                bad = num.isna() & col.notna()
                if bad.any():
                    v = col[bad].iloc[0]
                    raise EncodingError(
                        MSG_NOT_NUMERIC.format(col=spec.name, value=v, rows=_rows(bad, df.index))
                    )
                if num.isna().any():
                    raise EncodingError(
                        MSG_MISSING_VALUES.format(col=spec.name, rows=_rows(num.isna(), df.index))
                    )
                arr = num.to_numpy(dtype=np.float64)
                blocks.append(((arr - spec.mean) / spec.scale)[:, None])
                continue
            c = canon(col)
            if c.isna().any():
                raise EncodingError(
                    MSG_MISSING_VALUES.format(col=spec.name, rows=_rows(c.isna(), df.index))
                )
            if spec.kind == "binary":
                blocks.append(np.asarray(c == spec.positive, dtype=np.float64)[:, None])
                continue
            known = pd.Index(spec.levels)
            pos = known.get_indexer(pd.Index(c))
            if (pos < 0).any():
                bad_mask = pos < 0
                v = c[bad_mask].iloc[0]
                raise EncodingError(
                    MSG_UNKNOWN_LEVEL.format(
                        col=spec.name, value=v, rows=_rows(bad_mask, df.index), known=spec.levels
                    )
                )
            onehot = np.zeros((len(df), len(spec.levels)))
            onehot[np.arange(len(df)), pos] = 1.0
            blocks.append(onehot)
        if not blocks:
            return np.zeros((len(df), 0), dtype=np.float32)
        return np.hstack(blocks).astype(np.float32)

    def transform_sensitive(self, df: pd.DataFrame, what: str = "the table") -> NDArray[np.int64]:
        """Group codes ``0..G-1`` (or ``1`` = privileged, ``0`` = the rest)."""
        require_columns(df, [self.sensitive], what)
        c = canon(df[self.sensitive])
        if c.isna().any():
            raise EncodingError(
                MSG_MISSING_VALUES.format(col=self.sensitive, rows=_rows(c.isna(), df.index))
            )
        if self.privileged is not None:
            return np.asarray(c == self.privileged, dtype=np.int64)
        pos = pd.Index(self.groups).get_indexer(pd.Index(c))
        if (pos < 0).any():
            bad = pos < 0
            raise EncodingError(
                MSG_UNKNOWN_LEVEL.format(
                    col=self.sensitive,
                    value=c[bad].iloc[0],
                    rows=_rows(bad, df.index),
                    known=self.groups,
                )
            )
        return pos.astype(np.int64)

    def transform_labels(
        self, df: pd.DataFrame, column: str | None = None, what: str = "the table"
    ) -> NDArray[np.int8]:
        """Labels in ``{-1, +1}`` from the label column (or ``column``)."""
        col = column or self.label
        require_columns(df, [col], what)
        c = canon(df[col])
        if c.isna().any():
            raise LabelError(MSG_MISSING_VALUES.format(col=col, rows=_rows(c.isna(), df.index)))
        values = set(c.unique())
        if values <= {"-1", "1"}:
            return np.where(c == "1", 1, -1).astype(np.int8)
        pos, neg = self.positive_label, self.negative_label
        negatives = {neg}
        if pos == "1" and neg == "0":
            negatives = {"0"}  # {0, 1} read here; {-1, 1} was handled above
        bad = ~c.isin([pos, *negatives])
        if bad.any():
            raise LabelError(
                MSG_LABEL_UNKNOWN.format(
                    col=col, value=c[bad].iloc[0], rows=_rows(bad, df.index), pos=pos, neg=neg
                )
            )
        return np.where(c == pos, 1, -1).astype(np.int8)

    def transform(
        self,
        df: pd.DataFrame,
        *,
        label_column: str | None = None,
        id_column: str | None = None,
        what: str = "the table",
    ) -> Split:
        """Encode a whole table into a :class:`Split` (ids from ``id_column`` or the index)."""
        idc = id_column if id_column is not None else self.id_column
        ids = df[idc].to_numpy() if idc is not None and idc in df.columns else df.index.to_numpy()
        return Split(
            X=self.transform_features(df, what),
            y=self.transform_labels(df, label_column, what),
            z=self.transform_sensitive(df, what),
            ids=ids,
        )


def infer_label_values(
    values: pd.Series, column: str, positive_label: Any = None
) -> tuple[str, str]:
    """``(positive, negative)`` canonical label values of a binary label column.

    Accepts ``±1``, ``0/1`` (``1`` positive) or two distinct strings with ``positive_label``.

    Raises:
        LabelError: more or fewer than two values, or strings without ``positive_label``.
    """
    c = canon(values)
    if c.isna().any():
        raise LabelError(MSG_MISSING_VALUES.format(col=column, rows=_rows(c.isna(), values.index)))
    uniq = sorted(c.unique())
    if positive_label is not None:
        pos = canon(pd.Series([positive_label])).iloc[0]
        others = [u for u in uniq if u != pos]
        if pos not in uniq and len(uniq) == 2:
            raise LabelError(
                f"label column {column!r}: positive_label {positive_label!r} is not among its "
                f"values {uniq}"
            )
        if len(others) > 1 or len(uniq) > 2:
            raise LabelError(MSG_LABEL_VALUES.format(col=column, n=len(uniq), values=uniq))
        neg = others[0] if others else ("-1" if pos == "1" else f"not {pos}")
        return pos, neg
    if set(uniq) <= {"-1", "1"}:
        return "1", "-1"
    if set(uniq) <= {"0", "1"}:
        return "1", "0"
    if len(uniq) != 2:
        raise LabelError(MSG_LABEL_VALUES.format(col=column, n=len(uniq), values=uniq))
    raise LabelError(MSG_LABEL_POSITIVE.format(col=column, values=uniq))


def fit_encoder(
    df: pd.DataFrame,
    train_index: NDArray[np.int64],
    *,
    features: Sequence[str],
    sensitive: str,
    label: str,
    categorical: Sequence[str] = (),
    binary: dict[str, Any] | None = None,
    positive_label: Any = None,
    privileged: Any = None,
    groups: Sequence[str] | None = None,
    scale: bool = True,
    id_column: str | None = None,
) -> TableEncoder:
    """Fit a :class:`TableEncoder`: levels over all rows, numeric scaling on ``train_index``.

    Columns not listed in ``categorical`` or ``binary`` are numeric if every value parses as a
    number, categorical otherwise.
    """
    binary = dict(binary or {})
    specs: list[ColumnSpec] = []
    for name in features:
        col = df[name]
        if name in binary:
            specs.append(
                ColumnSpec(name, "binary", positive=canon(pd.Series([binary[name]])).iloc[0])
            )
            continue
        is_numeric = False
        if name not in categorical:
            num = _numeric(col)
            is_numeric = not (num.isna() & col.notna()).any()
        if is_numeric:
            mean, sd = 0.0, 1.0
            if scale:
                tr = num.to_numpy(dtype=np.float64)[train_index]
                mean = float(np.nanmean(tr)) if len(tr) else 0.0
                sd = float(np.nanstd(tr)) if len(tr) else 1.0
                # A constant column would divide by zero; leave it centred but unscaled.
                sd = sd if sd > 0 else 1.0
            specs.append(ColumnSpec(name, "numeric", mean=mean, scale=sd))
        else:
            c = canon(col)
            if c.isna().any():
                raise EncodingError(
                    MSG_MISSING_VALUES.format(col=name, rows=_rows(c.isna(), df.index))
                )
            specs.append(ColumnSpec(name, "categorical", levels=sorted(c.unique())))
    pos, neg = infer_label_values(df[label], label, positive_label)
    zc = canon(df[sensitive])
    if zc.isna().any():
        raise EncodingError(
            MSG_MISSING_VALUES.format(col=sensitive, rows=_rows(zc.isna(), df.index))
        )
    present = sorted(zc.unique())
    priv = None if privileged is None else canon(pd.Series([privileged])).iloc[0]
    if priv is not None and priv not in present:
        raise DataError(
            f"sensitive column {sensitive!r}: privileged value {privileged!r} "
            f"is not among {present}"
        )
    if groups is not None:
        group_list = [canon(pd.Series([g])).iloc[0] for g in groups]
        unknown = sorted(set(present) - set(group_list))
        if unknown:
            raise DataError(f"sensitive column {sensitive!r} has values {unknown} not in groups")
    else:
        group_list = present
    return TableEncoder(
        features=specs,
        sensitive=sensitive,
        groups=group_list,
        privileged=priv,
        label=label,
        positive_label=pos,
        negative_label=neg,
        id_column=id_column,
    )


def build_dataset(
    df: pd.DataFrame,
    *,
    name: str,
    features: Sequence[str],
    sensitive: str,
    label: str,
    id_column: str | None = None,
    categorical: Sequence[str] = (),
    binary: dict[str, Any] | None = None,
    positive_label: Any = None,
    privileged: Any = None,
    groups: Sequence[str] | None = None,
    scale: bool = True,
    test_size: float = 0.3,
    val_size: float = 0.05,
    seed: int = 0,
    info: dict[str, Any] | None = None,
    what: str = "the table",
) -> Dataset:
    """Encode a cleaned table and split it into a :class:`Dataset` (the shared loader path).

    Args:
        df: one row per example; the columns named below must exist.
        test_size: fraction of all rows in the test split.
        val_size: size of the validation split relative to the training split
            (paper §4.2: a clean validation set of 5% of D_tr).
        seed: seed of the stratified split (stratified on ``(y, z)``).
    """
    if len(df) == 0:
        raise EmptyDataError(MSG_EMPTY.format(what=what))
    roles = [c for c in [id_column, sensitive, label] if c is not None]
    require_columns(df, [*roles, *features], what)
    overlap = {sensitive, label} & set(features)
    if overlap:
        raise DataError(f"column(s) {sorted(overlap)} cannot be both a feature and a role")
    df = df.reset_index(drop=True)
    # Labels and groups first: the split is stratified on them.
    pos, _ = infer_label_values(df[label], label, positive_label)
    y_all = np.where(canon(df[label]) == pos, 1, -1).astype(np.int8)
    zc = canon(df[sensitive])
    z_codes = pd.factorize(zc)[0].astype(np.int64)
    tr, va, te = stratified_split(y_all, z_codes, test_size=test_size, val_size=val_size, seed=seed)
    enc = fit_encoder(
        df,
        tr,
        features=features,
        sensitive=sensitive,
        label=label,
        categorical=categorical,
        binary=binary,
        positive_label=positive_label,
        privileged=privileged,
        groups=groups,
        scale=scale,
        id_column=id_column,
    )
    splits = [enc.transform(df.iloc[idx], what=what) for idx in (tr, va, te)]
    meta = {
        "n_rows": len(df),
        "seed": seed,
        "test_size": test_size,
        "val_size": val_size,
        "encoder": enc.to_dict(),
        **(info or {}),
    }
    return Dataset(
        name=name,
        train=splits[0],
        val=splits[1],
        test=splits[2],
        feature_names=enc.feature_names,
        sensitive_name=sensitive,
        group_names=enc.group_names,
        info=meta,
    )


def load_table(
    source: Source,
    *,
    label: str,
    sensitive: str,
    features: Sequence[str] | None = None,
    id_column: str | None = None,
    categorical: Sequence[str] = (),
    positive_label: Any = None,
    privileged: Any = None,
    scale: bool = True,
    test_size: float = 0.3,
    val_size: float = 0.05,
    seed: int = 0,
    name: str | None = None,
) -> Dataset:
    """Load a user's CSV or Parquet file with column roles (id, features, sensitive, label).

    Categorical features (strings, or those listed in ``categorical``) are one-hot encoded;
    numeric ones are standardised with statistics of the training split only. Labels may be
    ``±1``, ``0/1`` or two strings with ``positive_label``. With ``privileged`` set, the
    sensitive attribute is binary (``z = 1`` for that value); otherwise every value is a group
    with codes ``0..G-1`` in sorted order.

    Args:
        features: feature columns; default every column that has no role (an id column,
            named or found by :func:`guess_id_column`, is never a feature).

    Raises:
        EmptyDataError, MissingColumnError, LabelError, EncodingError: see their docstrings.
    """
    what = str(source) if not isinstance(source, pd.DataFrame) else "the table"
    df = read_table(source, what=what)
    if features is None:
        if id_column is None:
            id_column = guess_id_column(df, exclude=(label, sensitive))
        roles = {label, sensitive, id_column}
        features = [c for c in df.columns if c not in roles]
    return build_dataset(
        df,
        name=name or (Path(source).stem if not isinstance(source, pd.DataFrame) else "table"),
        features=list(features),
        sensitive=sensitive,
        label=label,
        id_column=id_column,
        categorical=categorical,
        positive_label=positive_label,
        privileged=privileged,
        scale=scale,
        test_size=test_size,
        val_size=val_size,
        seed=seed,
        info={"source": what, "loader": "table"},
        what=what,
    )


#: Column names read as row identifiers (never features) when no id column is named.
ID_NAMES = ("id", "example_id", "example_idx", "row_id", "uuid")


def guess_id_column(df: pd.DataFrame, exclude: Sequence[str] = ()) -> str | None:
    """The table's id column when none was named: one called like an id (``ID_NAMES``), or
    a non-numeric column with a different value in every row (one-hot encoding it would
    add a column per row). None when there is no such column."""
    cols = [c for c in df.columns if c not in exclude]
    for c in cols:
        if str(c).strip().lower() in ID_NAMES:
            return str(c)
    if len(df) > 1:
        for c in cols:
            num = _numeric(df[c])
            if (num.isna() & df[c].notna()).any() and df[c].nunique(dropna=False) == len(df):
                return str(c)
    return None


#: Functions that map an external table into a data set's raw schema, keyed by
#: ``Dataset.info["prepare"]`` (e.g. COMPAS accepts the crowd CSV's readable columns).
PREPARERS: dict[str, Callable[[pd.DataFrame], pd.DataFrame]] = {}

#: Columns of the service's export format besides the features and the sensitive attribute.
EXPORT_EXTRA_COLUMNS = ("answers_used", "mean_score", "confidence", "is_gold")


def encoder_of(dataset: Dataset) -> TableEncoder:
    """The fitted encoder a table loader stored in ``dataset.info``."""
    d = dataset.info.get("encoder")
    if d is None:
        raise DataError(f"data set {dataset.name!r} carries no fitted encoder")
    return TableEncoder.from_dict(d)


def read_validation(
    dataset: Dataset,
    source: Source,
    *,
    label_column: str | None = None,
    id_column: str | None = None,
) -> tuple[Split, pd.DataFrame]:
    """Encode an external validation table with ``dataset``'s fitted encoders.

    The table holds the data set's raw feature columns, its sensitive attribute column and a
    label column: ``label`` (``+1/-1``) if present, as in the service's export, else the data
    set's own label column. The export's columns are ``example_id``, the features, the
    sensitive attribute, ``label``, ``answers_used``, ``mean_score``, ``confidence`` and
    ``is_gold``; columns that are not features, sensitive attribute, label or id are returned
    as extras.

    Returns:
        The encoded split (ids from ``example_id`` when present) and the table's remaining
        columns (e.g. ``confidence``, ``is_gold``) aligned with its rows.
    """
    what = str(source) if not isinstance(source, pd.DataFrame) else "the validation table"
    df = read_table(source, what=what)
    enc = encoder_of(dataset)
    prep = dataset.info.get("prepare")
    if prep:
        df = PREPARERS[prep](df)
    if label_column is None:
        # The export's ``label`` (the crowd's answer) wins over a raw label column.
        label_column = "label" if "label" in df.columns else enc.label
    if id_column is None:
        # example_idx: the id column of the authors' released crowd CSV
        candidates = ("example_id", "example_idx", enc.id_column)
        id_column = next((c for c in candidates if c and c in df.columns), None)
    split = enc.transform(df, label_column=label_column, id_column=id_column, what=what)
    if split.X.shape[1] != dataset.n_features:
        raise DataError(
            f"{what}: encoded {split.X.shape[1]} features, data set has {dataset.n_features}"
        )
    used = {*(s.name for s in enc.features), enc.sensitive, label_column, id_column}
    extras = df[[c for c in df.columns if c not in used]].reset_index(drop=True)
    return split, extras


def replace_validation(
    dataset: Dataset,
    source: Source,
    *,
    label_column: str | None = None,
    id_column: str | None = None,
) -> Dataset:
    """A copy of ``dataset`` whose validation split is read from an external file.

    This is how the crowdsourced validation set arrives (paper §4.2): the file is encoded with
    the data set's fitted one-hot levels and scaler, so its columns align with the training
    split. Train and test are untouched. See :func:`read_validation` for the accepted schema.
    """
    split, extras = read_validation(dataset, source, label_column=label_column, id_column=id_column)
    info = dict(dataset.info)
    info["validation_source"] = str(source) if not isinstance(source, pd.DataFrame) else "table"
    info["validation_extra_columns"] = list(extras.columns)
    return replace(dataset, val=split, info=info)
