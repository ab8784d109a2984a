"""The networks in working form (stacked over M models) with hand-written gradients:
D_F (:class:`_Fair`), G (:class:`_Generator`), D_R (:class:`_RobustD`) and G's Adam."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from .state import EngineData

LEAK = 0.2  # LeakyReLU slope used by the authors' D_R (FRTrain_arch.py)


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
    """D_R in working form: ``W`` (M, H, d+2) acts on one input column per row,
    ``[x, z, 1, last]``: the first layer's weights with its bias folded in before the last
    input (the logit for training rows, the label for validation rows).

    The input of each model is one (d+2, n) matrix (:func:`d_r_input`), so the first layer is
    one batched matmul and its gradient another. A step touches the (M, H, n) hidden layer,
    the only large tensor, in five passes held in one preallocated buffer: the matmul writes
    the pre-activation, LeakyReLU turns it into ``h`` in place, the output reads ``h``, the
    LeakyReLU slope overwrites ``h`` (``h > 0`` exactly where the pre-activation is), and
    the gradient matmul reads the slope. ``dw2`` comes from the same product: with
    ``A = slope @ (er * input)^T``, ``dW = w2 * A`` and ``dw2 = sum_k W * A`` (because
    ``h = slope * (W @ input)``), so ``h`` is never read again.
    """

    def __init__(self, rp: list[Tensor]) -> None:
        W1, b1, w2, b2 = rp
        M, H, _ = W1.shape
        self.M, self.H = M, H
        self.W = torch.cat([W1[:, :, :-1], b1[:, :, None], W1[:, :, -1:]], 2).contiguous()
        self.w2, self.b2 = w2.clone(), b2.clone()
        # views made once: the parameters change in place, and at this size every tensor
        # operation saved per step (a view included) is a measurable share of the step
        self._b2v, self._w2row = self.b2[:, None, None], self.w2[:, None, :]
        self._w2col = self.w2[:, :, None]
        self._work: dict[tuple[str, int], _Work] = {}
        self._ones = torch.ones((), dtype=W1.dtype, device=W1.device)

    def work(self, tag: str, n: int, k: int) -> _Work:
        """Preallocated work tensors for ``n`` input columns of ``k`` rows: the (M, H, n)
        hidden layer is the only large tensor of a step, and reusing its storage avoids a
        fresh multi-MB allocation per op."""
        key = (tag, n)
        wk = self._work.get(key)
        if wk is None:
            wk = self._work[key] = _Work(self.M, self.H, n, k, self._ones)
        return wk

    def forward(self, inp: Tensor, tag: str = "step") -> tuple[Tensor, Tensor]:
        """D_R's logit (M, n) on ``inp`` (M, d+2, n), and ``h`` (in a work buffer)."""
        wk = self.work(tag, inp.shape[2], inp.shape[1])
        h = torch.bmm(self.W, inp, out=wk.h)
        torch.nn.functional.leaky_relu_(h, LEAK)
        torch.baddbmm(self._b2v, self._w2row, h, out=wk.o)
        return wk.o_rows, h

    def sgd_step(self, inp: Tensor, h: Tensor, er: Tensor, lr: float) -> None:
        """One SGD step given dLoss/dlogit ``er`` (M, n); overwrites ``h`` with the slope."""
        wk = self.work("step", inp.shape[2], inp.shape[1])
        torch.ops.aten.leaky_relu_backward.grad_input(wk.ones, h, LEAK, False, grad_input=h)
        # (M, d+2, n) @ (M, n, H): the transposed product is the fast GEMM shape here
        E = torch.mul(er[:, None, :], inp, out=wk.E)
        A = torch.bmm(E, wk.h_t).transpose(1, 2)
        dw2 = (self.W * A).sum(2)
        self.W.sub_(self._w2col * A, alpha=lr)
        self.w2.sub_(dw2, alpha=lr)
        self.b2.sub_(er.sum(1), alpha=lr)

    def dlogit_dinput(self, h: Tensor) -> Tensor:
        """d D_R-logit / d last-column input, per row (M, n), from ``h`` of :meth:`forward`."""
        u = (self.w2 * self.W[:, :, -1])[:, :, None].expand_as(h)
        out = self.work("du", h.shape[2], 0).h
        torch.ops.aten.leaky_relu_backward.grad_input(u, h, LEAK, False, grad_input=out)
        return out.sum(1)

    def export(self) -> list[Tensor]:
        W = self.W
        W1 = torch.cat([W[:, :, :-2], W[:, :, -1:]], 2)
        return [W1.clone(), W[:, :, -2].clone(), self.w2.clone(), self.b2.clone()]


class _Work:
    """D_R's work tensors for one input width ``n``: the hidden layer ``h`` (and views of
    it), the logit and the gradient's input ``E``."""

    def __init__(self, M: int, H: int, n: int, k: int, one: Tensor) -> None:
        self.h = torch.empty(M, H, n, dtype=one.dtype, device=one.device)
        self.h_t = self.h.transpose(1, 2)
        self.ones = one.expand_as(self.h)
        self.o = torch.empty(M, 1, n, dtype=one.dtype, device=one.device)
        self.o_rows = self.o[:, 0]
        self.E = torch.empty(M, k, n, dtype=one.dtype, device=one.device)


def d_r_input(X1t: Tensor, n_models: int) -> Tensor:
    """D_R's input (M, d+2, n): ``X1t`` (d+1, n) and a last row to fill per model."""
    inp = torch.empty(n_models, X1t.shape[0] + 1, X1t.shape[1], dtype=X1t.dtype,
                      device=X1t.device)  # fmt: skip
    inp[:, :-1] = X1t
    return inp


def _ones_row(X: Tensor) -> Tensor:
    """[X, 1] transposed: (d+1, N), so a bias rides along in every matmul."""
    return torch.cat([X, torch.ones(X.shape[0], 1, dtype=X.dtype, device=X.device)], 1).t()
