"""``aggregate``: the one entry point the service calls to turn answers into labels."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from app.crowd._base import RESULT_COLUMNS, Aggregator
from app.crowd._table import (
    DEFAULT_THRESHOLD,
    CrowdInputError,
    check_threshold,
    encode,
    first_n,
    validate_answers,
)
from app.crowd.dawid_skene import DawidSkene
from app.crowd.majority import MajorityVote
from app.crowd.mean import MeanAggregator
from app.crowd.peer import PeerWeightedMean
from app.crowd.weighted import WeightedMean

METHODS = ("mean", "majority", "weighted", "dawid_skene", "peer_weighted")
#: The default method, chosen by a rule fixed before any evaluation: among the methods that fit
#: no gold (so every gold item scores them honestly), the one with the highest accuracy on the
#: *gold* rows at N = 11, averaged over the five 20%-gold splits (seeds 0-4) of the COMPAS file
#: (trainer.datasets "compas-crowd"); the non-gold rows Table 6 reports were not looked at. Gold-row
#: accuracy: peer_weighted 0.716, mean 0.700 (benchmarks/choose_default_method.py).
DEFAULT_METHOD = "peer_weighted"
ERR_METHOD = "unknown aggregation method {method!r}; choose one of: " + ", ".join(METHODS)


def make_aggregator(
    method: str,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    worker_weights: Mapping[str, float] | None = None,
) -> Aggregator:
    """The (unfitted) aggregator for ``method``; ``worker_weights`` is used by ``weighted`` only."""
    if method == "mean":
        return MeanAggregator(threshold=threshold)
    if method == "majority":
        return MajorityVote(threshold=threshold)
    if method == "weighted":
        return WeightedMean(threshold=threshold, worker_weights=worker_weights)
    if method == "dawid_skene":
        return DawidSkene(threshold=threshold)
    if method == "peer_weighted":
        return PeerWeightedMean(threshold=threshold)
    raise CrowdInputError(ERR_METHOD.format(method=method))


def aggregate(
    answers: pd.DataFrame,
    *,
    method: str = "mean",
    n_max: int = 11,
    threshold: float = DEFAULT_THRESHOLD,
    worker_weights: Mapping[str, float] | None = None,
    exclude_workers: set[str] | None = None,
) -> pd.DataFrame:
    """Labels from crowd answers: the paper's procedure (Section 4.4) with a choice of rule.

    Answers of ``exclude_workers`` (filtered or blocked workers) are dropped first; then each
    example keeps its first ``n_max`` answers by ``submitted_at`` (ties keep input order), so "the
    number of answers per question can be fewer than N if inaccurate workers are filtered out";
    then ``method`` labels each example:

    * ``mean``: positive iff the mean answer > ``threshold`` (exactly the threshold is negative);
      confidence ``|mean - 2.5| / 1.5``.
    * ``majority``: positive iff more than half of the binarised votes are positive (a tie is
      negative); confidence = share of votes agreeing with the label.
    * ``weighted``: the mean rule on a ``worker_weights``-weighted mean (gold accuracies);
      confidence ``|weighted mean - 2.5| / 1.5``.
    * ``dawid_skene``: binary Dawid-Skene EM on the binarised votes; confidence = posterior of
      the chosen label.
    * ``peer_weighted``: the mean rule on a mean weighted by each worker's peer calibration
      (``app.crowd.peer``; the default for new projects); confidence as ``weighted``.

    Args:
        answers: long table ``example_id, worker_id, value[, submitted_at]``.
        method: one of ``mean``, ``majority``, ``weighted``, ``dawid_skene``.
        n_max: N, the most answers used per example (>= 1).
        threshold: the decision threshold on the 1-4 scale.
        worker_weights: worker id -> weight, for ``weighted``.
        exclude_workers: worker ids whose answers are left out (the answers are not modified).

    Returns:
        One row per example that has at least one usable answer, sorted by example id, with
        columns ``example_id``, ``label`` (+1 / -1, int), ``answers_used``, ``mean_score``
        (the score the rule compares; the plain mean for ``majority`` and ``dawid_skene``)
        and ``confidence`` in [0, 1]. Examples left with no answers are absent.

    Raises:
        CrowdInputError: bad answers table, method, N, threshold or weights.
    """
    threshold = check_threshold(threshold)
    aggregator = make_aggregator(method, threshold=threshold, worker_weights=worker_weights)
    selected = first_n(validate_answers(answers), n_max=n_max, exclude_workers=exclude_workers)
    if len(selected) == 0:
        return pd.DataFrame({c: pd.Series(dtype=_DTYPES[c]) for c in RESULT_COLUMNS})
    aggregator._fit_codes(encode(selected))
    return aggregator.result_frame()


_DTYPES = {
    "example_id": "object",
    "label": "int64",
    "answers_used": "int64",
    "mean_score": "float64",
    "confidence": "float64",
}
