"""Fairness Constraints (FC): Zafar et al., "Fairness Constraints: Mechanisms for Fair
Classification", AISTATS 2017; the paper's first fairness baseline (Sections 2 and 4.1,
Figure 2b, Tables 1-3). Spec: docs/ALGORITHMS.md §4.1; reference code mbilalzafar/
fair-classification ``utils.py``.

The decision-boundary covariance between the sensitive attribute and the signed
distance to the boundary is a convex proxy for disparate impact::

    Cov(θ) = Σ_i w_i (z_i − z̄_w) · θᵀx̃_i / Σ_i w_i       (x̃ includes the intercept)

It is linear in θ. Two forms, both on a logistic-regression base learner over ``[x, z]``:

* ``mode="penalty"`` (the knob the paper sweeps in Figure 2b, λ = ``lam``): minimise
  the weighted mean log-loss + ``lam``·|Cov(θ)| (``penalty="abs"``, smoothed as
  sqrt(Cov² + ε²) so L-BFGS sees a gradient everywhere) or ``lam``·Cov²
  (``penalty="squared"``). ``lam = 0`` is plain LR; larger ``lam`` is fairer.
* ``mode="constraint"`` (Zafar's original): minimise the log-loss subject to
  |Cov(θ)| ≤ ``c`` with scipy's SLSQP. ``c = 0`` is the fairest. With
  ``c_relative=True`` the bound is ``c`` times |Cov| of the unconstrained LR, so
  ``c`` ∈ [0, 1] spans the whole trade-off (the usual way Zafar's scripts set it).

Weighted version (RML+FC, docs/ALGORITHMS.md §4.5): ``sample_weight`` weights the loss as
Σw_iℓ_i/Σw_i and the covariance uses the weighted mean z̄_w, as above.

Deviation from Zafar's code, deliberate: z is also an input feature by default
(``include_sensitive=True``), because every model in the paper sees ``[x, z]``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize

from trainer.models._linear import (
    FloatArray,
    LinearClassifierMixin,
    Standardizer,
    check_fit_inputs,
    fit_logistic,
    logistic_loss_grad,
)

_SMOOTH_EPS = 1e-6


def covariance_directions(Xd: FloatArray, z: NDArray[np.int64], w: FloatArray) -> FloatArray:
    """Rows ``a_k`` with ``Cov_k(θ) = a_k · β`` for the decision-boundary covariance.

    One row for a binary attribute (indicator of the larger code); one row per group
    indicator otherwise. The intercept drops out because Σ w_i (z_i − z̄_w) = 0.
    """
    wn = w / w.sum()
    groups = np.unique(z)
    indicators = [groups[-1]] if len(groups) <= 2 else list(groups)
    rows = []
    for g in indicators:
        zi = (z == g).astype(np.float64)
        zc = zi - float(wn @ zi)
        rows.append(Xd.T @ (wn * zc))
    return np.asarray(rows)


def decision_covariance(
    theta: FloatArray, Xd: FloatArray, z: NDArray[np.int64], w: FloatArray
) -> FloatArray:
    """``Cov_k(θ)`` for each row of :func:`covariance_directions` (Zafar et al. Eq. 4)."""
    return covariance_directions(Xd, z, w) @ theta[:-1]


class FairnessConstraints(LinearClassifierMixin):
    """Zafar et al.'s decision-boundary-covariance classifier (see module docstring).

    Args:
        lam: penalty weight λ (``mode="penalty"``); the Figure 2b knob.
        mode: ``"penalty"`` or ``"constraint"`` (SLSQP, bound ``c``).
        c: covariance bound for ``mode="constraint"``; required there.
        c_relative: interpret ``c`` as a fraction of the unconstrained |Cov|.
        penalty: ``"abs"`` (smoothed |Cov|) or ``"squared"`` (Cov²).
        l2: ridge strength on the standardised coefficients.
        include_sensitive: append z to the inputs (the paper's setting).
        standardize: standardise inputs on the training rows.
    """

    def __init__(
        self,
        *,
        lam: float = 0.0,
        mode: Literal["penalty", "constraint"] = "penalty",
        c: float | None = None,
        c_relative: bool = False,
        penalty: Literal["abs", "squared"] = "abs",
        l2: float = 0.0,
        include_sensitive: bool = True,
        standardize: bool = True,
    ) -> None:
        self.lam = lam
        self.mode = mode
        self.c = c
        self.c_relative = c_relative
        self.penalty = penalty
        self.l2 = l2
        self.include_sensitive = include_sensitive
        self.standardize = standardize

    def _check_params(self) -> None:
        if self.mode not in ("penalty", "constraint"):
            raise ValueError(f"mode must be 'penalty' or 'constraint', got {self.mode!r}")
        if self.penalty not in ("abs", "squared"):
            raise ValueError(f"penalty must be 'abs' or 'squared', got {self.penalty!r}")
        if self.mode == "penalty" and not self.lam >= 0:
            raise ValueError(f"lam must be >= 0, got {self.lam}")
        if self.mode == "constraint" and (self.c is None or not self.c >= 0):
            raise ValueError(f"mode='constraint' needs a bound c >= 0, got {self.c}")

    def fit(
        self,
        X: ArrayLike,
        y: ArrayLike,
        sensitive_features: ArrayLike,
        *,
        X_val: ArrayLike | None = None,
        y_val: ArrayLike | None = None,
        z_val: ArrayLike | None = None,
        sample_weight: ArrayLike | None = None,
    ) -> FairnessConstraints:
        """Fit on the (possibly poisoned) training rows; the validation set is unused."""
        self._check_params()
        Xa, ya, za, w = check_fit_inputs(X, y, sensitive_features, sample_weight)
        Xi = self._inputs(Xa, za)
        self.scaler_ = Standardizer(Xi, self.standardize)
        Xd = self.scaler_.transform(Xi)
        A = covariance_directions(Xd, za, w)
        if self.mode == "penalty":
            theta = self._fit_penalty(Xd, ya, w, A)
        else:
            theta = self._fit_constraint(Xd, ya, w, A)
        self.theta_ = theta
        self.covariance_ = A @ theta[:-1]
        self.coef_, self.intercept_ = self.scaler_.to_raw(theta)
        return self

    def _fit_penalty(
        self, Xd: FloatArray, y: FloatArray, w: FloatArray, A: FloatArray
    ) -> FloatArray:
        lam, squared = float(self.lam), self.penalty == "squared"

        def extra(theta: FloatArray) -> tuple[float, FloatArray]:
            cov = A @ theta[:-1]
            g = np.zeros_like(theta)
            if squared:
                g[:-1] = lam * 2.0 * (cov @ A)
                return lam * float(cov @ cov), g
            root = np.sqrt(cov**2 + _SMOOTH_EPS**2)
            g[:-1] = lam * ((cov / root) @ A)
            return lam * float(root.sum()), g

        return fit_logistic(Xd, y, w, l2=self.l2, extra=extra if lam > 0 else None)

    def _fit_constraint(
        self, Xd: FloatArray, y: FloatArray, w: FloatArray, A: FloatArray
    ) -> FloatArray:
        theta0 = fit_logistic(Xd, y, w, l2=self.l2)
        bound = float(self.c)  # type: ignore[arg-type]
        if self.c_relative:
            bound *= float(np.max(np.abs(A @ theta0[:-1])))
        l2 = self.l2
        Ab = np.hstack([A, np.zeros((len(A), 1))])

        def fun(theta: FloatArray) -> tuple[float, FloatArray]:
            f, g = logistic_loss_grad(theta, Xd, y, w)
            if l2:
                f += 0.5 * l2 * float(theta[:-1] @ theta[:-1])
                g[:-1] += l2 * theta[:-1]
            return f, g

        # |a·β| <= c as two linear inequalities, the form Zafar's SLSQP call uses.
        cons = [
            {"type": "ineq", "fun": lambda t: bound - Ab @ t, "jac": lambda t: -Ab},
            {"type": "ineq", "fun": lambda t: bound + Ab @ t, "jac": lambda t: Ab},
        ]
        res = minimize(
            fun,
            theta0,
            jac=True,
            method="SLSQP",
            constraints=cons,
            options={"maxiter": 500, "ftol": 1e-10},
        )
        self.solver_status_ = int(res.status)
        return np.asarray(res.x, dtype=np.float64)
