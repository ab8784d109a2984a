"""Configuration, data and the stacked parameters of M models (with their initialisation)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor


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
