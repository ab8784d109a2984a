"""An external validation (or test) table encoded with a data set's fitted encoder: how the
crowdsourced validation set arrives (paper §4.2)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pandas as pd

from trainer.data.base import Dataset, Split
from trainer.data.tabular.encoder import TableEncoder
from trainer.data.tabular.values import DataError, Source, read_table

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
