"""Label-flipping poisoning of the training split (paper §4.3; docs/ALGORITHMS.md §3).

Two attacks, both flipping at most a *budget* of the training labels inside a *target
group* (the paper flips 10% of D_tr, all in z = 1: female for COMPAS, male for Adult with
AIF360's encodings), never touching validation or test:

* ``top_margin`` (default): what the authors actually did (§3.1). Fit one logistic regression
  on D_tr (features ``[x, z]`` plus intercept), then flip the labels of the target-group rows
  with the largest margin ``y_i f(x_i)``, i.e. the rows the clean model is most confident
  about. No retraining between flips (retraining after each flip agrees on only 167/200
  rows of the authors' y_poi). On the synthetic data it reproduces ``y_poi.npy`` exactly.
* ``paudice_greedy``: the cited greedy attack of Paudice et al. (2018) (§3.2): repeatedly
  flip the candidate whose flip most increases the loss, on an objective set, of the model
  retrained on the poisoned data. Instead of O(r · n) retrains we rank candidates by the
  first-order influence of a flip (Koh & Liang 2017): flipping row i changes the training
  gradient by ``y_i x̃_i``, so the retrained parameters move by ``-H⁻¹ y_i x̃_i`` and the
  objective loss by ``-y_i x̃_iᵀ H⁻¹ ∇L_obj``. We flip the ``batch`` best candidates, refit
  (warm-started Newton) and repeat.

The logistic regression is plain NumPy (Newton's method with a small L2 penalty), so the
attacks need neither torch nor scikit-learn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from trainer.data.base import Dataset

Attack = Literal["top_margin", "paudice_greedy"]


# -- logistic regression (numpy) ------------------------------------------------------------
def design_matrix(X: ArrayLike, z: ArrayLike | None = None) -> NDArray[np.float64]:
    """``[x, z-columns, 1]``: the features the paper's LR sees (§3.1), with an intercept.

    A binary z is one column; a multi-valued z (codes 0..G-1) is one-hot without code 0.
    """
    Xa = np.asarray(X, dtype=np.float64)
    cols = [Xa]
    if z is not None:
        zz = np.asarray(z).reshape(-1).astype(np.int64)
        for g in range(1, int(zz.max(initial=1)) + 1):
            cols.append((zz == g).astype(np.float64)[:, None])
    cols.append(np.ones((Xa.shape[0], 1)))
    return np.hstack(cols)


def _sigmoid(t: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * t)))


def _logloss(f: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
    """Per-row log(1 + exp(-y f)), numerically stable."""
    return np.asarray(np.logaddexp(0.0, -y * f))


def fit_logistic(
    A: NDArray[np.float64],
    y: ArrayLike,
    *,
    l2: float = 1.0,
    w0: NDArray[np.float64] | None = None,
    max_iter: int = 50,
    tol: float = 1e-10,
) -> NDArray[np.float64]:
    """Minimise ``Σ log(1 + exp(-y_i w·a_i)) + l2/2 ‖w‖²`` (intercept, the last column, free).

    Newton's method with backtracking; ``A`` comes from :func:`design_matrix`, ``y`` in ±1.
    Stops when half the squared Newton decrement (an estimate of the remaining suboptimality)
    falls below ``tol`` times the objective.
    """
    return _newton(A, y, l2=l2, w0=w0, max_iter=max_iter, tol=tol)[0]


def _weighted_gram(A: NDArray[np.float64], s: NDArray[np.float64]) -> NDArray[np.float64]:
    # B.T @ B on one buffer lets BLAS use a symmetric rank-k update (half the work of A.T D A).
    B = A * np.sqrt(s)[:, None]
    return np.asarray(B.T @ B)


def _newton(
    A: NDArray[np.float64],
    y: ArrayLike,
    *,
    l2: float,
    w0: NDArray[np.float64] | None,
    max_iter: int,
    tol: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Newton's method for :func:`fit_logistic`; also returns the last Hessian computed."""
    yy = np.where(np.asarray(y).reshape(-1) > 0, 1.0, -1.0)
    t = (yy + 1) / 2
    d = A.shape[1]
    reg = np.full(d, l2)
    reg[-1] = 1e-8  # the intercept is unpenalised; the jitter keeps H invertible
    w = np.zeros(d) if w0 is None else w0.astype(np.float64).copy()

    def obj(v: NDArray[np.float64]) -> float:
        return float(_logloss(A @ v, yy).sum() + 0.5 * np.sum(reg * v * v))

    cur = obj(w)
    H = np.diag(reg)
    for _ in range(max_iter):
        p = _sigmoid(A @ w)
        grad = A.T @ (p - t) + reg * w
        H = _weighted_gram(A, p * (1 - p)) + np.diag(reg)
        step = np.linalg.solve(H, grad)
        if 0.5 * float(grad @ step) <= tol * max(1.0, abs(cur)):
            break
        s = 1.0
        while True:
            cand = w - s * step
            new = obj(cand)
            if new <= cur or s < 1e-8:
                break
            s *= 0.5
        w, cur = cand, new
    return w, H


