"""Gold-accuracy-weighted mean of the answers, compared with the threshold."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Self

import numpy as np
import pandas as pd

from app.crowd._base import Aggregator, scale_confidence
from app.crowd._table import DEFAULT_THRESHOLD, Codes, CrowdInputError

ERR_WEIGHT = "worker_weights[{worker!r}] must be a finite number >= 0; got {weight!r}"


class WeightedMean(Aggregator):
    """Positive iff the weighted mean answer is strictly larger than ``threshold``.

    A variant of the paper's mean rule (Section 4.4) in which each worker's answer counts in
    proportion to a weight, normally the worker's gold accuracy (the ``accuracy`` column of
    ``score_workers``, a Beta posterior mean). Rules:

    * ``worker_weights=None``: every weight is 1 (the plain mean rule).
    * a worker missing from ``worker_weights`` gets the mean of the supplied weights, i.e. counts
      as an average worker rather than being silently dropped or over-weighted.
    * an example whose answers all have weight 0 falls back to the plain mean of its answers.
    * a weighted mean of exactly the threshold is negative, as in the mean rule.

    Fitted attributes: ``labels_``, ``answers_used_``, ``mean_scores_`` (the *weighted* mean, the
    score the label is decided on), ``confidences_`` = ``|weighted mean - threshold| / 1.5`` for the
    threshold 2.5, and ``weights_`` (per worker, as used).
    """

    weights_: pd.Series

    def __init__(
        self,
        *,
        threshold: float = DEFAULT_THRESHOLD,
        worker_weights: Mapping[str, float] | None = None,
    ) -> None:
        super().__init__(threshold=threshold)
        self.worker_weights = worker_weights

    def _resolve_weights(self, codes: Codes) -> np.ndarray:
        if self.worker_weights is None:
            return np.ones(codes.n_workers)
        checked: dict[object, float] = {}
        for worker, weight in self.worker_weights.items():
            try:
                value = float(weight)
            except (TypeError, ValueError):
                raise CrowdInputError(ERR_WEIGHT.format(worker=worker, weight=weight)) from None
            if not math.isfinite(value) or value < 0:
                raise CrowdInputError(ERR_WEIGHT.format(worker=worker, weight=weight))
            checked[worker] = value
        default = float(np.mean(list(checked.values()))) if checked else 1.0
        return np.array([checked.get(w, default) for w in codes.workers], dtype=np.float64)

    def _fit_codes(self, codes: Codes) -> Self:
        weights = self._resolve_weights(codes)
        w = weights[codes.worker]
        n = codes.n_examples
        count = np.bincount(codes.example, minlength=n).astype(np.float64)
        weight_sum = np.bincount(codes.example, weights=w, minlength=n)
        weighted_sum = np.bincount(codes.example, weights=w * codes.value, minlength=n)
        plain_sum = np.bincount(codes.example, weights=codes.value, minlength=n)
        zero = weight_sum <= 0
        score = np.where(zero, plain_sum / count, weighted_sum / np.where(zero, 1.0, weight_sum))
        self._store(
            codes,
            positive=score > self.threshold,
            used=count,
            score=score,
            confidence=scale_confidence(score, self.threshold),
        )
        self.weights_ = pd.Series(weights, index=codes.workers.rename("worker_id"))
        return self
