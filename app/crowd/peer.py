"""Peer-calibrated weighted mean: each worker's answers count by how well they track the others'.

The paper's mean rule (Section 4.4) lets a worker who clicks at random count as much as a careful
one. This method keeps the 1-4 scale and the threshold, and weights each worker by a calibration
measured on the answers themselves, without gold:

* ``r_w``: the Pearson correlation between worker ``w``'s answers and the mean of the *other*
  workers' answers on the same examples (only answers with at least one other answer count);
* shrunk towards the crowd's answer-weighted mean correlation ``r_bar`` with ``shrink``
  pseudo-answers: ``r_w' = (n_w r_w + shrink r_bar) / (n_w + shrink)``, so a worker with few
  answers counts as an average worker;
* weight ``max(r_w', 0)^2 + 1e-6``: the share of the worker's answer variance that tracks the
  consensus (a worker whose answers run against the others' counts next to nothing);
* score = weighted mean of the answers, positive iff strictly above ``threshold`` (as the mean
  rule); confidence ``|score - 2.5| / 1.5``.

With one answer per example there are no peers: every worker gets the same weight and the
method is the plain mean rule. Because no gold is used, every gold item scores the method
honestly; the default was chosen on gold rows only (see ``app.crowd.aggregate.DEFAULT_METHOD``).
"""

from __future__ import annotations

from typing import Self

import numpy as np
import pandas as pd

from app.crowd._base import Aggregator, scale_confidence
from app.crowd._table import DEFAULT_THRESHOLD, Codes

DEFAULT_SHRINK = 10.0


def peer_correlations(codes: Codes, *, shrink: float = DEFAULT_SHRINK) -> np.ndarray:
    """Shrunk leave-one-out consensus correlation per worker (``codes.workers`` order)."""
    k = codes.n_workers
    count = np.bincount(codes.example, minlength=codes.n_examples).astype(np.float64)
    total = np.bincount(codes.example, weights=codes.value, minlength=codes.n_examples)
    others = count[codes.example] - 1
    ok = others > 0
    if not ok.any():
        return np.ones(k)
    loo = (total[codes.example] - codes.value) / np.maximum(others, 1)
    w, x, y = codes.worker[ok], codes.value[ok], loo[ok]
    n = np.bincount(w, minlength=k).astype(np.float64)

    def s(v: np.ndarray) -> np.ndarray:
        return np.bincount(w, weights=v, minlength=k)

    sx, sy, sxx, syy, sxy = s(x), s(y), s(x * x), s(y * y), s(x * y)
    with np.errstate(divide="ignore", invalid="ignore"):
        nn = np.maximum(n, 1)
        vx, vy = sxx - sx * sx / nn, syy - sy * sy / nn
        r = (sxy - sx * sy / nn) / np.sqrt(vx * vy)
    r = np.where(np.isfinite(r) & (vx > 1e-12) & (vy > 1e-12), r, 0.0)
    r_bar = float(np.average(r, weights=n)) if n.sum() > 0 else 0.0
    return np.asarray((n * r + shrink * r_bar) / (n + shrink))


class PeerWeightedMean(Aggregator):
    """Weighted mean of the answers, weights from peer calibration (see the module docstring).

    Fitted attributes: the ``Aggregator`` ones plus ``weights_`` (per worker id).
    """

    weights_: pd.Series

    def __init__(self, *, threshold: float = DEFAULT_THRESHOLD, shrink: float = DEFAULT_SHRINK):
        super().__init__(threshold=threshold)
        self.shrink = shrink

    def _fit_codes(self, codes: Codes) -> Self:
        r = peer_correlations(codes, shrink=self.shrink)
        weight = np.clip(r, 0.0, None) ** 2 + 1e-6
        w = weight[codes.worker]
        count = np.bincount(codes.example, minlength=codes.n_examples).astype(np.float64)
        num = np.bincount(codes.example, weights=w * codes.value, minlength=codes.n_examples)
        den = np.bincount(codes.example, weights=w, minlength=codes.n_examples)
        score = num / den
        self.weights_ = pd.Series(weight, index=codes.workers.rename("worker_id"))
        self._store(
            codes,
            positive=score > self.threshold,
            used=count,
            score=score,
            confidence=scale_confidence(score, self.threshold),
        )
        return self
