"""The epoch loop: :func:`train` runs every step of every epoch for all M models."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from .nets import _Adam, _Fair, _Generator, _ones_row, _per_model, _RobustD, d_r_input
from .state import EngineConfig, EngineData, EngineState
from .steps import (
    _Lambdas,
    _Rows,
    fairness_step,
    g_loss_needed,
    generator_pretrain_step,
    generator_step,
    robustness_step,
)


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
    refresh_every = cfg.refresh_every if refresh_w else None
    if cfg.reweight not in ("paper", "notebook", "off"):
        raise ValueError(f"unknown reweight mode {cfg.reweight!r}; use paper, notebook or off")

    def layout(X1t: Tensor, nb: int, tb: Tensor, f: _Fair, idx: Tensor | None) -> _Rows:
        # D_R sees generated rows (target 0) then validation rows (target 1); each half is
        # a mean, averaged 0.5/0.5 as in the notebook.
        tgt = torch.cat([torch.zeros(nb, dtype=dt), torch.ones(Nv, dtype=dt)]).to(dev)
        scale = torch.cat(
            [torch.full((nb,), 0.5 / nb, dtype=dt), torch.full((Nv,), 0.5 / Nv, dtype=dt)]
        ).to(dev)
        inp = d_r_input(torch.cat([X1t, Xv1t], 1), M)
        last = inp[:, -1]
        last[:, nb:] = yv[None, :]
        rsw = None if sw is None else (sw if idx is None else sw[idx])
        return _Rows(X1t, tb, f, inp, tgt, scale, last, idx, rsw)

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
                    want = g_loss_needed(step, cfg.k, refresh_every, total_steps)
                    g_loss = generator_step(
                        G, opt, DR, fp, rows, g, gcache, st, lam, ldr, refresh, cfg, want
                    )
                    if g_loss is not None:
                        st.last_g_loss = g_loss
                    if refresh:
                        assert g_loss is not None
                        st.g_loss_history.append((step, g_loss.detach().cpu()))
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
