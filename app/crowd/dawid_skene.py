"""Binary Dawid-Skene: EM over binarised answers with a per-worker 2x2 confusion matrix.

Dawid & Skene (1979), specialised to two classes. Each answer is binarised (``value > threshold``
is a positive vote, the reading of the 1-4 scale in Section 4.4 of the paper). Worker ``j`` has a
sensitivity ``alpha_j = P(vote + | true +)`` and a specificity ``beta_j = P(vote - | true -)``;
the classes have prior ``pi = P(true +)``.

EM, starting from the soft majority vote ``T_i = share of positive votes on example i``:

* M-step: ``pi = mean_i T_i``; ``alpha_j = sum T_i v_ij / sum T_i``;
  ``beta_j = sum (1 - T_i)(1 - v_ij) / sum (1 - T_i)`` (sums over the answers of worker ``j``).
* E-step: ``T_i = P(true + | votes)`` from
  ``log pi + sum_j [v log alpha_j + (1 - v) log(1 - alpha_j)]`` against
  ``log(1 - pi) + sum_j [v log(1 - beta_j) + (1 - v) log beta_j]``.

Probabilities are clipped to ``[eps, 1 - eps]`` so that a perfect worker does not produce
``log(0)``; clipping changes nothing for non-degenerate values, which keeps hand-computed toy
tables exact.
"""

from __future__ import annotations

from typing import Self

import numpy as np
import pandas as pd

from app.crowd._base import Aggregator, per_example_mean, posterior_positive
from app.crowd._table import DEFAULT_THRESHOLD, Codes

ERR_MAX_ITER = "max_iter must be a positive integer; got {max_iter!r}"


class DawidSkene(Aggregator):
    """Binary Dawid-Skene EM (own implementation; crowd-kit is not a dependency).

    Args:
        threshold: answers above it are positive votes.
        max_iter: EM iterations at most (one iteration = M-step then E-step).
        tol: stop when no posterior moves by more than this.
        eps: clip for probabilities.

    Fitted attributes:
        labels_: +1 iff the posterior ``probas_`` is strictly above 0.5 (exactly 0.5 is negative,
            as in the mean rule).
        probas_: posterior ``P(true label = +1)`` per example.
        confidences_: posterior probability of the chosen label, ``max(p, 1 - p)``.
        mean_scores_: the plain mean of the raw answers (for reference).
        answers_used_: answers per example.
        errors_: DataFrame indexed by worker with ``sensitivity`` and ``specificity``.
        skills_: per worker, balanced accuracy ``(sensitivity + specificity) / 2``.
        prior_: the fitted ``P(true +)``.
        n_iter_: EM iterations run.
    """

    probas_: pd.Series
    errors_: pd.DataFrame
    skills_: pd.Series
    prior_: float
    n_iter_: int

    def __init__(
        self,
        *,
        threshold: float = DEFAULT_THRESHOLD,
        max_iter: int = 100,
        tol: float = 1e-6,
        eps: float = 1e-6,
    ) -> None:
        super().__init__(threshold=threshold)
        self.max_iter = max_iter
        self.tol = tol
        self.eps = eps

    # Per-answer work is kept to one gather and one bincount per step: answers are keyed by
    # ``cell = 2 * worker + vote``, and per-worker tables are indexed by that key.

    def _m_step(
        self, codes: Codes, cell: np.ndarray, cell_count: np.ndarray, posterior: np.ndarray
    ) -> tuple[float, np.ndarray, np.ndarray]:
        m = codes.n_workers
        # Mass of "true +" behind each (worker, vote) cell; "true -" mass is the rest.
        pos = np.bincount(cell, weights=posterior[codes.example], minlength=2 * m).reshape(m, 2)
        neg = cell_count.reshape(m, 2) - pos
        pos_mass, neg_mass = pos.sum(axis=1), neg.sum(axis=1)
        # A worker who only saw examples believed to be of one class says nothing about the
        # other class: 0.5 (uninformative) rather than a division by zero.
        alpha = np.divide(pos[:, 1], pos_mass, out=np.full(m, 0.5), where=pos_mass > 0)
        beta = np.divide(neg[:, 0], neg_mass, out=np.full(m, 0.5), where=neg_mass > 0)
        lo, hi = self.eps, 1.0 - self.eps
        prior = float(np.clip(posterior.mean(), lo, hi))
        return prior, np.clip(alpha, lo, hi), np.clip(beta, lo, hi)

    @staticmethod
    def _e_step(
        codes: Codes, cell: np.ndarray, prior: float, alpha: np.ndarray, beta: np.ndarray
    ) -> np.ndarray:
        # Log-likelihood ratio (true + against true -) of one answer, per (worker, vote) cell:
        # vote -: log(1 - alpha) - log(beta); vote +: log(alpha) - log(1 - beta).
        ratio = np.empty(2 * codes.n_workers)
        ratio[0::2] = np.log1p(-alpha) - np.log(beta)
        ratio[1::2] = np.log(alpha) - np.log1p(-beta)
        return posterior_positive(codes, prior, ratio, cell)

    def _fit_codes(self, codes: Codes) -> Self:
        max_iter = self.max_iter
        if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
            raise ValueError(ERR_MAX_ITER.format(max_iter=self.max_iter))
        count, _, mean = per_example_mean(codes)
        vote = (codes.value > self.threshold).astype(np.int64)
        cell = 2 * codes.worker + vote
        cell_count = np.bincount(cell, minlength=2 * codes.n_workers).astype(np.float64)
        posterior = np.bincount(codes.example, weights=vote, minlength=codes.n_examples) / count
        prior, alpha, beta = 0.5, np.full(codes.n_workers, 0.5), np.full(codes.n_workers, 0.5)
        n_iter = 0
        for n_iter in range(1, self.max_iter + 1):  # noqa: B007 - n_iter is reported
            prior, alpha, beta = self._m_step(codes, cell, cell_count, posterior)
            updated = self._e_step(codes, cell, prior, alpha, beta)
            shift = float(np.max(np.abs(updated - posterior))) if len(updated) else 0.0
            posterior = updated
            if shift < self.tol:
                break
        self._store_posterior(codes, posterior, used=count, score=mean)
        index = codes.examples.rename("example_id")
        workers = codes.workers.rename("worker_id")
        self.probas_ = pd.Series(posterior, index=index)
        self.errors_ = pd.DataFrame({"sensitivity": alpha, "specificity": beta}, index=workers)
        self.skills_ = pd.Series((alpha + beta) / 2.0, index=workers)
        self.prior_ = prior
        self.n_iter_ = n_iter
        return self
