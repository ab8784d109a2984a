"""Batched FR-Train training loop with hand-written gradients (private).

All ``M`` models of a hyperparameter grid live in one set of stacked tensors (weights of
shape ``(M, ...)``), so a whole lambda sweep costs about as many tensor operations as a
single run. Gradients are written out by hand instead of going through autograd: the
networks are tiny (a logistic-regression generator, a 1-unit fairness discriminator, a
16-unit robustness discriminator) and per-step Python/autograd overhead, not arithmetic,
dominates a 10,000-step full-batch run. ``tests/trainer/test_fr_train_engine.py`` checks
these gradients and the optimiser updates against a plain autograd transcription of the
authors' notebook.

Notation follows the paper (Section 3.3) and docs/ALGORITHMS.md §1:

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
    weights: Tensor | None = None  # (M, N) example weights W
    last_g_loss: Tensor | None = None  # (M,) G's latest loss (what the G step minimised)
    step: int = 0
    #: resumable training state (None before the first call of :func:`train`)
    adam: dict[str, Any] | None = None  # G's Adam moments and step count
    g_last_params: list[Tensor] | None = None  # G's last iterate (differs when averaging)
    g_average: list[Tensor] | None = None  # running average of G (working form)
    g_average_n: int = 0
    shuffle_state: Tensor | None = None  # mini-batch shuffling RNG
    g_loss_history: list[tuple[int, Tensor]] = field(default_factory=list)


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
    docs/ALGORITHMS.md §1.2). A private ``torch.Generator`` seeded the same way yields the same
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

    return EngineState(g_params=stack(0), f_params=stack(1), r_params=stack(2))


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
        self.cmask_t = (self.onehot_c * self.rowmask[:, None]).t().contiguous()
        self.zf = data.z.to(dt)
        self.onehot_z: Tensor | None = (
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
        assert self.onehot_z is not None
        return -(torch.log_softmax(lf, -1) * self.onehot_z).sum(-1)

    def err(self, lf: Tensor) -> Tensor:
        """dCE/dlogit per row, unscaled: (M, N) or (M, N, K)."""
        if self.k_out == 1:
            return torch.sigmoid(lf) - self.zf
        assert self.onehot_z is not None
        return torch.softmax(lf, -1) - self.onehot_z

    def param_grads(self, e: Tensor, g: Tensor) -> list[Tensor]:
        """Gradients of sum_i rowmask_i CE_i for the D_F parameters, ``e = err(logits)``."""
        if self.k_out == 1:
            # (C, N) @ (N, M): the transposed product is the fast BLAS shape here
            da = (self.cmask_t @ (e * g).t()).t()[:, :, None]
            dc = (self.cmask_t @ e.t()).t()[:, :, None]
            return [da, dc]
        da = torch.einsum("mnk,cn->mck", e * g[:, :, None], self.cmask_t)
        dc = torch.einsum("mnk,cn->mck", e, self.cmask_t)
        return [da, dc]

    def dlogit_dg(self, fp: list[Tensor], e: Tensor) -> Tensor:
        """rowmask_i * d CE_i / d g_i (M, N)."""
        a = fp[0]
        if self.k_out == 1:
            return e * self.rows(a[:, :, 0]) * self.rowmask
        return (e * self.rows(a)).sum(-1) * self.rowmask

    def subset(self, idx: Tensor, scale: float) -> _Fair:
        """A view restricted to the rows of one mini-batch (masks rescaled by N / batch)."""
        sub = object.__new__(_Fair)
        sub.k_out, sub.n_cond = self.k_out, self.n_cond
        sub.cidx = self.cidx[idx]
        sub.rowmask = self.rowmask[idx] * scale
        sub.onehot_c = self.onehot_c[idx]
        sub.cmask_t = (sub.onehot_c * sub.rowmask[:, None]).t().contiguous()
        sub.zf = self.zf[idx]
        sub.onehot_z = None if self.onehot_z is None else self.onehot_z[idx]
        return sub


def _leaky_grad(grad: Tensor, pre: Tensor) -> Tensor:
    # aten's own LeakyReLU backward: one fused op instead of compare + multiply + where
    return torch.ops.aten.leaky_relu_backward(grad, pre, LEAK, False)


class _Generator:
    """G in working form: bias folded into the weight (inputs carry a column of ones)."""

    def __init__(self, gp: list[Tensor]) -> None:
        self.hidden = len(gp) == 4
        if self.hidden:
            W1, b1, w2, b2 = gp
            M, H, d = W1.shape
            self.H = H
            self.params = [
                torch.cat([W1, b1[:, :, None]], 2).reshape(M * H, d + 1).contiguous(),
                w2.clone(),
                b2.clone(),
            ]
        else:
            w, b = gp
            self.params = [torch.cat([w, b[:, None]], 1).contiguous()]

    def forward(self, X1t: Tensor) -> tuple[Tensor, Any]:
        if not self.hidden:
            return self.params[0] @ X1t, None
        G1, g2, gb2 = self.params
        M = g2.shape[0]
        pre = (G1 @ X1t).view(M, self.H, -1)
        h = torch.nn.functional.leaky_relu(pre, LEAK)
        g = torch.baddbmm(gb2[:, None, None], g2[:, None, :], h)[:, 0]
        return g, (pre, h)

    def backward(self, X1t: Tensor, cache: Any, dg: Tensor) -> list[Tensor]:
        if not self.hidden:
            return [(X1t @ dg.t()).t()]
        _, g2, _ = self.params
        pre, h = cache
        M = g2.shape[0]
        dg2 = torch.bmm(dg[:, None, :], h.transpose(1, 2))[:, 0]
        dpre = _leaky_grad(g2[:, :, None] * dg[:, None, :], pre)
        dG1 = (X1t @ dpre.view(M * self.H, -1).t()).t()
        return [dG1, dg2, dg.sum(1)]

    def export(self) -> list[Tensor]:
        if not self.hidden:
            P = self.params[0]
            return [P[:, :-1].clone(), P[:, -1].clone()]
        G1, g2, gb2 = self.params
        M = g2.shape[0]
        G = G1.view(M, self.H, -1)
        return [G[:, :, :-1].clone(), G[:, :, -1].clone(), g2.clone(), gb2.clone()]


class _Adam:
    """torch.optim.Adam (default betas, eps = 1e-8, single-tensor path) on stacked params.

    Adam is elementwise, so M stacked models (and a bias folded into its weight) update
    exactly as M separate optimisers would.
    """

    def __init__(self, params: list[Tensor], lr: float) -> None:
        self.params, self.lr = params, lr
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]
        self.t = 0

    def step(self, grads: list[Tensor]) -> None:
        b1, b2, eps = 0.9, 0.999, 1e-8
        self.t += 1
        bc1 = 1 - b1**self.t
        bc2_sqrt = math.sqrt(1 - b2**self.t)
        for p, g, m, v in zip(self.params, grads, self.m, self.v, strict=True):
            m.lerp_(g, 1 - b1)
            v.mul_(b2).addcmul_(g, g, value=1 - b2)
            denom = (v.sqrt() / bc2_sqrt).add_(eps)
            p.addcdiv_(m, denom, value=-self.lr / bc1)

    def state(self, n_models: int) -> dict[str, Any]:
        """Moments (one flat row per model) and step count: what resuming needs."""
        return {
            "m": _per_model(self.m, n_models),
            "v": _per_model(self.v, n_models),
            "t": self.t,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        for mine, saved in zip(self.m, state["m"], strict=True):
            mine.copy_(saved.reshape(mine.shape))
        for mine, saved in zip(self.v, state["v"], strict=True):
            mine.copy_(saved.reshape(mine.shape))
        self.t = int(state["t"])


def _per_model(ts: list[Tensor], n_models: int) -> list[Tensor]:
    """Working-form tensors (model-major rows) as one flat row per model: (M, -1)."""
    return [t.reshape(n_models, -1).clone() for t in ts]


class _RobustD:
    """D_R in working form: ``R1`` (M*H, d+1) acts on [x, z, 1]; ``r1g`` (M, H) on the
    last input column (the logit for training rows, the label for validation rows)."""

    def __init__(self, rp: list[Tensor]) -> None:
        W1, b1, w2, b2 = rp
        M, H, d1 = W1.shape
        self.M, self.H = M, H
        self.R1 = torch.cat([W1[:, :, :-1], b1[:, :, None]], 2).reshape(M * H, d1).contiguous()
        self.r1g = W1[:, :, -1].contiguous()
        self.w2, self.b2 = w2.clone(), b2.clone()
        self._bufs: dict[tuple[str, int], Tensor] = {}

    def _buf(self, tag: str, n: int) -> Tensor:
        # preallocated (M*H, n) work buffers: the hidden layer is the only large tensor of a
        # step, and reusing its storage avoids a fresh multi-MB allocation per op
        key = (tag, n)
        buf = self._bufs.get(key)
        if buf is None:
            buf = torch.empty(self.M * self.H, n, dtype=self.R1.dtype, device=self.R1.device)
            self._bufs[key] = buf
        return buf

    def forward(
        self, X1t: Tensor, last: Tensor, tag: str = "step"
    ) -> tuple[Tensor, Tensor, Tensor]:
        n = X1t.shape[1]
        pre = torch.mm(self.R1, X1t, out=self._buf(tag + "pre", n)).view(self.M, self.H, n)
        pre.addcmul_(self.r1g[:, :, None], last[:, None, :])
        h = self._buf(tag + "h", n).view(self.M, self.H, n)
        torch.ops.aten.leaky_relu.out(pre, LEAK, out=h)
        o = torch.baddbmm(self.b2[:, None, None], self.w2[:, None, :], h)[:, 0]
        return o, pre, h

    def sgd_step(self, X1t: Tensor, last: Tensor, pre: Tensor, h: Tensor, er: Tensor, lr: float):
        """One SGD step given dLoss/dlogit ``er`` (M, N')."""
        n = X1t.shape[1]
        dpre = self._buf("dpre", n).view(self.M, self.H, n)
        torch.mul(self.w2[:, :, None], er[:, None, :], out=dpre)
        torch.ops.aten.leaky_relu_backward.grad_input(dpre, pre, LEAK, False, grad_input=dpre)
        dR1 = (X1t @ dpre.view(self.M * self.H, -1).t()).t()
        # batched mat-vec as (M,1,N) @ (M,N,H): the transposed form is the fast GEMM shape
        dr1g = torch.bmm(last[:, None, :], dpre.transpose(1, 2))[:, 0]
        dw2 = torch.bmm(er[:, None, :], h.transpose(1, 2))[:, 0]
        self.R1.sub_(dR1, alpha=lr)
        self.r1g.sub_(dr1g, alpha=lr)
        self.w2.sub_(dw2, alpha=lr)
        self.b2.sub_(er.sum(1), alpha=lr)

    def dlogit_dinput(self, pre: Tensor) -> Tensor:
        """d D_R-logit / d last-column input, per row (M, N)."""
        n = pre.shape[2]
        u = (self.w2 * self.r1g)[:, :, None].expand_as(pre)
        out = self._buf("du", n).view(self.M, self.H, n)
        torch.ops.aten.leaky_relu_backward.grad_input(u, pre, LEAK, False, grad_input=out)
        return out.sum(1)

    def export(self) -> list[Tensor]:
        R = self.R1.view(self.M, self.H, -1)
        W1 = torch.cat([R[:, :, :-1], self.r1g[:, :, None]], 2)
        return [W1.clone(), R[:, :, -1].clone(), self.w2.clone(), self.b2.clone()]


def _ones_row(X: Tensor) -> Tensor:
    """[X, 1] transposed: (d+1, N), so a bias rides along in every matmul."""
    return torch.cat([X, torch.ones(X.shape[0], 1, dtype=X.dtype, device=X.device)], 1).t()


@dataclass
class _Rows:
    """The rows one step trains on: the full set, or one mini-batch."""

    X1t: Tensor  # (d+1, Nb) generator input with a row of ones
    t: Tensor  # (Nb,) BCE targets in {0, 1}
    fair: _Fair  # D_F's routing and masks for these rows
    Xall1t: Tensor  # (d+1, Nb + Nv) D_R's input rows: these rows, then the validation rows
    tgt: Tensor  # (Nb + Nv,) D_R targets: 0 for generated rows, 1 for validation rows
    scale: Tensor  # (Nb + Nv,) 0.5 / Nb and 0.5 / Nv: each half is a mean
    last: Tensor  # (M, Nb + Nv) D_R's last input column: logits, then validation labels
    idx: Tensor | None  # row indices of a mini-batch (None: full batch)
    sw: Tensor | None  # sample weights of these rows


@dataclass
class _Lambdas:
    l1: Tensor  # (M, 1) weight of L1: 1 - lambda_f - lambda_r
    f: Tensor  # (M, 1) lambda_f (lambda_1)
    r: Tensor  # (M, 1) lambda_r (lambda_2)


def fairness_step(fair: _Fair, fp: list[Tensor], g: Tensor, lr: float) -> None:
    """D_F step: one SGD step on D_F's cross-entropy of the sensitive group given the logit.

    Loss differentiated: ``(1/m) sum_i CE(D_F(g_i), z_i)`` (BCE for binary z, softmax CE for
    |Z| > 2), whose minimum over D_F is the inner max of ``L_2`` in the paper's Section 3.3
    (mutual information I(Z; Y_hat) by Theorem 1, Section 3.1). For EO / EOp the rows go to
    the D_F of their label (Appendix A.2, Theorem 3). ``g`` is a constant here (detached).
    """
    grads = fair.param_grads(fair.err(fair.logits(fp, g)), g)
    fp[0].sub_(grads[0], alpha=lr)
    fp[1].sub_(grads[1], alpha=lr)


def robustness_step(
    DR: _RobustD, rows: _Rows, g: Tensor, lr: float, want_loss: bool
) -> Tensor | None:
    """D_R step: one SGD step on D_R's cross-entropy of "validation row or generated row".

    Loss differentiated: ``0.5 [BCE(D_R(x_val, z_val, y_val), 1) + BCE(D_R(x, z, y_hat), 0)]``,
    whose minimum over D_R is the inner max of ``L_3`` in the paper's Section 3.3 (mutual
    information I(V; X, Z, Y) by Theorem 2, Section 3.2). Returns that loss per model
    (M,) before the step when ``want_loss`` (the re-weighting's L_d), else None.
    """
    nb = rows.t.shape[0]
    rows.last[:, :nb] = g
    o, pre, h = DR.forward(rows.Xall1t, rows.last)
    er = (torch.sigmoid(o) - rows.tgt) * rows.scale
    loss = None
    if want_loss:
        loss = 0.5 * (_softplus(o[:, :nb]).mean(1) + _softplus(-o[:, nb:]).mean(1))
    DR.sgd_step(rows.Xall1t, rows.last, pre, h, er, lr)
    return loss


def generator_pretrain_step(
    G: _Generator, opt: _Adam, rows: _Rows, g: Tensor, gcache: Any, cfg: EngineConfig,
    want_loss: bool,
) -> Tensor | None:  # fmt: skip
    """G pretraining step: one Adam step on ``c_pre * L1`` alone (docs/ALGORITHMS.md §1.3).

    Loss differentiated: ``c_pre * BCE(sigmoid(2 g), y)`` with the notebook's
    ``(tanh g + 1) / 2 = sigmoid(2 g)`` link, or ``c_pre * BCE(sigmoid(g), y)`` with
    ``pretrain_link="logit"``: the paper's L1 (Section 3.3) before the adversarial game.
    Returns that loss per model (M,) when ``want_loss``, else None.
    """
    nb = rows.t.shape[0]
    if cfg.pretrain_link == "tanh":
        # d/dg BCE((tanh g + 1)/2, t) = 2 (sigmoid(2g) - t)
        dg = (torch.sigmoid(2 * g) - rows.t) * (cfg.c_pre * 2.0 / nb)
    else:
        dg = (torch.sigmoid(g) - rows.t) * (cfg.c_pre / nb)
    loss = cfg.c_pre * _pretrain_loss(g, rows.t, cfg.pretrain_link) if want_loss else None
    if rows.sw is not None:
        dg = dg * rows.sw
    opt.step(G.backward(rows.X1t, gcache, dg))
    return loss


def generator_step(
    G: _Generator, opt: _Adam, DR: _RobustD, fp: list[Tensor], rows: _Rows, g: Tensor,
    gcache: Any, st: EngineState, lam: _Lambdas, ldr: Tensor, refresh: bool, cfg: EngineConfig,
) -> Tensor:  # fmt: skip
    """G step: one Adam step on the generator's FR-Train objective; returns its loss (M,).

    Loss differentiated (paper Section 3.3, ``min_G (1 - l1 - l2) L1 + l1 L2 + l2 L3``, G's
    side of the two max problems): ``(1 - l1 - l2) mean(W * BCE(sigmoid(g), y))
    - l1 mean(W * CE(D_F(g), z)) - l2 mean(BCE(D_R(x, z, g), 0))``: G lowers its own
    cross-entropy and raises both discriminators'. ``W`` are the example weights of the
    re-weighting (Section 3.3; recomputed from D_R's decisions when ``refresh``). With
    ``robust_grad=False`` (the clean notebook) the last term sends G no gradient.
    """
    fair = rows.fair
    nb = rows.t.shape[0]
    o2, pre2, _ = DR.forward(rows.X1t, g, tag="g")
    qr = torch.sigmoid(o2)
    assert st.weights is not None
    W = st.weights if rows.idx is None else st.weights[:, rows.idx]
    if refresh:
        W = _refresh(st, cfg, qr, ldr, g, rows.t, rows.idx)
    if rows.sw is not None:
        W = W * rows.sw
    lf2 = fair.logits(fp, g)
    e2 = fair.err(lf2)
    inner = lam.l1 * (torch.sigmoid(g) - rows.t) / nb
    dg = W * (inner - lam.f * fair.dlogit_dg(fp, e2))
    if cfg.robust_grad:
        dg = dg - lam.r * qr * DR.dlogit_dinput(pre2) / nb
    l1v = (W * (_softplus(g) - rows.t * g)).mean(1)
    fv = (W * fair.per_example(lf2) * fair.rowmask).sum(1)
    rv = torch.clamp(_softplus(o2), max=100.0).mean(1)
    loss = lam.l1[:, 0] * l1v - lam.f[:, 0] * fv - lam.r[:, 0] * rv
    opt.step(G.backward(rows.X1t, gcache, dg))
    return loss


def train(
    st: EngineState,
    data: EngineData,
    lam_f: Tensor,
    lam_r: Tensor,
    cfg: EngineConfig,
    *,
    shuffle_seed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> EngineState:
    """Run FR-Train on all M models at once up to ``cfg.epochs`` epochs (docs/ALGORITHMS.md §1.3).

    Full batch: one epoch is one step: :func:`fairness_step`, :func:`robustness_step`, then
    :func:`generator_pretrain_step` during pretraining or :func:`generator_step` on every
    k-th step (G:D = 1:k). With ``batch_size`` the same happens for each mini-batch
    (reshuffled every epoch from ``shuffle_seed``); the step counter drives the 1:k ratio,
    and pretraining lasts ``pretrain_epochs`` epochs.

    A state that has trained before (``st.step > 0``, e.g. a checkpoint) resumes where it
    stopped: the Adam moments, example weights, averaging and shuffling state are part of
    ``st``, so stopping and resuming gives the same models as one uninterrupted run.
    ``st.g_loss`` holds G's latest loss per model and ``st.g_loss_history`` one
    ``(step, loss)`` pair per re-weighting refresh.
    """
    M = lam_f.shape[0]
    X, t, Xv, yv = data.X, data.t, data.Xv, data.yv
    N, Nv = X.shape[0], Xv.shape[0]
    dt, dev = X.dtype, X.device
    fair = _Fair(data, cfg.fairness, st.f_params[0].shape[-1])
    sw = data.sample_weight
    lam = _Lambdas(l1=(1 - lam_f - lam_r)[:, None], f=lam_f[:, None], r=lam_r[:, None])
    if st.weights is None:
        st.weights = torch.ones(M, N, dtype=dt, device=dev)
    if st.last_g_loss is None:
        st.last_g_loss = torch.zeros(M, dtype=dt, device=dev)
    # resume from G's last iterate, not from its average (the read-out)
    G = _Generator(st.g_last_params if st.g_last_params is not None else st.g_params)
    opt = _Adam(G.params, cfg.lr_g)
    if st.adam is not None:
        opt.load_state(st.adam)
    DR = _RobustD(st.r_params)
    fp = st.f_params
    X1t_full = _ones_row(X)
    Xv1t = _ones_row(Xv)
    batch = cfg.batch_size if cfg.batch_size and cfg.batch_size < N else None
    n_batches = 1 if batch is None else math.ceil(N / batch)
    pre_steps = cfg.pretrain_epochs * n_batches
    shuf = torch.Generator().manual_seed(int(shuffle_seed))
    if st.shuffle_state is not None:
        shuf.set_state(st.shuffle_state)
    total_steps = cfg.epochs * n_batches
    avg_start = int(total_steps * (1 - cfg.average_last)) if cfg.average_last > 0 else None
    avg = None
    if st.g_average is not None:
        avg = [a.reshape(p.shape).clone() for a, p in zip(st.g_average, G.params, strict=True)]
    avg_n = st.g_average_n
    refresh_w = cfg.reweight in ("paper", "notebook")
    if cfg.reweight not in ("paper", "notebook", "off"):
        raise ValueError(f"unknown reweight mode {cfg.reweight!r}; use paper, notebook or off")

    def layout(X1t: Tensor, nb: int, tb: Tensor, f: _Fair, idx: Tensor | None) -> _Rows:
        # D_R sees generated rows (target 0) then validation rows (target 1); each half is
        # a mean, averaged 0.5/0.5 as in the notebook.
        tgt = torch.cat([torch.zeros(nb, dtype=dt), torch.ones(Nv, dtype=dt)]).to(dev)
        scale = torch.cat(
            [torch.full((nb,), 0.5 / nb, dtype=dt), torch.full((Nv,), 0.5 / Nv, dtype=dt)]
        ).to(dev)
        last = torch.empty(M, nb + Nv, dtype=dt, device=dev)
        last[:, nb:] = yv[None, :]
        rsw = None if sw is None else (sw if idx is None else sw[idx])
        return _Rows(X1t, tb, f, torch.cat([X1t, Xv1t], 1), tgt, scale, last, idx, rsw)

    full = layout(X1t_full, N, t, fair, None)
    step = st.step
    ldr = torch.zeros(M, dtype=dt, device=dev)
    with torch.no_grad():
        for epoch in range(step // n_batches, cfg.epochs):
            order = None if batch is None else torch.randperm(N, generator=shuf).to(dev)
            for bi in range(n_batches):
                if order is None:
                    rows = full
                else:
                    assert batch is not None
                    idx = order[bi * batch : (bi + 1) * batch]
                    rows = layout(
                        X1t_full[:, idx], len(idx), t[idx], fair.subset(idx, N / len(idx)), idx
                    )
                g, gcache = G.forward(rows.X1t)
                fairness_step(rows.fair, fp, g, cfg.lr_f)
                main = step >= pre_steps
                refresh = refresh_w and main and step % cfg.refresh_every == 0
                out = robustness_step(DR, rows, g, cfg.lr_r, want_loss=refresh)
                if out is not None:
                    ldr = out
                if not main:
                    loss = generator_pretrain_step(
                        G, opt, rows, g, gcache, cfg, want_loss=step == pre_steps - 1
                    )
                    if loss is not None:
                        st.last_g_loss = loss
                elif step % cfg.k == 0:
                    st.last_g_loss = generator_step(
                        G, opt, DR, fp, rows, g, gcache, st, lam, ldr, refresh, cfg
                    )
                    if refresh:
                        st.g_loss_history.append((step, st.last_g_loss.detach().cpu()))
                    if avg_start is not None and step >= avg_start:
                        avg_n += 1
                        if avg is None:
                            avg = [p.clone() for p in G.params]
                        else:
                            for a, p in zip(avg, G.params, strict=True):
                                a.add_(p - a, alpha=1.0 / avg_n)
                step += 1
            if progress is not None:
                progress(epoch)
    # the state to resume from: the last iterate, its optimiser and the running average
    st.adam = opt.state(M)
    st.g_average = None if avg is None else _per_model(avg, M)
    st.g_average_n = avg_n
    st.shuffle_state = shuf.get_state()
    st.g_last_params = G.export()
    if avg is not None:
        G_avg = _Generator(st.g_params)
        for p, a in zip(G_avg.params, avg, strict=True):
            p.copy_(a)
        st.g_params = G_avg.export()
    else:
        st.g_params = st.g_last_params
    st.r_params = DR.export()
    st.step = step
    return st


def _pretrain_loss(g: Tensor, t: Tensor, link: str) -> Tensor:
    if link == "tanh":
        return _bce_prob((torch.tanh(g) + 1) / 2, t).mean(1)
    return (_softplus(g) - t * g).mean(1)


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

    ``notebook``: R = sigmoid(last G loss / L_DR - C), W = R * D + (1 - R): the shipped
    code's swapped roles and (negative) total G loss, docs/ALGORITHMS.md §1.5 items 1-2.
    ``paper``: R = sigmoid(L_c / L_d - C) with L_c the classifier's own cross-entropy (so
    the ratio is positive) and W = R + D (1 - R), optionally rescaled to mean 1.
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
