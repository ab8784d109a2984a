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

The package is split by job: :mod:`.values` (errors, canonical values, reading tables),
:mod:`.encoder` (:class:`TableEncoder` and :func:`fit_encoder`), :mod:`.loading` (a table
becomes a split :class:`~trainer.data.base.Dataset`) and :mod:`.validation` (external
validation and test tables). Every public name is re-exported here.
"""

from __future__ import annotations

from trainer.data.tabular.encoder import (
    ColumnKind,
    ColumnSpec,
    TableEncoder,
    fit_encoder,
    infer_label_values,
)
from trainer.data.tabular.loading import ID_NAMES, build_dataset, guess_id_column, load_table
from trainer.data.tabular.validation import (
    EXPORT_EXTRA_COLUMNS,
    PREPARERS,
    encoder_of,
    read_validation,
    replace_validation,
)
from trainer.data.tabular.values import (
    MSG_EMPTY,
    MSG_FORMAT,
    MSG_LABEL_POSITIVE,
    MSG_LABEL_UNKNOWN,
    MSG_LABEL_VALUES,
    MSG_MISSING,
    MSG_MISSING_VALUES,
    MSG_NOT_NUMERIC,
    MSG_UNKNOWN_LEVEL,
    DataError,
    EmptyDataError,
    EncodingError,
    LabelError,
    MissingColumnError,
    Source,
    canon,
    read_table,
    require_columns,
)

__all__ = [
    "EXPORT_EXTRA_COLUMNS",
    "ID_NAMES",
    "MSG_EMPTY",
    "MSG_FORMAT",
    "MSG_LABEL_POSITIVE",
    "MSG_LABEL_UNKNOWN",
    "MSG_LABEL_VALUES",
    "MSG_MISSING",
    "MSG_MISSING_VALUES",
    "MSG_NOT_NUMERIC",
    "MSG_UNKNOWN_LEVEL",
    "PREPARERS",
    "ColumnKind",
    "ColumnSpec",
    "DataError",
    "EmptyDataError",
    "EncodingError",
    "LabelError",
    "MissingColumnError",
    "Source",
    "TableEncoder",
    "build_dataset",
    "canon",
    "encoder_of",
    "fit_encoder",
    "guess_id_column",
    "infer_label_values",
    "load_table",
    "read_table",
    "read_validation",
    "replace_validation",
    "require_columns",
]
