"""Batched FR-Train training loop with hand-written gradients (private).

All ``M`` models of a hyperparameter grid live in one set of stacked tensors (weights of
shape ``(M, ...)``), so a whole lambda sweep costs about as many tensor operations as a
single run. Gradients are written out by hand instead of going through autograd: the
networks are tiny (a logistic-regression generator, a 1-unit fairness discriminator, a
16-unit robustness discriminator) and per-step Python/autograd overhead, not arithmetic,
dominates a 10,000-step full-batch run. ``tests/trainer/test_fr_train_engine.py`` checks
these gradients and the optimiser updates against a plain autograd transcription of the
authors' notebook.

Notation follows the paper (Section 3.3) and ALGORITHMS.md §1:

* ``G``: generator/classifier, outputs a raw logit ``g``; linear or one hidden layer with
  LeakyReLU(0.2) (Appendix A.4).
* ``D_F``: fairness discriminator ``Linear(1 -> K)`` on the logit; sigmoid for binary ``z``
  (K = 1), softmax for ``|Z| > 2`` (K = |Z|, Section 3.3 "softmax layer"). For equalized
  odds / equal opportunity there is one ``D_F`` per label value (Appendix A.2, Theorem 3);
  rows are routed to the ``D_F`` of their label, and equal opportunity keeps only y = 1.
* ``D_R``: robustness discriminator ``Linear(d+1 -> 16) -> LeakyReLU(0.2) -> Linear(16 -> 1)
  -> sigmoid`` on ``[x, z, y]``: training rows carry the generator's logit, validation rows
  their clean label in {-1, +1} (Section 3.2).
* Objective for G: ``(1 - l1 - l2) L1 + l1 L2 + l2 L3`` where G *maximises* the
  discriminators' cross-entropies (so ``- l1 BCE_F - l2 BCE_R`` in the loss it minimises).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

LEAK = 0.2  # LeakyReLU slope used by the authors' D_R (FRTrain_arch.py)


@dataclass(frozen=True)
class EngineConfig:
    """Every knob of one training run (shared by all models of a grid)."""

    epochs: int
    k: int
    lr_g: float
    lr_f: float
    lr_r: float
    pretrain_epochs: int = 500
    c_pre: float = 1.0
    #: ``tanh``: pretraining BCE on (tanh g + 1)/2 = sigmoid(2g) as the notebook does;
    #: ``logit``: plain BCE-with-logits.
    pretrain_link: str = "tanh"
    reweight: str = "paper"  # paper | notebook | off
    refresh_every: int = 100
    reweight_c: float = 3.0
    #: Normalise the example weights to mean 1 (paper mode only; keeps the balance
    #: between the weighted L1/L2 and the unweighted L3 term that lambda sets).
    normalize_weights: bool = True
    #: False reproduces the clean notebook, which detaches the logit inside D_R's input so
    #: G receives no gradient from L3.
    robust_grad: bool = True
    g_hidden: int = 0
    r_hidden: int = 16
    init_std: float = 0.2
    batch_size: int | None = None
    #: Average G's parameters over the last ``average_last`` fraction of G steps (0: off).
    average_last: float = 0.0
    fairness: str = "dp"  # dp | eo | eop


@dataclass
class EngineData:
    """Tensors of one fit (already on the target device and dtype)."""

    X: Tensor  # (N, d) generator input [x, z]
    t: Tensor  # (N,) BCE targets in {0, 1}
    z: Tensor  # (N,) group codes (long)
    Xv: Tensor  # (Nv, d)
    yv: Tensor  # (Nv,) validation labels in {-1, +1}
    n_groups: int
    sample_weight: Tensor | None = None  # (N,) mean 1


@dataclass
class EngineState:
    """Stacked parameters of M models plus optimiser state."""

    g_params: list[Tensor]
    f_params: list[Tensor]
    r_params: list[Tensor]
    adam_m: list[Tensor] = field(default_factory=list)
    adam_v: list[Tensor] = field(default_factory=list)
    adam_step: int = 0
    weights: Tensor | None = None  # (M, N) example weights W
    last_g_loss: Tensor | None = None  # (M,)
    avg_params: list[Tensor] | None = None
    avg_count: int = 0
    history: dict[str, list[Any]] = field(default_factory=dict)


def init_models(
    seeds: list[int],
    *,
    d: int,
    g_hidden: int,
    r_hidden: int,
    n_cond: int,
    k_out: int,
    std: float,
    dtype: torch.dtype,
    device: str,
) -> EngineState:
    """Draw the initial weights of M models, each exactly like the authors' notebook.

    For each model: ``torch.manual_seed(seed)`` and then ``weights_init_normal`` applied to
    G, then D_F, then D_R (every Linear weight ~ N(0, std) in module order, biases 0;
    ALGORITHMS.md §1.2). A private ``torch.Generator`` seeded the same way yields the same
    stream without touching the global RNG.
    """

    def one(seed: int) -> tuple[list[Tensor], list[Tensor], list[Tensor]]:
        gen = torch.Generator().manual_seed(int(seed))

        def normal(*shape: int) -> Tensor:
            return torch.empty(*shape).normal_(0.0, std, generator=gen)

        if g_hidden:
            gp = [
                normal(g_hidden, d),
                torch.zeros(g_hidden),
                normal(1, g_hidden)[0],
                torch.zeros(()),
            ]
        else:
            gp = [normal(1, d)[0], torch.zeros(())]
        # one Linear(1 -> K) per conditioning class, initialised in class order
        fa = torch.stack([normal(k_out, 1)[:, 0] for _ in range(n_cond)])  # (C, K)
        fp = [fa, torch.zeros(n_cond, k_out)]
        rp = [
            normal(r_hidden, d + 1),
            torch.zeros(r_hidden),
            normal(1, r_hidden)[0],
            torch.zeros(()),
        ]
        return gp, fp, rp

    per = [one(s) for s in seeds]

    def stack(i: int) -> list[Tensor]:
        n = len(per[0][i])
        return [
            torch.stack([p[i][j] for p in per]).to(device=device, dtype=dtype).contiguous()
            for j in range(n)
        ]

    st = EngineState(g_params=stack(0), f_params=stack(1), r_params=stack(2))
    st.adam_m = [torch.zeros_like(p) for p in st.g_params]
    st.adam_v = [torch.zeros_like(p) for p in st.g_params]
    return st


def g_forward(gp: list[Tensor], X: Tensor) -> tuple[Tensor, Any]:
    """Logits (M, N) of every model and the cache its backward pass needs."""
    if len(gp) == 2:
        w, b = gp
        return torch.matmul(w, X.T) + b[:, None], None
    W1, b1, w2, b2 = gp
    pre = torch.matmul(X, W1.transpose(1, 2)) + b1[:, None, :]  # (M, N, H)
    h = torch.nn.functional.leaky_relu(pre, LEAK)
    g = torch.bmm(h, w2[:, :, None])[:, :, 0] + b2[:, None]
    return g, (pre, h)


def g_backward(gp: list[Tensor], X: Tensor, cache: Any, dg: Tensor) -> list[Tensor]:
    """Parameter gradients of G given dLoss/dlogit ``dg`` (M, N)."""
    if len(gp) == 2:
        return [torch.matmul(dg, X), dg.sum(1)]
    _, _, w2, _ = gp
    pre, h = cache
    dw2 = torch.bmm(dg[:, None, :], h)[:, 0, :]
    dh = dg[:, :, None] * w2[:, None, :]
    dpre = torch.where(pre > 0, dh, LEAK * dh)
    return [torch.matmul(dpre.transpose(1, 2), X), dpre.sum(1), dw2, dg.sum(1)]


def r_forward(rp: list[Tensor], X: Tensor, last: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """D_R logits (M, N) on rows ``[X, last]``; returns (logit, pre-activation, hidden)."""
    W1, b1, w2, b2 = rp
    pre = torch.matmul(X, W1[:, :, :-1].transpose(1, 2))  # (M, N, H)
    pre = pre + last[:, :, None] * W1[:, None, :, -1] + b1[:, None, :]
    h = torch.nn.functional.leaky_relu(pre, LEAK)
    o = torch.bmm(h, w2[:, :, None])[:, :, 0] + b2[:, None]
    return o, pre, h


def _softplus(x: Tensor) -> Tensor:
    return torch.nn.functional.softplus(x)


def _bce_prob(q: Tensor, t: Tensor) -> Tensor:
    """torch.nn.BCELoss per element: logs clamped at -100."""
    return -(
        t * torch.clamp(torch.log(q), min=-100) + (1 - t) * torch.clamp(torch.log1p(-q), min=-100)
    )


class _Fair:
    """D_F forward/backward for DP (one D_F), EO (one per label) or EOp (label 1 only)."""

    def __init__(self, data: EngineData, fairness: str, k_out: int) -> None:
        N = data.t.shape[0]
        self.k_out = k_out
        dev, dt = data.t.device, data.t.dtype
        if fairness == "dp":
            self.cidx = torch.zeros(N, dtype=torch.long, device=dev)
            mask = torch.ones(N, dtype=dt, device=dev)
        elif fairness in ("eo", "eop"):
            self.cidx = data.t.long()
            mask = torch.ones(N, dtype=dt, device=dev)
            if fairness == "eop":
                mask = data.t.clone()
        else:
            raise ValueError(f"unknown fairness measure {fairness!r}; use dp, eo or eop")
        self.n_cond = 2 if fairness == "eo" else 1
        if fairness == "eop":
            # only y = 1 rows feed the single D_F; route them to conditioning class 0
            self.cidx = torch.zeros(N, dtype=torch.long, device=dev)
        self.rowmask = mask / N  # every per-class term is divided by the total m
        self.onehot_c = torch.nn.functional.one_hot(self.cidx, self.n_cond).to(dt)  # (N, C)
        self.zf = data.z.to(dt)
        self.onehot_z = (
            torch.nn.functional.one_hot(data.z, max(k_out, 2)).to(dt)[:, :k_out]
            if k_out > 1
            else None
        )

    def rows(self, p: Tensor) -> Tensor:
        """Per-row parameter (M, N[, K]) chosen by each row's conditioning class."""
        if self.n_cond == 1:
            return p[:, 0:1] if self.k_out == 1 else p[:, 0:1, :]
        return p[:, self.cidx]

    def logits(self, fp: Tensor | list[Tensor], g: Tensor) -> Tensor:
        a, c = fp
        if self.k_out == 1:
            return g * self.rows(a[:, :, 0]) + self.rows(c[:, :, 0])
        return g[:, :, None] * self.rows(a) + self.rows(c)

    def per_example(self, lf: Tensor) -> Tensor:
        """BCE / cross-entropy of D_F for every row (M, N), unmasked."""
        if self.k_out == 1:
            return _bce_prob(torch.sigmoid(lf), self.zf)
        return -(torch.log_softmax(lf, -1) * self.onehot_z).sum(-1)

    def err(self, lf: Tensor) -> Tensor:
        """dCE/dlogit per row, unscaled: (M, N) or (M, N, K)."""
        if self.k_out == 1:
            return torch.sigmoid(lf) - self.zf
        return torch.softmax(lf, -1) - self.onehot_z

    def param_grads(self, e: Tensor, g: Tensor, w: Tensor) -> list[Tensor]:
        """Gradients of sum_i w_i CE_i for the D_F parameters, ``e = err``."""
        if self.k_out == 1:
            ew = e * w
            da = torch.matmul(ew * g, self.onehot_c)[:, :, None]
            dc = torch.matmul(ew, self.onehot_c)[:, :, None]
            return [da, dc]
        ew = e * w[:, :, None]
        da = torch.einsum("mnk,nc->mck", ew * g[:, :, None], self.onehot_c)
        dc = torch.einsum("mnk,nc->mck", ew, self.onehot_c)
        return [da, dc]

    def dlogit_dg(self, fp: list[Tensor], e: Tensor) -> Tensor:
        """d CE_i / d g_i (M, N)."""
        a = fp[0]
        if self.k_out == 1:
            return e * self.rows(a[:, :, 0])
        return (e * self.rows(a)).sum(-1)


