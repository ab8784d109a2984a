"""One step of each player: D_F, D_R, G's pretraining and G's FR-Train step."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from .nets import _Adam, _bce_prob, _Fair, _Generator, _RobustD, _softplus
from .state import EngineConfig, EngineState


@dataclass
class _Rows:
    """The rows one step trains on: the full set, or one mini-batch."""

    X1t: Tensor  # (d+1, Nb) generator input with a row of ones
    t: Tensor  # (Nb,) BCE targets in {0, 1}
    fair: _Fair  # D_F's routing and masks for these rows
    inp: Tensor  # (M, d+2, Nb + Nv) D_R's input: these rows, then the validation rows
    tgt: Tensor  # (Nb + Nv,) D_R targets: 0 for generated rows, 1 for validation rows
    scale: Tensor  # (Nb + Nv,) 0.5 / Nb and 0.5 / Nv: each half is a mean
    last: Tensor  # (M, Nb + Nv) view of inp's last row: logits, then validation labels
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
    o, h = DR.forward(rows.inp)
    er = (torch.sigmoid(o) - rows.tgt) * rows.scale
    loss = None
    if want_loss:
        loss = 0.5 * (_softplus(o[:, :nb]).mean(1) + _softplus(-o[:, nb:]).mean(1))
    DR.sgd_step(rows.inp, h, er, lr)
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
    want_loss: bool = True,
) -> Tensor | None:  # fmt: skip
    """G step: one Adam step on the generator's FR-Train objective; returns its loss (M,)
    when ``want_loss`` (else None: the gradient does not need the loss's value).

    Loss differentiated (paper Section 3.3, ``min_G (1 - l1 - l2) L1 + l1 L2 + l2 L3``, G's
    side of the two max problems): ``(1 - l1 - l2) mean(W * BCE(sigmoid(g), y))
    - l1 mean(W * CE(D_F(g), z)) - l2 mean(BCE(D_R(x, z, g), 0))``: G lowers its own
    cross-entropy and raises both discriminators'. ``W`` are the example weights of the
    re-weighting (Section 3.3; recomputed from D_R's decisions when ``refresh``). With
    ``robust_grad=False`` (the clean notebook) the last term sends G no gradient.
    """
    fair = rows.fair
    nb = rows.t.shape[0]
    # the training rows of D_R's input still hold this g (robustness_step put it there)
    o2, h2 = DR.forward(rows.inp[:, :, :nb], tag="g")
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
        dg = dg - lam.r * qr * DR.dlogit_dinput(h2) / nb
    loss = None
    if want_loss:
        l1v = (W * (_softplus(g) - rows.t * g)).mean(1)
        fv = (W * fair.per_example(lf2) * fair.rowmask).sum(1)
        rv = torch.clamp(_softplus(o2), max=100.0).mean(1)
        loss = lam.l1[:, 0] * l1v - lam.f[:, 0] * fv - lam.r[:, 0] * rv
    opt.step(G.backward(rows.X1t, gcache, dg))
    return loss


def g_loss_needed(step: int, k: int, refresh_every: int | None, total_steps: int) -> bool:
    """Whether anything reads G's loss from the G step at ``step`` (a multiple of ``k``).

    Its readers: the loss history at a re-weighting refresh (this step), the refresh at G's
    next step (notebook mode's ratio takes G's latest loss, computed before that step's G
    update), and the fitted ``g_loss_`` / resume state after G's last step of the run.
    ``refresh_every`` is None without re-weighting. Skipping the other G steps' loss saves
    a dozen tensor operations per G step and changes no result.
    """
    next_g = step + k
    if next_g >= total_steps:
        return True
    if refresh_every is None:
        return False
    return step % refresh_every == 0 or next_g % refresh_every == 0


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
