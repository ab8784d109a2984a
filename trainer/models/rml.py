"""Learning to Reweight (RML): Ren, Zeng, Yang & Urtasun, "Learning to Reweight Examples
for Robust Deep Learning", ICML 2018; the paper's robust-training baseline ("RML",
Sections 4.1-4.2, Tables 1-3 and 8). Spec: docs/ALGORITHMS.md §4.4; reference code
uber-research/learning-to-reweight-examples ``mnist/reweight.py``.

Each step, with the (possibly poisoned) training rows B and the clean validation set V:

1. ε_i = 0 for i ∈ B; virtual step θ' = θ − α·∇_θ Σ_i ε_i ℓ_i(θ) (α = 1 in the code);
2. u_i = −∂[mean_{j∈V} ℓ_j(θ')]/∂ε_i at ε = 0 = α·∇ℓ_i(θ)·∇L_V(θ), the alignment of
   example i's gradient with the validation gradient;
3. w̃_i = max(u_i, 0); w_i = w̃_i / Σ w̃ (all 0 when Σ w̃ = 0, so no step is taken);
4. real step on Σ_i w_i ℓ_i (a sum: the weights already sum to 1).

For logistic regression the per-example gradient is closed form,
∇ℓ_i = (p_i − t_i)·x̃_i, so step 2 costs one matrix-vector product:
u_i = α·(p_i − t_i)·(x̃_i · ∇L_V). Because of the normalisation in step 3, α > 0 only
scales u and drops out, so it is not a parameter here. Training is full batch (both
B and V are whole sets, as FR-Train's notebooks use them) with Adam on the real step
(the reference uses momentum SGD on mini-batches).

Static weights for RML+X (docs/ALGORITHMS.md §4.5): ``weights_`` is n times the mean of the
per-step normalised weights over the last ``last_k`` steps, rescaled to mean exactly 1.
A single last-step weight is too noisy. ``sample_weight`` multiplies w̃_i before the
normalisation.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import expit

from trainer.models._linear import (
    Adam,
    FloatArray,
    LinearClassifierMixin,
    Standardizer,
    check_fit_inputs,
    check_val_inputs,
)


def rml_step_weights(
    theta: FloatArray,
    Xd: FloatArray,
    t: FloatArray,
    Xv: FloatArray,
    tv: FloatArray,
    prior: FloatArray | None = None,
) -> FloatArray:
    """One step of Ren et al.'s example weights for LR (steps 1-3 of the module doc).

    Args:
        theta: current ``(β, b)`` on the design matrices' columns.
        Xd, t: training design matrix (no intercept column) and 0/1 targets.
        Xv, tv: validation design matrix and 0/1 targets.
        prior: optional non-negative multipliers (``sample_weight``).

    Returns:
        Normalised weights summing to 1, or all zeros when no example aligns.
    """
    rv = expit(Xv @ theta[:-1] + theta[-1]) - tv
    grad_val = np.append(Xv.T @ rv, rv.sum()) / len(tv)
    r = expit(Xd @ theta[:-1] + theta[-1]) - t
    u = r * (Xd @ grad_val[:-1] + grad_val[-1])
    wt = np.maximum(u, 0.0)
    if prior is not None:
        wt = wt * prior
    total = wt.sum()
    return wt / total if total > 0 else np.zeros_like(wt)


class LearningToReweight(LinearClassifierMixin):
    """Ren et al.'s meta-gradient reweighting with a logistic-regression model.

    Needs the clean validation set (``X_val``, ``y_val``, ``z_val``) in :meth:`fit`.

    Args:
        n_steps: full-batch training steps.
        lr: Adam learning rate of the real step.
        last_k: steps averaged into the static weights ``weights_``.
        random_state: initialisation seed (θ starts at small Gaussian values).
        include_sensitive: append z to the inputs (the paper's setting).
        standardize: standardise inputs on the training rows.
    """

    def __init__(
        self,
        *,
        n_steps: int = 2000,
        lr: float = 0.01,
        last_k: int = 100,
        random_state: int = 0,
        include_sensitive: bool = True,
        standardize: bool = True,
    ) -> None:
        self.n_steps = n_steps
        self.lr = lr
        self.last_k = last_k
        self.random_state = random_state
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
    ) -> LearningToReweight:
        """Train on the training rows, reweighted each step against the validation set."""
        if self.n_steps < 1 or not 1 <= self.last_k <= self.n_steps:
            raise ValueError(
                f"need n_steps >= 1 and 1 <= last_k <= n_steps, got {self.n_steps}, {self.last_k}"
            )
        Xa, ya, za, sw = check_fit_inputs(X, y, sensitive_features, sample_weight)
        Xva, yva, zva = check_val_inputs("LearningToReweight", X_val, y_val, z_val)
        Xi = self._inputs(Xa, za)
        Xvi = self._inputs(Xva, zva)
        if Xvi.shape[1] != Xi.shape[1]:
            raise ValueError(f"X_val has {Xva.shape[1]} feature columns but X has {Xa.shape[1]}")
        self.scaler_ = Standardizer(Xi, self.standardize)
        Xd, Xv = self.scaler_.transform(Xi), self.scaler_.transform(Xvi)
        t, tv = (ya > 0).astype(np.float64), (yva > 0).astype(np.float64)
        prior = None if sample_weight is None else sw

        rng = np.random.default_rng(int(self.random_state))
        d = Xd.shape[1]
        theta = np.append(rng.normal(0.0, 0.01, d), 0.0)
        opt = Adam(d + 1, self.lr)
        acc = np.zeros(len(t))
        start_avg = int(self.n_steps) - int(self.last_k)
        for step in range(int(self.n_steps)):
            w = rml_step_weights(theta, Xd, t, Xv, tv, prior)
            if step >= start_avg:
                acc += w
            if not w.any():
                continue
            r = w * (expit(Xd @ theta[:-1] + theta[-1]) - t)
            theta = opt.step(theta, np.append(Xd.T @ r, r.sum()))

        self.theta_ = theta
        self.coef_, self.intercept_ = self.scaler_.to_raw(theta)
        self.weights_ = acc * (len(acc) / acc.sum()) if acc.sum() > 0 else np.ones(len(acc))
        return self
