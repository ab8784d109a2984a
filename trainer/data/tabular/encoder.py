"""Column roles plus fitted encodings (one-hot levels, numeric scaling, label and group
codes): :class:`TableEncoder`, fitted by :func:`fit_encoder` on the training split."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from trainer.data.base import Split
from trainer.data.tabular.values import (
    MSG_LABEL_POSITIVE,
    MSG_LABEL_UNKNOWN,
    MSG_LABEL_VALUES,
    MSG_MISSING_VALUES,
    MSG_NOT_NUMERIC,
    MSG_UNKNOWN_LEVEL,
    DataError,
    EncodingError,
    LabelError,
    _numeric,
    _rows,
    canon,
    require_columns,
)

ColumnKind = Literal["numeric", "categorical", "binary"]


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
