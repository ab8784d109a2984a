"""The authors' notebook hyperparameters and FR-Train's argument vocabulary.

:func:`notebook_params` gives the keyword arguments that make
:class:`~trainer.models.fr_train.FRTrain` run FRTrain_poisoned.ipynb or FRTrain_clean.ipynb
exactly (docs/ALGORITHMS.md §1.4); ``NOTEBOOK_LAMBDA_F`` are their lambda_f sweeps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

#: The authors' hyperparameters (docs/ALGORITHMS.md §1.4), reproduced by ``reweight="notebook"``.
NOTEBOOK_PARAMS: dict[str, dict[str, Any]] = {
    "poisoned": dict(
        epochs=10_000, k=5, lr_g=1e-3, lr_f=1e-3, lr_r=1e-3, c_pre=0.1, lambda_r=0.4,
        robust_grad=True, reweight="notebook", average_last=0.0, random_state=1,
    ),
    "clean": dict(
        epochs=4_000, k=3, lr_g=5e-3, lr_f=1e-2, lr_r=1e-3, c_pre=1.0, lambda_r=0.1,
        robust_grad=False, reweight="notebook", average_last=0.0, random_state=1,
    ),
}  # fmt: skip

#: The notebooks' lambda_f sweeps.
NOTEBOOK_LAMBDA_F = {
    "poisoned": [0.10, 0.15, 0.20, 0.25, 0.30, 0.35, 0.40, 0.45, 0.52],
    "clean": [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85],
}

FAIRNESS = ("dp", "eo", "eop")
REWEIGHT = ("paper", "notebook", "off")
ERR_NO_VAL = (
    "FR-Train needs a clean validation set: pass X_val, y_val and z_val "
    "(paper Section 3.2; the robustness discriminator compares against it)"
)


def notebook_params(setting: str) -> dict[str, Any]:
    """Keyword arguments that make :class:`FRTrain` run the authors' notebook exactly.

    Args:
        setting: ``"poisoned"`` (FRTrain_poisoned.ipynb) or ``"clean"`` (FRTrain_clean.ipynb).
    """
    if setting not in NOTEBOOK_PARAMS:
        raise ValueError(f"unknown notebook setting {setting!r}; use 'poisoned' or 'clean'")
    return dict(NOTEBOOK_PARAMS[setting])


def _as_list(v: float | Sequence[float]) -> list[float]:
    return [float(x) for x in v] if isinstance(v, Sequence | np.ndarray) else [float(v)]
