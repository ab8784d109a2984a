"""Arrays in and out of the batched engine (private to :mod:`trainer.models.fr_train`).

G's input features, logits from stacked generator parameters, and the conversion between
the engine's stacked state and the fitted attributes of one model per grid point.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

from trainer.models import _frtrain_engine as eng

if TYPE_CHECKING:  # type-only: fr_train imports this module
    from trainer.models.fr_train import FRTrain


def features(X: ArrayLike, z: ArrayLike, include: bool, n_groups: int) -> NDArray[np.float32]:
    """G's input: ``[x, z]`` for binary z (the paper), ``[x, onehot(z)]`` for |Z| > 2."""
    Xa = np.asarray(X, dtype=np.float32)
    if Xa.ndim == 1:
        Xa = Xa[:, None]
    if not include:
        return np.ascontiguousarray(Xa)
    za = np.asarray(z).reshape(-1).astype(np.int64)
    if len(za) != len(Xa):
        raise ValueError(f"sensitive_features has {len(za)} rows but X has {len(Xa)}")
    if n_groups <= 2:
        return np.ascontiguousarray(np.c_[Xa, za.astype(np.float32)])
    onehot = np.eye(n_groups, dtype=np.float32)[np.clip(za, 0, n_groups - 1)]
    return np.ascontiguousarray(np.c_[Xa, onehot])


def g_logits(gp: list[torch.Tensor], X: torch.Tensor) -> torch.Tensor:
    """Logits (M, N) from stacked generator parameters (linear or one hidden layer)."""
    if len(gp) == 2:
        w, b = gp
        return torch.matmul(w, X.T) + b[:, None]
    W1, b1, w2, b2 = gp
    h = torch.nn.functional.leaky_relu(torch.matmul(X, W1.transpose(1, 2)) + b1[:, None], 0.2)
    return torch.bmm(h, w2[:, :, None])[:, :, 0] + b2[:, None]


def fitted_attributes(st: eng.EngineState, i: int, d: int, n_groups: int) -> dict[str, Any]:
    """The fitted attributes (``g_params_`` ... ``train_state_``) of grid model ``i``."""

    def take(ps: list[torch.Tensor] | None) -> list[torch.Tensor] | None:
        return None if ps is None else [p[i].detach().cpu().clone() for p in ps]

    adam = st.adam or {"m": [], "v": [], "t": 0}
    return {
        "g_params_": take(st.g_params) or [],
        "f_params_": take(st.f_params) or [],
        "r_params_": take(st.r_params) or [],
        "step_": st.step,
        "n_features_in_": d,
        "n_groups_": n_groups,
        "weights_": None if st.weights is None else st.weights[i].detach().cpu().numpy(),
        "g_loss_": None if st.last_g_loss is None else float(st.last_g_loss[i]),
        "g_loss_history_": [(s, float(v[i])) for s, v in st.g_loss_history],
        "train_state_": {
            "adam_m": take(adam["m"]) or [],
            "adam_v": take(adam["v"]) or [],
            "adam_t": int(adam["t"]),
            "g_last": take(st.g_last_params) or [],
            "g_average": take(st.g_average),
            "g_average_n": st.g_average_n,
            "shuffle_state": st.shuffle_state,
            "g_loss": None if st.last_g_loss is None else st.last_g_loss[i].detach().cpu().clone(),
        },
    }


def stack_states(
    models: list[FRTrain], grid: list[dict[str, Any]], device: str, dt: torch.dtype
) -> eng.EngineState:
    """The engine state of fitted grid models, to resume training them (``warm_start``)."""
    if len(models) != len(grid):
        raise ValueError("warm_start: the grid changed since the last fit")
    if any(not hasattr(m, "train_state_") for m in models):
        raise ValueError("warm_start: a model has no training state (fit it, or load a "
                         "checkpoint saved by this version)")  # fmt: skip

    def stack(lists: list[list[torch.Tensor]]) -> list[torch.Tensor]:
        return [
            torch.stack(ps).to(device=device, dtype=dt).contiguous()
            for ps in zip(*lists, strict=True)
        ]

    ts = [m.train_state_ for m in models]
    avg = None
    if all(t["g_average"] is not None for t in ts):
        avg = stack([t["g_average"] for t in ts])
    return eng.EngineState(
        g_params=stack([m.g_params_ for m in models]),
        f_params=stack([m.f_params_ for m in models]),
        r_params=stack([m.r_params_ for m in models]),
        weights=None if models[0].weights_ is None else torch.as_tensor(
            np.stack([np.asarray(m.weights_) for m in models]), dtype=dt, device=device),
        last_g_loss=torch.stack([t["g_loss"] for t in ts]).to(device=device, dtype=dt),
        step=models[0].step_,
        adam={"m": stack([t["adam_m"] for t in ts]), "v": stack([t["adam_v"] for t in ts]),
              "t": ts[0]["adam_t"]},
        g_last_params=stack([t["g_last"] for t in ts]),
        g_average=avg,
        g_average_n=int(ts[0]["g_average_n"]),
        shuffle_state=ts[0]["shuffle_state"],
    )  # fmt: skip
