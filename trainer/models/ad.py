"""Adversarial Debiasing (AD): Zhang, Lemoine & Mitchell, "Mitigating Unwanted Biases with
Adversarial Learning", AIES 2018; the paper's third fairness baseline and the method
FR-Train extends (Sections 1, 3.1 and 4.1, Figure 4b, Tables 1-3). Spec: docs/ALGORITHMS.md
§4.3; reference code AIF360 ``adversarial_debiasing.py``.

* Predictor: logistic regression on ``[x, z]`` giving a logit, trained on
  L_P = BCE(logit, y) (FR-Train's parity setting: an LR predictor, full batch, instead
  of AIF360's 200-unit hidden layer and mini-batches of 128).
* Adversary: s = σ((1 + |c|)·logit) with a learnable c starting at 1; for demographic
  parity (DI) a linear layer on s, for ``constraint="equalized_odds"`` a linear layer on
  [s, s·y, s·(1−y)]; it minimises L_A = BCE(·, z) (binary z).
* Predictor update (Zhang et al. Eq. 1)::

      ∇_θ L_P − proj_{∇_θ L_A}(∇_θ L_P) − α·∇_θ L_A

  **α (``alpha``) is the knob**: larger is fairer. AIF360 projects per parameter
  tensor; with an LR predictor the bias is a scalar whose own projection always
  cancels its gradient, so the projection here is over the whole vector θ = (β, b).
  ``projection=False`` (the default) drops the projection term, as FR-Train's authors do
  for their own adversary ("it destabilised training"). Measured on the synthetic data,
  the projection with an LR predictor and Adam distorts the fit even at α = 0 (clean
  test accuracy .79, DI .15, against plain LR's .883 / .414), so it is kept only as an
  option.
* Both players use Adam, full batch, ``n_steps`` steps, rates × 0.96 every
  ``decay_every`` steps (AIF360: lr 1e-3, batch 128, 50 epochs). The adversary runs at a
  10x larger rate by default so that it tracks its best response (two time scales);
  with equal rates the poisoned-data trade-off oscillated more. The adversary steps
  right after the predictor, on the same forward pass. Gradients are closed form
  (per-row work in float32 torch on the CPU, parameters and Adam in float64 numpy), so
  training is deterministic given ``seed``.
* :func:`fit_many` trains many AD models on the same rows at once (one column each: a
  knob sweep x seeds x weightings, as the reproduction harness does); ``fit`` is the
  one-column case of it.

Weighted version (RML+AD, docs/ALGORITHMS.md §4.5): ``sample_weight`` weights the
per-example L_P and L_A (weighted means).

Inputs are standardised on the training rows (``standardize=True``) so one step size
fits every data set; ``seed`` fixes the initialisation (CPU training is deterministic).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from trainer.models._linear import (
    Adam,
    FloatArray,
    LinearClassifierMixin,
    Standardizer,
    check_fit_inputs,
)

_ERR_BINARY = "AdversarialDebiasing supports a binary sensitive attribute; found groups {}"


class AdversarialDebiasing(LinearClassifierMixin):
    """Zhang et al.'s adversarial debiasing with an LR predictor (module docstring).

    Args:
        alpha: adversary weight α in the predictor update (the knob); 0 is plain LR.
        projection: subtract the projection of ∇L_P onto ∇L_A (Zhang et al.); FR-Train's
            variant sets this to False.
        constraint: ``"demographic_parity"`` (DI) or ``"equalized_odds"``.
        n_steps: full-batch steps for both players.
        lr: Adam learning rate of the predictor.
        adversary_lr: Adam learning rate of the adversary (``None``: ``lr``).
        decay_every: multiply both learning rates by 0.96 every this many steps.
        random_state: initialisation seed.
        include_sensitive: append z to the inputs (the paper's setting).
        standardize: standardise inputs on the training rows.
    """

    scaler_: Standardizer
    theta_: FloatArray
    adversary_: dict[str, Any]

    def __init__(
        self,
        *,
        alpha: float = 0.1,
        projection: bool = False,
        constraint: Literal["demographic_parity", "equalized_odds"] = "demographic_parity",
        n_steps: int = 2000,
        lr: float = 0.01,
        adversary_lr: float | None = 0.1,
        decay_every: int = 1000,
        random_state: int = 0,
        include_sensitive: bool = True,
        standardize: bool = True,
    ) -> None:
        self.alpha = alpha
        self.projection = projection
        self.constraint = constraint
        self.n_steps = n_steps
        self.lr = lr
        self.adversary_lr = adversary_lr
        self.decay_every = decay_every
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
    ) -> AdversarialDebiasing:
        """Train predictor and adversary on the training rows; the validation set is unused."""
        fit_many(X, y, sensitive_features, [(self, sample_weight)])
        return self


def fit_many(
    X: ArrayLike,
    y: ArrayLike,
    sensitive_features: ArrayLike,
    models: Sequence[tuple[AdversarialDebiasing, ArrayLike | None]],
) -> list[AdversarialDebiasing]:
    """Fit several AD models on the same rows in ONE vectorised run; returns the models.

    Each ``(model, sample_weight)`` pair is one column of a batched full-batch run: the
    predictors' logits of all models come from one matrix product per step (BLAS-3), so a
    knob sweep x seeds x weightings costs a few times one fit instead of one fit each.
    The models may differ in ``alpha``, ``projection``, ``seed`` and the sample weights;
    the schedule (``n_steps``, rates, decay), ``constraint``, ``include_sensitive`` and
    ``standardize`` must be shared. Every column follows exactly the single-model update
    (the same initialisation from its own ``seed``), so a model fitted here equals
    ``model.fit`` up to floating-point summation order.
    """
    if not models:
        return []
    first = models[0][0]
    shared = ("constraint", "n_steps", "lr", "adversary_lr", "decay_every",
              "include_sensitive", "standardize")  # fmt: skip
    for m, _ in models:
        if m.constraint not in ("demographic_parity", "equalized_odds"):
            raise ValueError(
                f"constraint must be 'demographic_parity' or 'equalized_odds', got {m.constraint!r}"
            )
        if not m.alpha >= 0:
            raise ValueError(f"alpha must be >= 0, got {m.alpha}")
        diff = [a for a in shared if getattr(m, a) != getattr(first, a)]
        if diff:
            raise ValueError(f"fit_many needs models that share {', '.join(diff)}")
    import torch

    Xa, ya, za, _ = check_fit_inputs(X, y, sensitive_features, None)
    groups = np.unique(za)
    if len(groups) > 2:
        raise ValueError(_ERR_BINARY.format(groups.tolist()))
    Xi = first._inputs(Xa, za)
    scaler = Standardizer(Xi, first.standardize)
    Xd = scaler.transform(Xi)
    n, d = Xd.shape
    W = np.empty((n, len(models)))
    for j, (_, w) in enumerate(models):
        sw = check_fit_inputs(Xa, ya, za, w)[3]
        W[:, j] = sw / sw.sum()
    eo = first.constraint == "equalized_odds"
    k = 3 if eo else 1
    # Glorot-style initialisation as in AIF360, from each model's private generator.
    thetas, advs = [], []
    for m, _ in models:
        rng = np.random.default_rng(int(m.random_state))
        thetas.append(np.append(rng.normal(0.0, np.sqrt(2.0 / (d + 1)), d), 0.0))
        advs.append(np.concatenate([[1.0], rng.normal(0.0, np.sqrt(2.0 / (k + 1)), k), [0.0]]))
    theta, adv = np.stack(thetas, 1), np.stack(advs, 1)  # (d+1, K), (k+2, K)
    alpha = np.array([float(m.alpha) for m, _ in models])
    proj = np.array([bool(m.projection) for m, _ in models])
    opt_p = Adam(theta.shape, first.lr)
    opt_a = Adam(adv.shape, first.adversary_lr or first.lr)
    # The (n, K) work runs in float32 torch on the CPU (one fused sigmoid is ~15x faster
    # than scipy's float64 expit); parameters and Adam stay in float64 numpy.
    f32 = torch.float32
    data = _Rows(
        X=torch.from_numpy(Xd).to(f32),
        t=torch.from_numpy((ya > 0).astype(np.float32))[:, None],
        zt=torch.from_numpy((za == groups[-1]).astype(np.float32))[:, None],
        W=torch.from_numpy(W).to(f32),
    )
    if eo:
        data.dfeat = torch.cat([torch.ones_like(data.t), data.t, 1 - data.t], 1)
    for step in range(int(first.n_steps)):
        if step and first.decay_every and step % first.decay_every == 0:
            opt_p.lr *= 0.96
            opt_a.lr *= 0.96
        dm_p, dm_a, grad_adv = _ad_gradients(theta, adv, data)
        if proj.any():
            # Over the whole predictor vector (β, b): AIF360 projects per tensor, but
            # for an LR predictor the bias is a scalar whose own projection would
            # always cancel its gradient.
            gp, ga = data.to_theta(dm_p), data.to_theta(dm_a)
            unit = ga / (np.linalg.norm(ga, axis=0) + 1e-12)
            gp = gp - np.where(proj, (gp * unit).sum(0), 0.0) * unit
            grad_theta = gp - alpha * ga
        else:
            # Both gradients are linear in the per-row derivatives: one product.
            grad_theta = data.to_theta(dm_p - torch.from_numpy(alpha).to(f32) * dm_a)
        theta = opt_p.step(theta, grad_theta)
        adv = opt_a.step(adv, grad_adv)

    for j, (m, _) in enumerate(models):
        m.scaler_ = scaler
        m.theta_ = theta[:, j].copy()
        m.coef_, m.intercept_ = scaler.to_raw(m.theta_)
        m.adversary_ = {"c": float(adv[0, j]), "U": adv[1:-1, j].copy(), "b": float(adv[-1, j])}
    return [m for m, _ in models]


@dataclass
class _Rows:
    """The training rows of a batched AD run as float32 tensors (``W``: one column per model)."""

    X: Any
    t: Any
    zt: Any
    W: Any
    dfeat: Any = None  # [1, y, 1 − y] per row for equalized odds; None: demographic parity

    def to_theta(self, dm: Any) -> FloatArray:
        """∇ over (β, b) from per-row derivatives ``dm`` (n, K)."""
        import torch  # lazily, as everywhere in this module: importing it stays cheap

        g = torch.cat([self.X.T @ dm, dm.sum(0, keepdim=True)], 0)
        return np.asarray(g.numpy(), dtype=np.float64)


def _ad_gradients(theta: FloatArray, adv: FloatArray, rows: _Rows) -> tuple[Any, Any, FloatArray]:
    """Per-row dL_P/dm and dL_A/dm (``(n, K)`` tensors) and ∇_adv L_A (``(k+2, K)``).

    One column per model: ``theta`` is ``(d+1, K)``, ``adv = (c, U, u_b)`` stacked as
    ``(k+2, K)``; the adversary's logit is ``feats·U + u_b`` with ``feats = s·dfeat`` and
    ``s = σ((1 + |c|)·m)``, ``m`` the predictor's logit. ∇_θ = ``rows.to_theta(dm)``.
    """
    import torch

    f32 = torch.float32
    th = torch.from_numpy(theta).to(f32)
    av = torch.from_numpy(adv).to(f32)
    m = rows.X @ th[:-1] + th[-1]
    c, U, ub = av[0], av[1:-1], av[-1]
    kc = 1.0 + c.abs()
    s = torch.sigmoid(kc * m)
    du = U[0][None, :] if rows.dfeat is None else rows.dfeat @ U
    a = s * du + ub
    dm_p = rows.W * (torch.sigmoid(m) - rows.t)  # dL_P/dm
    r = rows.W * (torch.sigmoid(a) - rows.zt)  # dL_A/da
    ds = r * du * s * (1 - s)  # dL_A/ds·ds/d(kc·m)
    rs = r * s
    g_u = rs.sum(0, keepdim=True) if rows.dfeat is None else rows.dfeat.T @ rs
    grad_adv = torch.cat([((ds * m).sum(0) * torch.sign(c))[None], g_u, r.sum(0)[None]], 0)
    return dm_p, ds * kc, np.asarray(grad_adv.numpy(), dtype=np.float64)
