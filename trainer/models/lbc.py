"""Label Bias Correction (LBC): Jiang & Nachum, "Identifying and Correcting Label Bias
in Machine Learning", AISTATS 2020; the paper's second fairness baseline (Section 4.1,
Figure 4a, Tables 1-3). Spec: docs/ALGORITHMS.md §4.2; reference code
google-research/label_bias (``debias_weights`` and the training loop of its notebooks).

Groups G_k = {z = k} for every group code (both groups for a binary z, as the notebook
does). Multipliers λ_k start at 0 and the learning rate is η. Repeat ``n_iter`` = T
times:

1. s_i = Σ_k λ_k·1[i ∈ G_k];
2. w_i = σ(2 s_i) if y_i = +1 else σ(−2 s_i)  (iteration 0: all 1/2, i.e. plain LR);
3. fit a weighted LR on ``[x, z]`` with weights w_i (times ``sample_weight``);
4. training-set violation from hard predictions ŷ ∈ {0, 1}:
   Δ_k = mean(ŷ) − mean(ŷ | G_k) (demographic parity, the DI variant), or
   Δ_k = mean(ŷ | y = 1) − mean(ŷ | y = 1, G_k) (``constraint="equal_opportunity"``);
5. λ_k ← λ_k + η·Δ_k.

**The knob is T** (the paper sweeps "the number of training iterations"; the notebook
uses 100): T = 1 is plain LR and DI rises towards its fixed point as T grows. The
fitted model is the last of the T fits. Every intermediate model is kept in ``path_``
(one ``(coef, intercept)`` per iteration), so one fit with T_max answers every T ≤ T_max
(:meth:`at_iteration`), which the knob tuning uses.

Weighted version (RML+LBC, docs/ALGORITHMS.md §4.5): ``sample_weight`` multiplies w_i at every
fit; the violations stay unweighted rates on the training rows, as in the reference.
"""

from __future__ import annotations

import copy
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import expit

from trainer.models._linear import (
    FloatArray,
    LinearClassifierMixin,
    Standardizer,
    check_fit_inputs,
    fit_logistic,
)


def lbc_weights(y: ArrayLike, z: ArrayLike, multipliers: dict[int, float]) -> FloatArray:
    """Jiang & Nachum's example weights for labels ±1 and group multipliers λ_k.

    w_i = σ(2 s_i) for positives and σ(−2 s_i) for negatives, s_i = λ_{z_i}
    (``debias_weights`` in google-research/label_bias, docs/ALGORITHMS.md §4.2 step 2).
    """
    ya = np.asarray(y).reshape(-1)
    za = np.asarray(z).reshape(-1)
    s = np.zeros(len(ya))
    for k, lam in multipliers.items():
        s += lam * (za == k)
    return np.asarray(np.where(ya > 0, expit(2 * s), expit(-2 * s)), dtype=np.float64)


def lbc_violations(
    y_pred01: NDArray[np.float64],
    y: FloatArray,
    z: NDArray[np.int64],
    constraint: str,
) -> dict[int, float]:
    """Δ_k for every group k (docs/ALGORITHMS.md §4.2 step 4)."""
    mask = np.ones(len(y), dtype=bool) if constraint == "demographic_parity" else y > 0
    overall = float(y_pred01[mask].mean()) if mask.any() else 0.0
    out = {}
    for k in np.unique(z):
        m = mask & (z == k)
        out[int(k)] = overall - float(y_pred01[m].mean()) if m.any() else 0.0
    return out


class LabelBiasCorrection(LinearClassifierMixin):
    """Jiang & Nachum's label-bias reweighting around a weighted LR (module docstring).

    Args:
        n_iter: T, the number of weighted fits (the knob); T = 1 is plain LR.
        eta: multiplier learning rate η (the notebook's 1.0).
        constraint: ``"demographic_parity"`` (DI) or ``"equal_opportunity"``.
        l2: ridge strength of each LR fit (standardised coefficients).
        include_sensitive: append z to the inputs (the paper's setting).
        standardize: standardise inputs on the training rows.
    """

    def __init__(
        self,
        *,
        n_iter: int = 100,
        eta: float = 1.0,
        constraint: Literal["demographic_parity", "equal_opportunity"] = "demographic_parity",
        l2: float = 0.0,
        include_sensitive: bool = True,
        standardize: bool = True,
    ) -> None:
        self.n_iter = n_iter
        self.eta = eta
        self.constraint = constraint
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
    ) -> LabelBiasCorrection:
        """Run T reweighting rounds on the training rows; the validation set is unused."""
        if int(self.n_iter) != self.n_iter or self.n_iter < 1:
            raise ValueError(f"n_iter must be an integer >= 1, got {self.n_iter}")
        if self.constraint not in ("demographic_parity", "equal_opportunity"):
            raise ValueError(
                "constraint must be 'demographic_parity' or 'equal_opportunity', "
                f"got {self.constraint!r}"
            )
        Xa, ya, za, sw = check_fit_inputs(X, y, sensitive_features, sample_weight)
        Xi = self._inputs(Xa, za)
        self.scaler_ = Standardizer(Xi, self.standardize)
        Xd = self.scaler_.transform(Xi)
        lam = {int(k): 0.0 for k in np.unique(za)}
        theta: FloatArray | None = None
        self.path_: list[tuple[FloatArray, float]] = []
        self.multipliers_path_: list[dict[int, float]] = []
        for _ in range(int(self.n_iter)):
            w = lbc_weights(ya, za, lam) * sw
            # Warm start: consecutive fits differ only slightly in their weights.
            theta = fit_logistic(Xd, ya, w, l2=self.l2, theta0=theta)
            self.path_.append(self.scaler_.to_raw(theta))
            self.multipliers_path_.append(dict(lam))
            pred01 = (Xd @ theta[:-1] + theta[-1] > 0).astype(np.float64)
            for k, delta in lbc_violations(pred01, ya, za, self.constraint).items():
                lam[k] += self.eta * delta
        self.multipliers_ = self.multipliers_path_[-1]
        self.coef_, self.intercept_ = self.path_[-1]
        return self

    def at_iteration(self, t: int) -> LabelBiasCorrection:
        """A fitted copy equal to fitting with ``n_iter=t`` (1 ≤ t ≤ fitted T)."""
        if not hasattr(self, "path_"):
            raise RuntimeError("LabelBiasCorrection is not fitted yet; call fit(...) first")
        if not 1 <= t <= len(self.path_):
            raise ValueError(f"t must be in [1, {len(self.path_)}], got {t}")
        out = copy.copy(self)
        out.n_iter = t
        out.path_ = self.path_[:t]
        out.multipliers_path_ = self.multipliers_path_[:t]
        out.multipliers_ = out.multipliers_path_[-1]
        out.coef_, out.intercept_ = out.path_[-1]
        return out
