"""Ordinal Dawid-Skene: EM with a per-worker confusion over the four answer levels.

Dawid & Skene (1979) with two true classes (the binary label of Section 4.4 of the FR-Train
paper) and four observed levels (the 1-4 scale), so a worker who answers 3 when sure and 4 when
very sure, or one who never uses 4, is modelled as they answer instead of through a binarised
vote. Worker ``j`` has, for each true class ``c`` in {-, +}, a distribution
``theta_j[c, v] = P(answer v | true c)`` over the levels ``v = 1..4``; the classes have prior
``pi = P(true +)``.

EM, starting from the soft binarised vote ``T_i = share of answers above the threshold``:

* M-step: ``pi = mean_i T_i``; the crowd's pooled confusion
  ``p[+, v] = (sum_ij T_i [a_ij = v] + 1) / (sum_ij T_i + 4)`` (with ``1 - T_i`` for the
  negative class); each worker's
  ``theta_j[+, v] = (sum_i T_i [a_ij = v] + s p[+, v]) / (sum_i T_i + s)`` (sums over the
  answers of worker ``j``), with ``s`` = ``smoothing`` pseudo-answers per class: a Dirichlet
  prior centred on the pooled confusion, so a level a worker never used is not impossible and a
  worker with few answers is read as the crowd reads the scale.
* E-step: ``log-odds_i = log(pi / (1 - pi)) + sum_j log(theta_j[+, a_ij] / theta_j[-, a_ij])``,
  ``T_i = logistic(log-odds_i)``.

Label +1 iff ``T_i > 0.5``; confidence = posterior of the chosen label. No gold is used, so
every gold item scores the method honestly. Pure code, no I/O.
"""

from __future__ import annotations

from typing import Self

import numpy as np
import pandas as pd

from app.crowd._base import Aggregator, per_example_mean, posterior_positive
from app.crowd._table import DEFAULT_THRESHOLD, MAX_VALUE, MIN_VALUE, Codes

LEVELS = MAX_VALUE - MIN_VALUE + 1
ERR_PARAM = "{name} must be {what}; got {value!r}"


class OrdinalDawidSkene(Aggregator):
    """Two-class Dawid-Skene EM over the raw 1-4 answers (see the module docstring).

    Args:
        threshold: answers above it count as positive votes in the starting posterior only.
        max_iter: EM iterations at most (one iteration = M-step then E-step).
        tol: stop when no posterior moves by more than this.
        smoothing: Dirichlet pseudo-answers per (worker, class), spread as the pooled
            confusion; > 0.

    Fitted attributes: the ``Aggregator`` ones (``mean_scores_`` is the plain mean) plus
        probas_: posterior ``P(true +)`` per example.
        confusions_: per worker, array ``(2, 4)``: rows true -/+, columns levels 1..4.
        prior_: fitted ``P(true +)``.
        n_iter_: EM iterations run.
    """

    probas_: pd.Series
    confusions_: dict[object, np.ndarray]
    prior_: float
    n_iter_: int

    def __init__(
        self,
        *,
        threshold: float = DEFAULT_THRESHOLD,
        max_iter: int = 100,
        tol: float = 1e-6,
        smoothing: float = 4.0,
    ) -> None:
        super().__init__(threshold=threshold)
        self.max_iter = max_iter
        self.tol = tol
        self.smoothing = smoothing

    def _check(self) -> None:
        it = self.max_iter
        if isinstance(it, bool) or not isinstance(it, int) or it < 1:
            raise ValueError(ERR_PARAM.format(name="max_iter", what="a positive integer", value=it))
        s = self.smoothing
        if isinstance(s, bool) or not isinstance(s, int | float) or not np.isfinite(s) or s <= 0:
            raise ValueError(ERR_PARAM.format(name="smoothing", what="a number > 0", value=s))

    def _m_step(
        self, codes: Codes, cell: np.ndarray, posterior: np.ndarray
    ) -> tuple[float, np.ndarray]:
        neg, pos = self._confusions(codes, cell, posterior)
        prior = float(np.clip(posterior.mean(), 1e-6, 1.0 - 1e-6))
        # Log-likelihood ratio (true + against true -) of one answer, per (worker, level) cell.
        return prior, np.log(pos) - np.log(neg)

    def _confusions(
        self, codes: Codes, cell: np.ndarray, posterior: np.ndarray
    ) -> list[np.ndarray]:
        """Per worker ``(m, 4)`` answer distributions given true -, then given true +."""
        m = codes.n_workers
        t = posterior[codes.example]
        out = []
        for weights in (1.0 - t, t):
            c = np.bincount(cell, weights=weights, minlength=LEVELS * m).reshape(m, LEVELS)
            pooled = c.sum(axis=0) + 1.0
            pooled /= pooled.sum()
            c = c + self.smoothing * pooled
            out.append(c / c.sum(axis=1, keepdims=True))
        return out

    def _fit_codes(self, codes: Codes) -> Self:
        self._check()
        count, _, mean = per_example_mean(codes)
        level = np.rint(codes.value - MIN_VALUE).astype(np.int64)
        cell = LEVELS * codes.worker + level
        vote = (codes.value > self.threshold).astype(np.float64)
        posterior = np.bincount(codes.example, weights=vote, minlength=codes.n_examples) / count
        prior, ratio = 0.5, np.zeros((codes.n_workers, LEVELS))
        n_iter = 0
        for n_iter in range(1, self.max_iter + 1):  # noqa: B007 - n_iter is reported
            prior, ratio = self._m_step(codes, cell, posterior)
            updated = posterior_positive(codes, prior, ratio.ravel(), cell)
            shift = float(np.max(np.abs(updated - posterior))) if len(updated) else 0.0
            posterior = updated
            if shift < self.tol:
                break
        self._store_posterior(codes, posterior, used=count, score=mean)
        self._store_confusions(codes, cell, posterior)
        self.probas_ = pd.Series(posterior, index=codes.examples.rename("example_id"))
        self.prior_ = prior
        self.n_iter_ = n_iter
        return self

    def _store_confusions(self, codes: Codes, cell: np.ndarray, posterior: np.ndarray) -> None:
        neg, pos = self._confusions(codes, cell, posterior)
        self.confusions_ = {w: np.vstack([neg[j], pos[j]]) for j, w in enumerate(codes.workers)}
