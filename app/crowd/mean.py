"""The paper's rule: the mean of the answers compared with the threshold 2.5 (Section 4.4)."""

from __future__ import annotations

from typing import Self

from app.crowd._base import Aggregator, per_example_mean, scale_confidence
from app.crowd._table import Codes


class MeanAggregator(Aggregator):
    """Positive iff the mean answer is strictly larger than ``threshold``.

    Section 4.4 of the paper: "take the average of at most a fixed number of N responses per
    question, and compare with the threshold 2.5". A mean of *exactly* the threshold (e.g. answers
    2 and 3) is **negative**: the rule asks for a mean larger than 2.5, so a tie does not qualify.
    The comparison is done on integers (``sum > threshold * count``) so no rounding can flip it.

    Fitted attributes: ``labels_``, ``answers_used_``, ``mean_scores_`` (the plain mean) and
    ``confidences_`` = ``|mean - threshold| / 1.5`` for the threshold 2.5 (the distance to the
    farthest end of the scale in general).
    """

    def _fit_codes(self, codes: Codes) -> Self:
        count, total, mean = per_example_mean(codes)
        self._store(
            codes,
            positive=total > self.threshold * count,
            used=count,
            score=mean,
            confidence=scale_confidence(mean, self.threshold),
        )
        return self
