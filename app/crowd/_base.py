"""Shared shape of the aggregators: ``fit(data) -> self`` with results in ``*_`` attributes."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Self

import numpy as np
import pandas as pd

from app.crowd._table import (
    DEFAULT_THRESHOLD,
    MAX_VALUE,
    MIN_VALUE,
    Codes,
    check_threshold,
    encode,
    validate_answers,
)

#: Columns of every aggregation result (see ``app.crowd.aggregate``).
RESULT_COLUMNS = ("example_id", "label", "answers_used", "mean_score", "confidence")


def scale_confidence(score: np.ndarray, threshold: float) -> np.ndarray:
    """Distance of a 1-4 score from the threshold, scaled to [0, 1] by the farthest possible score.

    With the paper's threshold 2.5 this is ``|score - 2.5| / 1.5``: 0 for a coin flip, 1 when
    every answer sits at the end of the scale (all 1s or all 4s).
    """
    reach = max(threshold - MIN_VALUE, MAX_VALUE - threshold)
    return np.asarray(np.abs(score - threshold) / reach, dtype=np.float64)


def posterior_positive(
    codes: Codes, prior: float, ratio: np.ndarray, cell: np.ndarray
) -> np.ndarray:
    """P(true label +1) per example under a worker model: the prior's log-odds plus, for each
    answer, the log-likelihood ratio (true + against true -) of its cell (``ratio[cell]``),
    through the logistic, written to stay finite for large differences."""
    log_odds = np.log(prior) - np.log1p(-prior)
    log_odds = log_odds + np.bincount(
        codes.example, weights=ratio[cell], minlength=codes.n_examples
    )
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * log_odds)), dtype=np.float64)


class Aggregator(ABC):
    """Base class. Subclasses implement ``_fit_codes`` and set the per-example arrays.

    Fitted attributes (all ``pd.Series`` indexed by example id):
        labels_: +1 / -1.
        answers_used_: number of answers the label is based on.
        mean_scores_: the score on the 1-4 scale (per-method meaning in each subclass).
        confidences_: in [0, 1] (per-method meaning in each subclass).
    """

    labels_: pd.Series
    answers_used_: pd.Series
    mean_scores_: pd.Series
    confidences_: pd.Series

    def __init__(self, *, threshold: float = DEFAULT_THRESHOLD) -> None:
        self.threshold = threshold

    def fit(self, data: pd.DataFrame) -> Self:
        """Fit on every row of the long table ``data`` (no N limit, no worker exclusion).

        Args:
            data: long table with columns ``example_id, worker_id, value[, submitted_at]``.

        Returns:
            self, with the fitted ``*_`` attributes set.
        """
        check_threshold(self.threshold)
        return self._fit_codes(encode(validate_answers(data)))

    @abstractmethod
    def _fit_codes(self, codes: Codes) -> Self:
        """Fit on integer-coded answers (already validated)."""

    def _store(
        self,
        codes: Codes,
        *,
        positive: np.ndarray,
        used: np.ndarray,
        score: np.ndarray,
        confidence: np.ndarray,
    ) -> None:
        index = codes.examples.rename("example_id")
        self.labels_ = pd.Series(np.where(positive, 1, -1).astype(np.int64), index=index)
        self.answers_used_ = pd.Series(used.astype(np.int64), index=index)
        self.mean_scores_ = pd.Series(score.astype(np.float64), index=index)
        self.confidences_ = pd.Series(confidence.astype(np.float64), index=index)

    def _store_posterior(
        self, codes: Codes, posterior: np.ndarray, *, used: np.ndarray, score: np.ndarray
    ) -> None:
        """Labels from P(+1) per example: +1 above one half; the confidence is the probability of
        the label given."""
        positive = posterior > 0.5
        self._store(
            codes,
            positive=positive,
            used=used,
            score=score,
            confidence=np.where(positive, posterior, 1.0 - posterior),
        )

    def result_frame(self) -> pd.DataFrame:
        """The fitted labels as the ``aggregate`` result table (one row per example)."""
        return pd.DataFrame(
            {
                "example_id": self.labels_.index.to_numpy(),
                "label": self.labels_.to_numpy(),
                "answers_used": self.answers_used_.to_numpy(),
                "mean_score": self.mean_scores_.to_numpy(),
                "confidence": self.confidences_.to_numpy(),
            }
        )


def per_example_mean(codes: Codes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-example (answer count, sum of answers, plain mean)."""
    count = np.bincount(codes.example, minlength=codes.n_examples).astype(np.float64)
    total = np.bincount(codes.example, weights=codes.value, minlength=codes.n_examples)
    return count, total, total / count
