"""Majority vote over binarised answers (an answer above the threshold is a positive vote)."""

from __future__ import annotations

from typing import Self

import numpy as np

from app.crowd._base import Aggregator, per_example_mean
from app.crowd._table import Codes


class MajorityVote(Aggregator):
    """Positive iff strictly more than half of the votes are positive.

    Each answer is binarised first (``value > threshold`` is a positive vote, Section 4.4's
    reading of the 1-4 scale). A **tie is negative**, mirroring the strict "larger than 2.5" of
    the mean rule (with an even number of votes the label needs a real majority).

    Fitted attributes: ``labels_``, ``answers_used_``, ``mean_scores_`` (the plain mean of the
    raw answers, for reference) and ``confidences_`` = the share of votes that agree with the
    label (0.5 for a tie, 1.0 for a unanimous vote).
    """

    def _fit_codes(self, codes: Codes) -> Self:
        count, _, mean = per_example_mean(codes)
        positive_votes = np.bincount(
            codes.example,
            weights=(codes.value > self.threshold).astype(np.float64),
            minlength=codes.n_examples,
        )
        positive = positive_votes > count - positive_votes
        agreeing = np.where(positive, positive_votes, count - positive_votes)
        self._store(codes, positive=positive, used=count, score=mean, confidence=agreeing / count)
        return self