def _hessian(A: NDArray[np.float64], w: NDArray[np.float64], l2: float) -> NDArray[np.float64]:
    p = _sigmoid(A @ w)
    reg = np.full(A.shape[1], l2)
    reg[-1] = 1e-8
    return np.asarray(_weighted_gram(A, p * (1 - p)) + np.diag(reg))


def flip_influence(
    A: NDArray[np.float64],
    y: NDArray[np.float64],
    w: NDArray[np.float64],
    A_obj: NDArray[np.float64],
    y_obj: NDArray[np.float64],
    *,
    l2: float = 1.0,
    H: NDArray[np.float64] | None = None,
) -> NDArray[np.float64]:
    """First-order change of the mean objective log-loss if each training label is flipped.

    Flipping row i adds ``y_i a_i`` to the training-loss gradient, so the refit parameters
    move by ``-H⁻¹ y_i a_i`` (influence functions, Koh & Liang 2017) and the objective loss
    by ``-y_i a_iᵀ H⁻¹ ∇L_obj(w)``. ``w`` must be the fit on ``(A, y)``; ``H``, the training
    Hessian at ``w``, is computed when not given.
    """
    p_obj = _sigmoid(A_obj @ w)
    g_obj = A_obj.T @ (p_obj - (y_obj + 1) / 2) / len(y_obj)
    v = np.linalg.solve(_hessian(A, w, l2) if H is None else H, g_obj)
    return np.asarray(-y * (A @ v))


# -- budget / candidates --------------------------------------------------------------------
def n_flips_for(budget: float, n_train: int) -> int:
    """A fraction in (0, 1] of ``n_train`` (rounded), or an absolute count if an int."""
    if isinstance(budget, bool):
        raise TypeError("budget must be a fraction or a count, not a bool")
    if isinstance(budget, int | np.integer):
        if budget < 0:
            raise ValueError(f"budget must be >= 0, got {budget}")
        return int(budget)
    if not 0.0 <= float(budget) <= 1.0:
        raise ValueError(f"a fractional budget must be in [0, 1], got {budget}")
    return round(float(budget) * n_train)


def _candidates(z: NDArray[np.int64], target_group: int | None) -> NDArray[np.int64]:
    if target_group is None:
        return np.arange(len(z))
    return np.flatnonzero(z == target_group)


# -- attacks on arrays ----------------------------------------------------------------------
def top_margin_flips(
    X: ArrayLike,
    y: ArrayLike,
    z: ArrayLike,
    *,
    n_flips: int,
    target_group: int | None = 1,
    l2: float = 1.0,
) -> NDArray[np.int64]:
    """Rows to flip by the authors' rule (docs/ALGORITHMS.md §3.1), largest clean margin first.

    One LR on ``[x, z]`` fit on the clean labels, then the ``n_flips`` target-group rows with
    the largest ``y_i f(x_i)`` (capped at the group's size). Ties keep row order.
    """
    yy = np.where(np.asarray(y).reshape(-1) > 0, 1.0, -1.0)
    zz = np.asarray(z).reshape(-1).astype(np.int64)
    A = design_matrix(X, zz)
    w = fit_logistic(A, yy, l2=l2)
    cand = _candidates(zz, target_group)
    margin = yy[cand] * (A[cand] @ w)
    order = np.argsort(-margin, kind="stable")
    return cand[order[: min(n_flips, len(cand))]].astype(np.int64)


