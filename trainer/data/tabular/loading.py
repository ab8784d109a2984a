"""A table becomes a split, encoded :class:`~trainer.data.base.Dataset`: roles, the seeded
stratified split, the encoder fitted on the training split."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trainer.data.base import Dataset
from trainer.data.splits import stratified_split
from trainer.data.tabular.encoder import fit_encoder, infer_label_values
from trainer.data.tabular.values import (
    MSG_EMPTY,
    DataError,
    EmptyDataError,
    Source,
    _numeric,
    canon,
    read_table,
    require_columns,
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