def _adam(st: EngineState, grads: list[Tensor], lr: float) -> None:
    """torch.optim.Adam (default betas, eps=1e-8, single-tensor path), on stacked params."""
    b1, b2, eps = 0.9, 0.999, 1e-8
    st.adam_step += 1
    bc1 = 1 - b1**st.adam_step
    bc2_sqrt = math.sqrt(1 - b2**st.adam_step)
    for p, g, m, v in zip(st.g_params, grads, st.adam_m, st.adam_v, strict=True):
        m.lerp_(g, 1 - b1)
        v.mul_(b2).addcmul_(g, g, value=1 - b2)
        denom = (v.sqrt() / bc2_sqrt).add_(eps)
        p.addcdiv_(m, denom, value=-lr / bc1)


def train(
    st: EngineState,
    data: EngineData,
    lam_f: Tensor,
    lam_r: Tensor,
    cfg: EngineConfig,
    *,
    shuffle_seed: int = 0,
    progress: Callable[[int], None] | None = None,
    record_every: int = 0,
) -> EngineState:
    """Run ``cfg.epochs`` epochs of FR-Train on all M models at once (ALGORITHMS.md §1.3).

    One epoch with full batch is one step: D_F step, D_R step, then (pretraining or every
    k-th step) a G step. With ``batch_size`` the same happens per mini-batch, with the step
    counter driving the 1:k ratio and pretraining lasting ``pretrain_epochs`` epochs.
    """
    M = lam_f.shape[0]
    X, t, Xv, yv = data.X, data.t, data.Xv, data.yv
    N, Nv = X.shape[0], Xv.shape[0]
    dt, dev = X.dtype, X.device
    k_out = st.f_params[0].shape[-1]
    fair = _Fair(data, cfg.fairness, k_out)
    sw = data.sample_weight
    lam_l1 = (1 - lam_f - lam_r)[:, None]
    lam_f_, lam_r_ = lam_f[:, None], lam_r[:, None]
    if st.weights is None:
        st.weights = torch.ones(M, N, dtype=dt, device=dev)
    if st.last_g_loss is None:
        st.last_g_loss = torch.zeros(M, dtype=dt, device=dev)
    Xall = torch.cat([X, Xv], 0)
    yv_rows = yv[None, :].expand(M, Nv)
    # D_R targets: 0 for generated rows, 1 for validation rows; the two halves are
    # averaged equally (0.5 each) as in the notebook.
    batch = cfg.batch_size if cfg.batch_size and cfg.batch_size < N else None
    n_batches = 1 if batch is None else math.ceil(N / batch)
    pre_steps = cfg.pretrain_epochs * n_batches
    total_steps = cfg.epochs * n_batches
    shuf = torch.Generator().manual_seed(int(shuffle_seed))
    avg_start = None
    if cfg.average_last > 0:
        avg_start = int(total_steps * (1 - cfg.average_last))
        st.avg_params = [torch.zeros_like(p) for p in st.g_params]
        st.avg_count = 0
    refresh_w = cfg.reweight in ("paper", "notebook")
    step = 0
    ldr = torch.zeros(M, dtype=dt, device=dev)
    with torch.no_grad():
        for epoch in range(cfg.epochs):
            order = None if batch is None else torch.randperm(N, generator=shuf).to(dev)
            for bi in range(n_batches):
                if order is None:
                    Xb, tb, idx = X, t, None
                    fair_b = fair
                    Xall_b = Xall
                else:
                    idx = order[bi * batch : (bi + 1) * batch]
                    Xb, tb = X[idx], t[idx]
                    Xall_b = torch.cat([Xb, Xv], 0)
                    fair_b = _subset_fair(fair, idx)
                Nb = Xb.shape[0]
                g, gcache = g_forward(st.g_params, Xb)

                # ---- D_F step: minimise mean CE(D_F(g), z) -----------------------------
                fp = st.f_params
                lf = fair_b.logits(fp, g)
                e = fair_b.err(lf)
                mask = fair_b.rowmask * (N / Nb)
                grads_f = fair_b.param_grads(e, g, mask[None, :].expand(M, Nb))
                for p, gr in zip(fp, grads_f, strict=True):
                    p.sub_(cfg.lr_f * gr)

                # ---- D_R step: 0.5 [BCE(D_R(val), 1) + BCE(D_R(gen), 0)] ---------------
                rp = st.r_params
                last = torch.cat([g, yv_rows], 1)
                o, pre, h = r_forward(rp, Xall_b, last)
                q = torch.sigmoid(o)
                er = torch.cat([q[:, :Nb] * (0.5 / Nb), (q[:, Nb:] - 1) * (0.5 / Nv)], 1)
                need_ldr = refresh_w and step >= pre_steps and (step % cfg.refresh_every == 0)
                if need_ldr:
                    ldr = 0.5 * (_softplus(o[:, :Nb]).mean(1) + _softplus(-o[:, Nb:]).mean(1))
                dw2 = torch.bmm(er[:, None, :], h)[:, 0, :]
                db2 = er.sum(1)
                dh = er[:, :, None] * rp[2][:, None, :]
                dpre = torch.where(pre > 0, dh, LEAK * dh)
                dW1x = torch.matmul(dpre.transpose(1, 2), Xall_b)
                dw1g = torch.bmm(last[:, None, :], dpre)[:, 0, :]
                db1 = dpre.sum(1)
                rp[0][:, :, :-1].sub_(cfg.lr_r * dW1x)
                rp[0][:, :, -1].sub_(cfg.lr_r * dw1g)
                rp[1].sub_(cfg.lr_r * db1)
                rp[2].sub_(cfg.lr_r * dw2)
                rp[3].sub_(cfg.lr_r * db2)

                # ---- G step --------------------------------------------------------------
                if step < pre_steps:
                    if cfg.pretrain_link == "tanh":
                        p2 = torch.sigmoid(2 * g)
                        dg = (cfg.c_pre * 2.0 / Nb) * (p2 - tb)
                        if step == pre_steps - 1:
                            pt = (torch.tanh(g) + 1) / 2
                            st.last_g_loss = cfg.c_pre * _bce_prob(pt, tb).mean(1)
                    else:
                        dg = (cfg.c_pre / Nb) * (torch.sigmoid(g) - tb)
                        if step == pre_steps - 1:
                            st.last_g_loss = cfg.c_pre * (_softplus(g) - tb * g).mean(1)
                    if sw is not None:
                        dg = dg * (sw if idx is None else sw[idx])
                    _adam(st, g_backward(st.g_params, Xb, gcache, dg), cfg.lr_g)
                elif step % cfg.k == 0:
                    o2, pre2, _ = r_forward(rp, Xb, g)
                    qr = torch.sigmoid(o2)
                    W = st.weights if idx is None else st.weights[:, idx]
                    if refresh_w and step % cfg.refresh_every == 0:
                        W = _refresh(st, cfg, qr, ldr, g, tb, idx)
                    Weff = W if sw is None else W * (sw if idx is None else sw[idx])
                    ps = torch.sigmoid(g)
                    lf2 = fair_b.logits(st.f_params, g)
                    e2 = fair_b.err(lf2)
                    dF = fair_b.dlogit_dg(st.f_params, e2) * mask
                    dg = lam_l1 * Weff * (ps - tb) / Nb - lam_f_ * Weff * dF
                    if cfg.robust_grad:
                        slope = torch.where(pre2 > 0, 1.0, LEAK).to(dt)
                        w_eff = (rp[2] * rp[0][:, :, -1])[:, :, None]
                        do_dg = torch.bmm(slope, w_eff)[:, :, 0]
                        dg = dg - lam_r_ * qr * do_dg / Nb
                    if cfg.reweight == "notebook":
                        l1v = (Weff * (_softplus(g) - tb * g)).mean(1)
                        fv = (Weff * fair_b.per_example(lf2) * mask * Nb).mean(1)
                        rv = torch.clamp(_softplus(o2), max=100.0).mean(1)
                        st.last_g_loss = lam_l1[:, 0] * l1v - lam_f * fv - lam_r * rv
                    _adam(st, g_backward(st.g_params, Xb, gcache, dg), cfg.lr_g)
                    if avg_start is not None and step >= avg_start and st.avg_params is not None:
                        st.avg_count += 1
                        for a, p in zip(st.avg_params, st.g_params, strict=True):
                            a.add_(p - a, alpha=1.0 / st.avg_count)
                step += 1
            if record_every and (epoch % record_every == 0 or epoch == cfg.epochs - 1):
                st.history.setdefault("epoch", []).append(epoch)
            if progress is not None:
                progress(epoch)
    return st


