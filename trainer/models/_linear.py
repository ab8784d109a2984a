"""Shared pieces of the linear baselines (FC, LBC, AD, RML): input checks, a weighted
logistic-regression solver and a mixin giving the estimator shape of :mod:`base`.

Every baseline of the paper uses logistic regression as its base learner on ``[x, z]``
(docs/ALGORITHMS.md §4, "shared setup"; paper Section 4.1). The solver here minimises the
*weighted mean* log-loss plus an optional L2 term and an optional extra smooth term::

    f(θ) = Σ_i w_i ℓ_i(θ) / Σ_i w_i + (l2 / 2)·||β||² + extra(θ),   θ = (β, b)

with L-BFGS on float64 (deterministic; no intercept penalty). Inputs are standardised on
the training rows first (``standardize=True``), which only changes the conditioning for
an unpenalised model and keeps the gradient-based baselines (AD, RML) on one step size
for every data set; fitted coefficients are reported back in the raw input space.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize
from scipy.special import expit

from trainer.models.base import FairEstimator, require_sensitive, with_sensitive

FloatArray = NDArray[np.float64]
#: ``extra(theta) -> (value, gradient)`` for an additional smooth objective term.
ExtraTerm = Callable[[FloatArray], tuple[float, FloatArray]]

ERR_LENGTH = "X, y and sensitive_features must have the same number of rows (got {})"
ERR_LABELS = "y must hold labels in {{-1, +1}} (or {{0, 1}}); found values {}"
ERR_EMPTY = "cannot fit on an empty training set"
ERR_WEIGHT = "sample_weight must be finite, non-negative and not all zero"
ERR_FINITE = "X contains NaN or infinite values"
ERR_NOT_FITTED = "{} is not fitted yet; call fit(...) first"
ERR_VAL_MISSING = "{} needs a clean validation set: pass X_val, y_val and z_val"


def check_labels(y: ArrayLike) -> NDArray[np.float64]:
    """Labels as float ±1; accepts {-1, +1} or {0, 1} and rejects anything else."""
    ya = np.asarray(y).reshape(-1)
    vals = set(np.unique(ya).tolist())
    if not vals <= {-1, 1} and not vals <= {0, 1}:
        raise ValueError(ERR_LABELS.format(sorted(vals)[:10]))
    return np.where(ya > 0, 1.0, -1.0)


def check_fit_inputs(
    X: ArrayLike,
    y: ArrayLike,
    sensitive_features: ArrayLike,
    sample_weight: ArrayLike | None,
) -> tuple[NDArray[np.float32], NDArray[np.float64], NDArray[np.int64], FloatArray]:
    """Validate once at the public boundary; returns ``(X, y±1, z, w)``."""
    Xa = np.asarray(X, dtype=np.float32)
    if Xa.ndim == 1:
        Xa = Xa[:, None]
    ya = check_labels(y)
    za = np.asarray(sensitive_features).reshape(-1).astype(np.int64)
    n = Xa.shape[0]
    if not (len(ya) == n == len(za)):
        raise ValueError(ERR_LENGTH.format((n, len(ya), len(za))))
    if n == 0:
        raise ValueError(ERR_EMPTY)
    if not np.all(np.isfinite(Xa)):
        raise ValueError(ERR_FINITE)
    if sample_weight is None:
        w = np.ones(n)
    else:
        w = np.asarray(sample_weight, dtype=np.float64).reshape(-1)
        if len(w) != n:
            raise ValueError(ERR_LENGTH.format((n, len(ya), len(za), len(w))))
        if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise ValueError(ERR_WEIGHT)
    return Xa, ya, za, w


def check_val_inputs(
    name: str, X_val: ArrayLike | None, y_val: ArrayLike | None, z_val: ArrayLike | None
) -> tuple[NDArray[np.float32], NDArray[np.float64], NDArray[np.int64]]:
    """The clean validation set a method needs (RML); raises if any part is missing."""
    if X_val is None or y_val is None or z_val is None:
        raise ValueError(ERR_VAL_MISSING.format(name))
    Xv, yv, zv, _ = check_fit_inputs(X_val, y_val, z_val, None)
    return Xv, yv, zv


def logistic_loss_grad(
    theta: FloatArray, Xd: FloatArray, y: FloatArray, w: FloatArray
) -> tuple[float, FloatArray]:
    """Weighted mean log-loss and its gradient for ``θ = (β, b)`` and labels ±1."""
    m = Xd @ theta[:-1] + theta[-1]
    ym = y * m
    wn = w / w.sum()
    loss = float(np.dot(wn, np.logaddexp(0.0, -ym)))
    # d/dm log(1 + e^{-ym}) = -y·σ(-ym)
    r = wn * (-y * expit(-ym))
    grad = np.empty_like(theta)
    grad[:-1] = Xd.T @ r
    grad[-1] = r.sum()
    return loss, grad


def fit_logistic(
    Xd: FloatArray,
    y: FloatArray,
    w: FloatArray,
    *,
    l2: float = 0.0,
    extra: ExtraTerm | None = None,
    theta0: FloatArray | None = None,
    max_iter: int = 1000,
    tol: float = 1e-9,
) -> FloatArray:
    """Minimise the weighted mean log-loss (+ l2/2·||β||² + extra) with L-BFGS.

    Args:
        Xd: design matrix without the intercept column (float64, n x d).
        y: labels in ±1.
        w: non-negative example weights (normalised internally).
        l2: ridge strength on β (the intercept is not penalised).
        extra: optional smooth term ``θ -> (value, grad)`` (FC's covariance penalty).
        theta0: warm start (LBC refits from the previous solution).

    Returns:
        ``θ = (β, b)`` of length d + 1.
    """
    d = Xd.shape[1]

    def fun(theta: FloatArray) -> tuple[float, FloatArray]:
        f, g = logistic_loss_grad(theta, Xd, y, w)
        if l2:
            f += 0.5 * l2 * float(theta[:-1] @ theta[:-1])
            g[:-1] += l2 * theta[:-1]
        if extra is not None:
            fe, ge = extra(theta)
            f += fe
            g = g + ge
        return f, g

    x0 = np.zeros(d + 1) if theta0 is None else np.asarray(theta0, dtype=np.float64)
    res = minimize(
        fun,
        x0,
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": max_iter, "gtol": tol, "ftol": 1e-12},
    )
    return np.asarray(res.x, dtype=np.float64)


class Standardizer:
    """Column mean/scale fitted on training rows; constant columns keep scale 1."""

    def __init__(self, X: NDArray[Any], enabled: bool = True) -> None:
        X64 = np.asarray(X, dtype=np.float64)
        d = X64.shape[1]
        if enabled:
            self.mean = X64.mean(axis=0)
            sd = X64.std(axis=0)
            self.scale = np.where(sd > 1e-12, sd, 1.0)
        else:
            self.mean = np.zeros(d)
            self.scale = np.ones(d)

    def transform(self, X: NDArray[Any]) -> FloatArray:
        return (np.asarray(X, dtype=np.float64) - self.mean) / self.scale

    def to_raw(self, theta: FloatArray) -> tuple[FloatArray, float]:
        """Map ``θ`` on standardised inputs to ``(coef, intercept)`` on raw inputs."""
        coef = theta[:-1] / self.scale
        return coef, float(theta[-1] - coef @ self.mean)


class LinearClassifierMixin(FairEstimator):
    """``decision_function`` / ``predict`` / ``predict_proba`` from ``coef_``/``intercept_``.

    Subclasses set ``include_sensitive`` in ``__init__`` and ``coef_`` (on raw
    ``[x, z]`` inputs) and ``intercept_`` in ``fit``.
    """

    include_sensitive: bool
    coef_: FloatArray
    intercept_: float

    def _inputs(self, X: ArrayLike, sensitive_features: ArrayLike | None) -> NDArray[np.float32]:
        if self.include_sensitive:
            sensitive_features = require_sensitive(sensitive_features, type(self).__name__)
        return with_sensitive(X, sensitive_features, self.include_sensitive)

    def decision_function(
        self, X: ArrayLike, sensitive_features: ArrayLike | None = None
    ) -> FloatArray:
        """Raw logit; positive means +1."""
        if not hasattr(self, "coef_"):
            raise RuntimeError(ERR_NOT_FITTED.format(type(self).__name__))
        Xa = self._inputs(X, sensitive_features).astype(np.float64)
        if Xa.shape[1] != len(self.coef_):
            raise ValueError(
                f"X has {Xa.shape[1]} columns (with z: {self.include_sensitive}) "
                f"but the model was fitted on {len(self.coef_)}"
            )
        return np.asarray(Xa @ self.coef_ + self.intercept_, dtype=np.float64)

    def predict(
        self, X: ArrayLike, sensitive_features: ArrayLike | None = None
    ) -> NDArray[np.int8]:
        """Labels in {-1, +1}: ``+1`` where the logit is positive."""
        return np.where(self.decision_function(X, sensitive_features) > 0, 1, -1).astype(np.int8)

    def predict_proba(
        self, X: ArrayLike, sensitive_features: ArrayLike | None = None
    ) -> FloatArray:
        """P(y = +1 | x, z) as a 1-D array."""
        return np.asarray(expit(self.decision_function(X, sensitive_features)))


class WeightedLogisticRegression(LinearClassifierMixin):
    """Weighted logistic regression on ``[x, z]``: the base learner of every baseline.

    Minimises ``Σ w_i ℓ_i / Σ w_i + (l2/2)·||β||²`` (see module docstring). With
    ``standardize=False`` this is sklearn's ``LogisticRegression(C=1/(l2·Σw))`` fitted
    with ``sample_weight=w``, which the tests use as an oracle.

    Args:
        l2: ridge strength on the (standardised) coefficients; 0 = unpenalised.
        include_sensitive: append z as an input feature (the paper's setting).
        standardize: standardise inputs on the training rows before fitting.
    """

    def __init__(
        self, *, l2: float = 0.0, include_sensitive: bool = True, standardize: bool = True
    ) -> None:
        self.l2 = l2
        self.include_sensitive = include_sensitive
        self.standardize = standardize

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
    ) -> WeightedLogisticRegression:
        """Fit on the training rows; the validation set is ignored."""
        Xa, ya, za, w = check_fit_inputs(X, y, sensitive_features, sample_weight)
        Xi = self._inputs(Xa, za)
        self.scaler_ = Standardizer(Xi, self.standardize)
        theta = fit_logistic(self.scaler_.transform(Xi), ya, w, l2=self.l2)
        self.theta_ = theta
        self.coef_, self.intercept_ = self.scaler_.to_raw(theta)
        return self


class Adam:
    """Adam (Kingma & Ba 2014) on a float64 array, as ``torch.optim.Adam`` defaults.

    Used by the full-batch gradient baselines (AD, RML) written with closed-form LR
    gradients; ``lr`` can be changed between steps (AIF360's step decay).
    """

    def __init__(
        self,
        size: int | tuple[int, ...],
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        self.lr = lr
        self.b1, self.b2 = betas
        self.eps = eps
        self.m = np.zeros(size)
        self.v = np.zeros(size)
        self.t = 0

    def step(self, x: FloatArray, grad: FloatArray) -> FloatArray:
        """Return the updated parameters ``x`` after one step along ``grad``."""
        self.t += 1
        self.m = self.b1 * self.m + (1 - self.b1) * grad
        self.v = self.b2 * self.v + (1 - self.b2) * grad * grad
        m_hat = self.m / (1 - self.b1**self.t)
        v_hat = self.v / (1 - self.b2**self.t)
        return x - self.lr * m_hat / (np.sqrt(v_hat) + self.eps)
