"""Logistic regression baseline (paper Table 1 "LR"; docs/ALGORITHMS.md §3.1 and §4).

Full-batch Newton-Raphson (IRLS) in float64 numpy: deterministic, converges to the exact
(optionally L2-regularised) maximum-likelihood solution in a handful of iterations, and
needs no seed. Like every model in the paper it sees ``[x, z]`` by default.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
from numpy.typing import ArrayLike, NDArray

from trainer.models.base import FairEstimator, require_sensitive, to01, with_sensitive


class LogisticRegression(FairEstimator):
    """Weighted logistic regression with an intercept, fitted by Newton's method.

    Args:
        l2: L2 penalty on the weights (not the intercept); 0 is plain maximum likelihood.
        include_sensitive: append z to the features (the paper's setting).
        max_iter: Newton iterations at most.
        tol: stop when the largest parameter change falls below this.
    """

    def __init__(
        self,
        *,
        l2: float = 0.0,
        include_sensitive: bool = True,
        max_iter: int = 100,
        tol: float = 1e-10,
    ) -> None:
        self.l2 = l2
        self.include_sensitive = include_sensitive
        self.max_iter = max_iter
        self.tol = tol

    def fit(
        self,
        X: ArrayLike,
        y: ArrayLike,
        sensitive_features: ArrayLike | None = None,
        *,
        X_val: ArrayLike | None = None,
        y_val: ArrayLike | None = None,
        z_val: ArrayLike | None = None,
        sample_weight: ArrayLike | None = None,
    ) -> Self:
        """Minimise sum_i w_i BCE(sigmoid(theta . [x_i, 1]), y_i) + l2/2 |w|^2.

        The validation arguments are accepted for the shared estimator shape and ignored.
        """
        A = self._design(X, sensitive_features)
        ya = np.asarray(y).reshape(-1)
        if len(ya) != len(A):
            raise ValueError(f"y has {len(ya)} rows but X has {len(A)}")
        if not np.isin(ya, (-1, 0, 1)).all():
            raise ValueError("y must hold binary labels in {-1, +1} or {0, 1}")
        t = to01(ya).astype(np.float64)
        w = np.ones(len(t)) if sample_weight is None else np.asarray(sample_weight, float)
        if w.shape != t.shape or (w < 0).any() or w.sum() <= 0:
            raise ValueError("sample_weight must be non-negative, one per row, not all 0")
        w = w / w.sum()
        d = A.shape[1]
        reg = np.full(d, float(self.l2) / len(t))
        reg[-1] = 0.0  # the intercept is not penalised
        theta = np.zeros(d)
        self.n_iter_ = 0
        for it in range(1, self.max_iter + 1):
            p = 1.0 / (1.0 + np.exp(-(A @ theta)))
            grad = A.T @ (w * (p - t)) + reg * theta
            H = (A * (w * p * (1 - p))[:, None]).T @ A + np.diag(reg) + 1e-12 * np.eye(d)
            delta = np.linalg.solve(H, grad)
            # damped step: a full Newton step can overshoot on (nearly) separable data
            scale = min(1.0, 10.0 / max(np.abs(delta).max(), 1e-300))
            theta -= scale * delta
            self.n_iter_ = it
            if np.abs(scale * delta).max() < self.tol:
                break
        self.coef_ = theta[:-1].copy()
        self.intercept_ = float(theta[-1])
        self.n_features_in_ = d - 1
        return self

    def _design(self, X: ArrayLike, z: ArrayLike | None) -> NDArray[np.float64]:
        if self.include_sensitive:
            z = require_sensitive(z, "LogisticRegression")
        Xa = with_sensitive(X, z, self.include_sensitive).astype(np.float64)
        return np.c_[Xa, np.ones(len(Xa))]

    def decision_function(
        self, X: ArrayLike, sensitive_features: ArrayLike | None = None
    ) -> NDArray[Any]:
        """Logits theta . [x, z, 1]."""
        if not hasattr(self, "coef_"):
            raise RuntimeError("this LogisticRegression is not fitted yet; call fit() first")
        A = self._design(X, sensitive_features)
        if A.shape[1] - 1 != self.n_features_in_:
            raise ValueError(
                f"X has {A.shape[1] - 1} columns but the model was fitted with "
                f"{self.n_features_in_}"
            )
        return A[:, :-1] @ self.coef_ + self.intercept_

    def predict_proba(
        self, X: ArrayLike, sensitive_features: ArrayLike | None = None
    ) -> NDArray[Any]:
        """P(y = +1)."""
        return 1.0 / (1.0 + np.exp(-self.decision_function(X, sensitive_features)))

    def predict(
        self, X: ArrayLike, sensitive_features: ArrayLike | None = None
    ) -> NDArray[np.int8]:
        """Labels in {-1, +1}."""
        return np.where(self.decision_function(X, sensitive_features) > 0, 1, -1).astype(np.int8)

    def state_dict(self) -> dict[str, Any]:
        """Weights and config, for ``torch.save`` checkpoints like FR-Train's."""
        return {
            "model": "LogisticRegression",
            "weights": {"coef": self.coef_.tolist(), "intercept": self.intercept_},
            "config": self.get_params(),
            "step": self.n_iter_,
        }
