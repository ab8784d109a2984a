"""Per-worker calibrated mean: each worker's answers standardised by their own mean and spread.

The paper's mean rule (Section 4.4) reads a 3 from a worker who answers 3 to everything the same
as a 3 from a worker who mostly answers 1. This method removes each worker's own offset and
scale before averaging, without gold:

* per worker ``j``: mean ``mu_j`` and standard deviation ``sd_j`` of all of their answers,
  shrunk towards the crowd's ``mu`` / ``sd`` with ``shrink`` pseudo-answers
  (``mu_j' = (n_j mu_j + shrink mu) / (n_j + shrink)``, the same for the variance), so a worker
  with few answers, or one who always gives the same answer, is read close to the crowd's scale;
* each answer becomes ``z = (a - mu_j') / sd_j'``; an example's score is mapped back onto the
  1-4 scale as ``mu + sd * mean(z)`` and is positive iff strictly above ``threshold`` (as the mean
  rule); confidence ``|score - 2.5| / 1.5`` clipped to [0, 1].

With a single worker, or when every worker uses the scale as the crowd does, the score is the
plain mean. Pure code, no I/O.
"""

from __future__ import annotations

from typing import Self

import numpy as np
import pandas as pd

from app.crowd._base import Aggregator, scale_confidence
from app.crowd._table import DEFAULT_THRESHOLD, Codes

DEFAULT_SHRINK = 5.0


def worker_scales(codes: Codes, *, shrink: float = DEFAULT_SHRINK) -> tuple[np.ndarray, ...]:
    """Shrunk per-worker (mean, sd) and the crowd's (mean, sd), in ``codes.workers`` order."""
    k = codes.n_workers
    n = np.bincount(codes.worker, minlength=k).astype(np.float64)
    s1 = np.bincount(codes.worker, weights=codes.value, minlength=k)
    s2 = np.bincount(codes.worker, weights=codes.value**2, minlength=k)
    mu = float(codes.value.mean())
    var = float(codes.value.var())
    if var <= 1e-12:  # everyone gave the same answer: nothing to calibrate
        var = 1.0
    mu_w = (s1 + shrink * mu) / (n + shrink)
    # Shrunk second moment around the worker's own shrunk mean.
    own_var = np.maximum(s2 / np.maximum(n, 1) - (s1 / np.maximum(n, 1)) ** 2, 0.0)
    var_w = (n * own_var + shrink * var) / (n + shrink)
    return mu_w, np.sqrt(np.maximum(var_w, 1e-12)), np.array([mu, np.sqrt(var)])


class CalibratedMean(Aggregator):
    """Mean of per-worker standardised answers, read on the 1-4 scale (see the module docstring).

    Fitted attributes: the ``Aggregator`` ones plus ``worker_means_`` and ``worker_sds_``
    (shrunk, per worker id).
    """

    worker_means_: pd.Series
    worker_sds_: pd.Series

    def __init__(self, *, threshold: float = DEFAULT_THRESHOLD, shrink: float = DEFAULT_SHRINK):
        super().__init__(threshold=threshold)
        self.shrink = shrink

    def _fit_codes(self, codes: Codes) -> Self:
        s = self.shrink
        if isinstance(s, bool) or not isinstance(s, int | float) or not np.isfinite(s) or s < 0:
            raise ValueError(f"shrink must be a number >= 0; got {s!r}")
        mu_w, sd_w, crowd = worker_scales(codes, shrink=float(s))
        z = (codes.value - mu_w[codes.worker]) / sd_w[codes.worker]
        count = np.bincount(codes.example, minlength=codes.n_examples).astype(np.float64)
        mean_z = np.bincount(codes.example, weights=z, minlength=codes.n_examples) / count
        score = crowd[0] + crowd[1] * mean_z
        workers = codes.workers.rename("worker_id")
        self.worker_means_ = pd.Series(mu_w, index=workers)
        self.worker_sds_ = pd.Series(sd_w, index=workers)
        self._store(
            codes,
            positive=score > self.threshold,
            used=count,
            score=score,
            confidence=np.clip(scale_confidence(score, self.threshold), 0.0, 1.0),
        )
        return self
