"""The long answer table: validation, integer encoding and the paper's "first N answers" selection.

Every aggregator and the worker-quality scorer read the same contract (crowd-kit style): a pandas
DataFrame with one row per answer and columns ``example_id``, ``worker_id``, ``value`` (an integer
on the paper's 1-4 scale, Section 4.4) and ``submitted_at`` (anything sortable; ties keep the input
order; when the column is absent the input order is the submission order).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

REQUIRED_COLUMNS = ("example_id", "worker_id", "value")
TIME_COLUMN = "submitted_at"
MIN_VALUE, MAX_VALUE = 1, 4
#: The paper's decision threshold on the 1-4 scale (Section 4.4): "compare with the threshold 2.5".
DEFAULT_THRESHOLD = 2.5

ERR_NOT_FRAME = (
    "answers must be a pandas DataFrame with columns example_id, worker_id, value[, submitted_at]; "
    "got {kind}"
)
ERR_MISSING_COLUMNS = (
    "answers is missing column(s) {missing}; expected example_id, worker_id, value[, submitted_at]"
)
ERR_EMPTY_CELL = "answers row {row}: column {column} is empty"
ERR_VALUE = "answers row {row}: value {value!r} is not an integer answer on the 1-4 scale"
ERR_UNSORTABLE_TIME = "answers column submitted_at cannot be sorted: {error}"
ERR_N_MAX = "n_max must be a positive integer; got {n_max!r}"
ERR_THRESHOLD = "threshold must lie strictly between 1 and 4 (the answer scale); got {threshold!r}"


class CrowdInputError(ValueError):
    """Bad input to an ``app.crowd`` function; the message names the row and column where it can."""


def check_threshold(threshold: float) -> float:
    """Validate a decision threshold on the 1-4 answer scale and return it as a float."""
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        raise CrowdInputError(ERR_THRESHOLD.format(threshold=threshold)) from None
    if not MIN_VALUE < value < MAX_VALUE:
        raise CrowdInputError(ERR_THRESHOLD.format(threshold=threshold))
    return value


def plain(value: object) -> object:
    """A numpy scalar as its Python value (messages then read ``2.5``, not ``np.float64(2.5)``)."""
    item = getattr(value, "item", None)
    return item() if callable(item) else value


def _first_bad(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def validate_answers(answers: object) -> pd.DataFrame:
    """Check the long-table contract and return ``answers`` with ``value`` as int64.

    Raises:
        CrowdInputError: not a DataFrame, a missing column, an empty cell, or a value that is not
            an integer in 1..4. Row numbers are 0-based positions in ``answers``.
    """
    if not isinstance(answers, pd.DataFrame):
        raise CrowdInputError(ERR_NOT_FRAME.format(kind=type(answers).__name__))
    missing = [c for c in REQUIRED_COLUMNS if c not in answers.columns]
    if missing:
        raise CrowdInputError(ERR_MISSING_COLUMNS.format(missing=", ".join(missing)))
    columns = [*REQUIRED_COLUMNS, *([TIME_COLUMN] if TIME_COLUMN in answers.columns else [])]
    for column in columns:
        null = answers[column].isna().to_numpy()
        if null.any():
            raise CrowdInputError(ERR_EMPTY_CELL.format(row=_first_bad(null), column=column))
    raw = answers["value"]
    numeric = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isin(numeric, np.arange(MIN_VALUE, MAX_VALUE + 1, dtype=np.float64))
    if bad.any():
        row = _first_bad(bad)
        raise CrowdInputError(ERR_VALUE.format(row=row, value=plain(raw.iloc[row])))
    out = answers.copy()
    out["value"] = numeric.astype(np.int64)
    return out


@dataclass(frozen=True)
class Codes:
    """Integer-coded answers (one entry per answer) ready for ``np.bincount`` arithmetic."""

    example: np.ndarray  # int64 code into ``examples``
    worker: np.ndarray  # int64 code into ``workers``
    value: np.ndarray  # float64 answer on the 1-4 scale
    examples: pd.Index
    workers: pd.Index

    @property
    def n_examples(self) -> int:
        return len(self.examples)

    @property
    def n_workers(self) -> int:
        return len(self.workers)


def _factorize(values: pd.Series) -> tuple[np.ndarray, pd.Index]:
    try:
        codes, uniques = pd.factorize(values, sort=True)
    except TypeError:  # mixed, unorderable ids: keep first-appearance order
        codes, uniques = pd.factorize(values, sort=False)
    return codes.astype(np.int64), pd.Index(uniques)


def encode(answers: pd.DataFrame) -> Codes:
    """Integer-code an already validated long table (all rows are used)."""
    example, examples = _factorize(answers["example_id"])
    worker, workers = _factorize(answers["worker_id"])
    return Codes(
        example=example,
        worker=worker,
        value=answers["value"].to_numpy(dtype=np.float64),
        examples=examples,
        workers=workers,
    )


def _time_key(frame: pd.DataFrame) -> np.ndarray:
    """A numeric array ordered like ``submitted_at`` (zeros, i.e. input order, when absent)."""
    if TIME_COLUMN not in frame.columns:
        return np.zeros(len(frame), dtype=np.int64)
    column = frame[TIME_COLUMN]
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        return np.asarray(pd.DatetimeIndex(column).asi8)  # tz-aware: instants, comparable
    if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype):
        return column.to_numpy()
    kind = pd.api.types.infer_dtype(column, skipna=False)
    if kind.startswith("mixed"):
        # pandas would sort numbers before strings without complaint; that order means nothing.
        raise CrowdInputError(ERR_UNSORTABLE_TIME.format(error=f"values of mixed types ({kind})"))
    try:
        return pd.factorize(column, sort=True)[0]
    except TypeError as error:
        raise CrowdInputError(ERR_UNSORTABLE_TIME.format(error=error)) from None


def first_n(
    answers: pd.DataFrame,
    *,
    n_max: int | None,
    exclude_workers: Iterable[object] | None = None,
) -> pd.DataFrame:
    """Keep, per example, the first ``n_max`` answers by ``submitted_at`` from non-excluded workers.

    This is the paper's selection (Section 4.4): "take the average of at most a fixed number of N
    responses per question"; excluded (filtered or blocked) workers are dropped *before* counting,
    so an example keeps up to N answers from the remaining workers. Ties in ``submitted_at`` keep
    the input order. ``answers`` must already be validated.
    """
    if n_max is not None and (
        isinstance(n_max, bool) or not isinstance(n_max, int | np.integer) or n_max < 1
    ):
        raise CrowdInputError(ERR_N_MAX.format(n_max=n_max))
    frame = answers
    if exclude_workers:
        frame = frame.loc[~frame["worker_id"].isin(list(exclude_workers))]
    if n_max is None or len(frame) == 0:
        return frame
    # Codes only group here (their order does not matter), so skip factorize's sort.
    example = pd.factorize(frame["example_id"])[0]
    if np.bincount(example).max() <= n_max:
        return frame  # no example has more than N answers: nothing to cut, no sort needed
    time = _time_key(frame)
    # Two stable sorts: by time, then by example; equal keys keep the input order.
    by_time = np.argsort(time, kind="stable")
    order = by_time[np.argsort(example[by_time], kind="stable")]
    sorted_example = example[order]
    starts = np.r_[True, sorted_example[1:] != sorted_example[:-1]]
    position = np.arange(len(frame))
    rank = position - np.maximum.accumulate(np.where(starts, position, 0))
    keep = np.sort(order[rank < n_max])
    return frame.iloc[keep]