def paudice_greedy_flips(
    X: ArrayLike,
    y: ArrayLike,
    z: ArrayLike,
    *,
    n_flips: int,
    target_group: int | None = 1,
    X_obj: ArrayLike | None = None,
    y_obj: ArrayLike | None = None,
    z_obj: ArrayLike | None = None,
    batch: int | None = None,
    l2: float = 1.0,
    progress: bool = False,
) -> NDArray[np.int64]:
    """Greedy loss-maximising flips with an influence-function shortcut (docs/ALGORITHMS.md §3.2).

    Args:
        X, y, z: the clean training split.
        n_flips: how many labels to flip (capped at the target group's size).
        target_group: only rows with this group code are candidates (None: every row).
        X_obj, y_obj, z_obj: the set whose log-loss the attacker maximises (Paudice et al.'s
            validation set); default the clean training split itself.
        batch: flips chosen per refit; default ``ceil(n_flips / 25)`` (at most 25 refits).
            ``batch=1`` is the exact first-order greedy.
        l2: ridge penalty of the attacked LR.

    Returns:
        Flipped row indices, in the order they were chosen.
    """
    yy = np.where(np.asarray(y).reshape(-1) > 0, 1.0, -1.0)
    zz = np.asarray(z).reshape(-1).astype(np.int64)
    A = design_matrix(X, zz)
    if X_obj is None:
        A_obj, y_o = A, yy.copy()
    else:
        zo = np.asarray(z_obj if z_obj is not None else np.zeros(len(np.asarray(y_obj))))
        A_obj = design_matrix(X_obj, zo.astype(np.int64))
        if A_obj.shape[1] < A.shape[1]:  # a group missing from the objective set
            pad = np.zeros((A_obj.shape[0], A.shape[1] - A_obj.shape[1]))
            A_obj = np.hstack([A_obj[:, :-1], pad, A_obj[:, -1:]])
        y_o = np.where(np.asarray(y_obj).reshape(-1) > 0, 1.0, -1.0)
    cand = set(_candidates(zz, target_group).tolist())
    n_flips = min(n_flips, len(cand))
    batch = batch or max(1, math.ceil(n_flips / 25))
    cur = yy.copy()
    w, H = _newton(A, cur, l2=l2, w0=None, max_iter=50, tol=1e-10)
    chosen: list[int] = []
    bar: Any = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=n_flips, desc="paudice_greedy", leave=False)
    while len(chosen) < n_flips:
        idx = np.fromiter(sorted(cand), dtype=np.int64)
        score = flip_influence(A, cur, w, A_obj, y_o, l2=l2, H=H)[idx]
        k = min(batch, n_flips - len(chosen))
        best = idx[np.argsort(-score, kind="stable")[:k]]
        cur[best] *= -1
        chosen.extend(best.tolist())
        cand.difference_update(best.tolist())
        w, H = _newton(A, cur, l2=l2, w0=w, max_iter=50, tol=1e-10)
        if bar is not None:
            bar.update(len(best))
    if bar is not None:
        bar.close()
    return np.asarray(chosen, dtype=np.int64)


# -- attacks on data sets -------------------------------------------------------------------
@dataclass(frozen=True)
class PoisonResult:
    """The poisoned data set and the training-split positions whose labels were flipped."""

    dataset: Dataset
    flipped: NDArray[np.int64]
    attack: str
    target_group: int | None

    @property
    def flipped_ids(self) -> NDArray[Any] | None:
        ids = self.dataset.train.ids
        return None if ids is None else ids[self.flipped]


def poison(
    dataset: Dataset,
    *,
    attack: Attack = "top_margin",
    budget: float = 0.1,
    target_group: int | None = 1,
    l2: float = 1.0,
    objective: Literal["val", "train"] = "val",
    batch: int | None = None,
    progress: bool = False,
) -> PoisonResult:
    """Flip labels of ``dataset``'s training split; validation and test stay as they are.

    Args:
        attack: ``"top_margin"`` (the authors' rule, default) or ``"paudice_greedy"``.
        budget: fraction of |D_tr| (paper: 0.1), or an absolute count if an int.
        target_group: group code whose labels may be flipped (paper: z = 1); None for any.
        l2: ridge penalty of the attacked logistic regression.
        objective: ``paudice_greedy`` only: maximise the loss on the validation split
            (Paudice et al.'s setting; falls back to the training split when val is empty)
            or on the clean training split.
        batch: ``paudice_greedy`` only: flips per refit (see :func:`paudice_greedy_flips`).
    """
    tr = dataset.train
    n = n_flips_for(budget, len(tr))
    if attack == "top_margin":
        flipped = top_margin_flips(tr.X, tr.y, tr.z, n_flips=n, target_group=target_group, l2=l2)
    elif attack == "paudice_greedy":
        use_val = objective == "val" and len(dataset.val) > 0
        flipped = paudice_greedy_flips(
            tr.X,
            tr.y,
            tr.z,
            n_flips=n,
            target_group=target_group,
            X_obj=dataset.val.X if use_val else None,
            y_obj=dataset.val.y if use_val else None,
            z_obj=dataset.val.z if use_val else None,
            batch=batch,
            l2=l2,
            progress=progress,
        )
    else:
        raise ValueError(f"unknown attack {attack!r}; use 'top_margin' or 'paudice_greedy'")
    y = tr.y.copy()
    y[flipped] = -y[flipped]
    info = dict(dataset.info)
    info["poisoning"] = {
        "attack": attack,
        "budget": budget,
        "n_flipped": len(flipped),
        "target_group": target_group,
        "target_group_name": dataset.group_names.get(target_group)
        if target_group is not None
        else None,
    }
    poisoned = replace(dataset, train=tr.with_labels(y), info=info)
    return PoisonResult(poisoned, np.sort(flipped), attack, target_group)
