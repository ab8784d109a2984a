"""The released FR-Train crowd CSV ("wide" format) to the long answer table.

The release (Section 4.4; ``COMPAS_crowdsourcing_data.csv``) has one row per example with columns
``example_idx`` (``example_id`` is accepted too), ``true_label`` (optional here), answer columns
``ans_1..ans_K``, worker columns ``worker_id_1..worker_id_K`` and the features shown to workers:
every other column. The release has no submission times, so the answer position ``k`` is the
``submitted_at`` of ``ans_k``: "the first N answers" are ``ans_1..ans_N``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from app.crowd._table import MAX_VALUE, MIN_VALUE, CrowdInputError, plain

ID_COLUMNS = ("example_idx", "example_id")
LABEL_COLUMN = "true_label"
_ANSWER = re.compile(r"^ans_(\d+)$")
_WORKER = re.compile(r"^worker_id_(\d+)$")

ERR_NOT_FRAME = "the wide crowd table must be a pandas DataFrame; got {kind}"
ERR_NO_ID = "the wide crowd table needs an example id column (example_idx or example_id)"
ERR_TWO_IDS = "the wide crowd table has both example_idx and example_id; keep one id column"
ERR_NO_ANSWERS = (
    "the wide crowd table has no answer columns (ans_1..ans_K with worker_id_1..worker_id_K)"
)
ERR_UNPAIRED = "answer and worker columns must pair up: {detail}"
ERR_EMPTY_ID = "row {row}: column {column} is empty"
ERR_DUPLICATE_ID = "row {row}: duplicate example id {example!r} in column {column}"
ERR_ANSWER_VALUE = (
    "row {row}: column {column} has {value!r}, not an integer answer on the 1-4 scale"
)
ERR_WORKER_WITHOUT_ANSWER = "row {row}: column {column} names a worker but {answer} is empty"
ERR_ANSWER_WITHOUT_WORKER = "row {row}: column {column} has an answer but {worker} is empty"
ERR_LABEL = "row {row}: column true_label has {value!r}; labels must be +1 or -1"


@dataclass(frozen=True)
class WideCrowdTable:
    """A parsed wide crowd table.

    Attributes:
        answers: the long table ``example_id, worker_id, value, submitted_at`` (``submitted_at``
            = answer position k, 1-based).
        examples: one row per example: ``example_id``, the feature columns in file order, and
            ``true_label`` (int +1/-1) when the file has it.
        feature_columns: names of the feature columns.
        n_answer_columns: K.
    """

    answers: pd.DataFrame
    examples: pd.DataFrame
    feature_columns: list[str]
    n_answer_columns: int

    @property
    def true_labels(self) -> pd.Series | None:
        """``true_label`` indexed by example id, or ``None`` when the file has no labels."""
        if LABEL_COLUMN not in self.examples.columns:
            return None
        return pd.Series(
            self.examples[LABEL_COLUMN].to_numpy(),
            index=pd.Index(self.examples["example_id"].to_numpy(), name="example_id"),
            name=LABEL_COLUMN,
        )


def _positions(columns: list[str], pattern: re.Pattern[str]) -> dict[int, str]:
    found: dict[int, str] = {}
    for column in columns:
        match = pattern.match(column)
        if match:
            found[int(match.group(1))] = column
    return found


def parse_wide(table: pd.DataFrame) -> WideCrowdTable:
    """Parse the released wide format (see the module docstring).

    Args:
        table: the CSV as read by ``pandas.read_csv``.

    Raises:
        CrowdInputError: a missing or duplicated id, unpaired ``ans_k``/``worker_id_k`` columns,
            an answer outside 1..4, an answer without its worker (or the reverse) or a label
            other than +1/-1. Rows are 0-based data rows (the header is not counted).
    """
    if not isinstance(table, pd.DataFrame):
        raise CrowdInputError(ERR_NOT_FRAME.format(kind=type(table).__name__))
    columns = [str(c) for c in table.columns]
    table = table.set_axis(columns, axis=1)
    ids = [c for c in ID_COLUMNS if c in columns]
    if not ids:
        raise CrowdInputError(ERR_NO_ID)
    if len(ids) > 1:
        raise CrowdInputError(ERR_TWO_IDS)
    id_column = ids[0]
    answer_cols = _positions(columns, _ANSWER)
    worker_cols = _positions(columns, _WORKER)
    if not answer_cols and not worker_cols:
        raise CrowdInputError(ERR_NO_ANSWERS)
    if set(answer_cols) != set(worker_cols):
        only_answers = sorted(answer_cols.keys() - worker_cols.keys())
        only_workers = sorted(worker_cols.keys() - answer_cols.keys())
        detail = "; ".join(
            part
            for part in (
                f"no worker_id_k for k = {only_answers}" if only_answers else "",
                f"no ans_k for k = {only_workers}" if only_workers else "",
            )
            if part
        )
        raise CrowdInputError(ERR_UNPAIRED.format(detail=detail))
    ks = sorted(answer_cols)

    id_values = table[id_column]
    null_id = id_values.isna().to_numpy()
    if null_id.any():
        row = int(np.flatnonzero(null_id)[0])
        raise CrowdInputError(ERR_EMPTY_ID.format(row=row, column=id_column))
    duplicated = id_values.duplicated().to_numpy()
    if duplicated.any():
        row = int(np.flatnonzero(duplicated)[0])
        raise CrowdInputError(
            ERR_DUPLICATE_ID.format(row=row, example=plain(id_values.iloc[row]), column=id_column)
        )

    raw_answers = table[[answer_cols[k] for k in ks]]
    values = raw_answers.apply(pd.to_numeric, errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan
    )
    raw_missing = raw_answers.isna().to_numpy()
    bad = ~raw_missing & ~np.isin(values, np.arange(MIN_VALUE, MAX_VALUE + 1, dtype=np.float64))
    if bad.any():
        row, col = (int(x[0]) for x in np.nonzero(bad))
        raise CrowdInputError(
            ERR_ANSWER_VALUE.format(
                row=row, column=answer_cols[ks[col]], value=plain(raw_answers.iat[row, col])
            )
        )
    worker_missing = table[[worker_cols[k] for k in ks]].isna().to_numpy()
    for mask, message in (
        (raw_missing & ~worker_missing, ERR_WORKER_WITHOUT_ANSWER),
        (~raw_missing & worker_missing, ERR_ANSWER_WITHOUT_WORKER),
    ):
        if mask.any():
            row, col = (int(x[0]) for x in np.nonzero(mask))
            k = ks[col]
            column = worker_cols[k] if message is ERR_WORKER_WITHOUT_ANSWER else answer_cols[k]
            raise CrowdInputError(
                message.format(row=row, column=column, answer=answer_cols[k], worker=worker_cols[k])
            )

    n_rows, n_k = values.shape
    # Row-major ravel puts each example's answers together, in answer-position order.
    present = ~raw_missing.ravel()
    workers = table[[worker_cols[k] for k in ks]].astype(str).to_numpy(dtype=object).ravel()
    answers = pd.DataFrame(
        {
            "example_id": np.repeat(id_values.to_numpy(), n_k)[present],
            "worker_id": workers[present],
            "value": values.ravel()[present].astype(np.int64),
            "submitted_at": np.tile(np.asarray(ks, dtype=np.int64), n_rows)[present],
        }
    )

    reserved = {id_column, LABEL_COLUMN, *answer_cols.values(), *worker_cols.values()}
    features = [c for c in columns if c not in reserved]
    examples = table[features].copy()
    examples.insert(0, "example_id", id_values.to_numpy())
    if LABEL_COLUMN in columns:
        labels = pd.to_numeric(table[LABEL_COLUMN], errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan
        )
        bad_label = ~np.isin(labels, (1.0, -1.0))
        if bad_label.any():
            row = int(np.flatnonzero(bad_label)[0])
            raise CrowdInputError(
                ERR_LABEL.format(row=row, value=plain(table[LABEL_COLUMN].iloc[row]))
            )
        examples[LABEL_COLUMN] = labels.astype(np.int64)
    return WideCrowdTable(
        answers=answers,
        examples=examples.reset_index(drop=True),
        feature_columns=features,
        n_answer_columns=len(ks),
    )


def wide_to_long(table: pd.DataFrame) -> pd.DataFrame:
    """Just the long answer table of a wide crowd table (see ``parse_wide``)."""
    return parse_wide(table).answers