def _refresh(
    st: EngineState,
    cfg: EngineConfig,
    qr: Tensor,
    ldr: Tensor,
    g: Tensor,
    tb: Tensor,
    idx: Tensor | None,
) -> Tensor:
    """Recompute the example weights W from D_R's decisions (paper Section 3.3).

    ``notebook``: R = sigmoid(last G loss / L_DR - C), W = R * D + (1 - R) (the shipped
    code's swapped roles and negative loss ratio, ALGORITHMS.md §1.5 items 1-2).
    ``paper``: R = sigmoid(L_c / L_d - C) with L_c the classifier's own cross-entropy, so the
    ratio is positive; W = R + D (1 - R), optionally rescaled to mean 1.
    """
    assert st.weights is not None and st.last_g_loss is not None
    if cfg.reweight == "notebook":
        R = torch.sigmoid(st.last_g_loss / ldr - cfg.reweight_c)[:, None]
        W = R * qr + (1 - R)
    else:
        lc = (_softplus(g) - tb * g).mean(1)
        R = torch.sigmoid(lc / ldr - cfg.reweight_c)[:, None]
        W = R + qr * (1 - R)
        if cfg.normalize_weights:
            W = W / W.mean(1, keepdim=True)
    if idx is None:
        st.weights = W
    else:
        st.weights[:, idx] = W
    return W


def _subset_fair(fair: _Fair, idx: Tensor) -> _Fair:
    """A view of ``fair`` restricted to the rows of one mini-batch."""
    sub = object.__new__(_Fair)
    sub.k_out = fair.k_out
    sub.n_cond = fair.n_cond
    sub.cidx = fair.cidx[idx]
    sub.rowmask = fair.rowmask[idx]
    sub.onehot_c = fair.onehot_c[idx]
    sub.zf = fair.zf[idx]
    sub.onehot_z = None if fair.onehot_z is None else fair.onehot_z[idx]
    return sub
