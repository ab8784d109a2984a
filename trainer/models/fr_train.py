"""FR-Train (Roh et al., ICML 2020): fair and robust training with two discriminators.

``FRTrain`` trains one model; ``FRTrainGrid`` trains a whole grid of ``lambda_f`` x
``lambda_r`` x ``seed`` in ONE batched run (all models stacked in one set of tensors, see
:mod:`trainer.models._frtrain_engine`) and returns one fitted ``FRTrain`` per grid point,
identical (up to float rounding) to training each point separately.

Re-weighting modes (``reweight=``), paper Section 3.3 and docs/ALGORITHMS.md §1.5:

* ``"paper"`` (default): the paper's formula ``W = R + D (1 - R)``, ``R = sigmoid(L_c / L_d - C)``
  with ``L_c`` the classifier's cross-entropy L1 and ``L_d`` the robustness discriminator's
  loss, so the ratio is positive and D_R's decisions ``D = D_R(x, z, y_hat)`` carry weight
  once the classifier's loss is not large compared with D_R's (the discriminator performs at
  least as well as the classifier). W is rescaled to mean 1 so it re-distributes the weight
  of L1 and L2 between examples without changing their balance against L3 that lambda sets.
* ``"notebook"``: exactly the authors' code: ``W = R D + (1 - R)`` with the ratio taken
  from G's *total* (negative) objective, which leaves W within ~[0.96, 0.99], i.e. nearly
  inert. Kept to reproduce the published numbers (use :func:`notebook_params`).
* ``"off"``: W = 1, the "Without RW" ablation of Table 5.

Defaults differ from the notebook in documented ways: the paper re-weighting above, and
lambda_2 = 0.3 (one of the paper's values for poisoned data, Appendix A.4). Both the
estimator defaults and the reproduction's grids were chosen by
``frtrain reproduce select-defaults`` (trainer/experiments/select_defaults.py) on
validation data only, among lambda_2 in {0.2, 0.3, 0.4} with and without Polyak averaging
of the generator (``average_last``, kept as an option: averaging G over the last fraction of
its steps is a standard read-out of an oscillating adversarial game, but it lost on
validation). Schedules (10,000 full-batch epochs, k = 5, learning rates 1e-3, 500
pretraining epochs) are the poisoned notebook's.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

from trainer import defaults
from trainer.models import _frtrain_engine as eng
from trainer.models._frtrain_arrays import features, fitted_attributes, g_logits, stack_states
from trainer.models.base import FairEstimator, require_sensitive, resolve_device, to01
from trainer.models.fr_train_params import (
    ERR_NO_VAL,
    FAIRNESS,
    NOTEBOOK_LAMBDA_F,
    NOTEBOOK_PARAMS,
    REWEIGHT,
    _as_list,
    notebook_params,
)

__all__ = [
    "ERR_NO_VAL",
    "FAIRNESS",
    "NOTEBOOK_LAMBDA_F",
    "NOTEBOOK_PARAMS",
    "REWEIGHT",
    "FRTrain",
    "FRTrainGrid",
    "notebook_params",
]


_D = defaults.ESTIMATOR


class FRTrain(FairEstimator):
    """FR-Train classifier (paper Section 3, Figure 3; Appendix A.2 for EO / EOp).

    The generator G (logistic regression, or one hidden layer of ``hidden`` LeakyReLU units)
    minimises ``(1 - l1 - l2) L1 + l1 L2 + l2 L3`` where L1 is the (weighted) cross-entropy,
    L2 the fairness discriminator D_F's value and L3 the robustness discriminator D_R's
    value, which G maximises. G is pretrained for ``pretrain_epochs`` on L1 alone, then
    updated once for every ``k`` discriminator steps; Adam for G, SGD for D_F and D_R.
    The defaults live in :mod:`trainer.defaults`.

    Args:
        lambda_f: l1, weight of the fairness term.
        lambda_r: l2, weight of the robustness term.
        fairness: ``"dp"`` disparate impact (I(Z; Y_hat), Section 3.1), ``"eo"`` equalized odds
            (I(Z; Y_hat | Y), one D_F per label), ``"eop"`` equal opportunity (Y = 1 only).
        reweight: ``"paper"``, ``"notebook"`` or ``"off"`` (see the module docstring).
        hidden: 0 (logistic regression), 8 or 16 hidden units in G (Appendix A.4).
        epochs, k, lr_g, lr_f, lr_r, pretrain_epochs, c_pre, pretrain_link: training schedule
            (docs/ALGORITHMS.md §1.3-1.4). ``pretrain_link="tanh"`` is the notebook's sigmoid(2g).
        robust_grad: False reproduces the clean notebook, where G gets no gradient from L3.
        reweight_c: the constant C in R = sigmoid(ratio - C).
        refresh_every: recompute W every this many steps.
        batch_size: None for full batch (the paper's synthetic runs), else mini-batches.
        average_last: average G's weights over this final fraction of its steps (0 = off).
        include_sensitive: feed z to G as a feature (the paper's setting).
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        random_state: initialisation seed (torch.manual_seed before the N(0, 0.2) init, as
            the notebook).
        warm_start: when fitted already, ``fit`` resumes training (weights, Adam moments,
            example weights) up to ``epochs`` instead of starting again.
        progress: show a tqdm progress bar.

    Fitted attributes: ``g_params_``, ``f_params_``, ``r_params_`` (G, D_F, D_R weights),
    ``step_``, ``n_features_in_``, ``n_groups_``, ``weights_`` (example weights W),
    ``g_loss_`` (G's last loss), ``g_loss_history_`` and ``train_state_`` (what resuming
    needs: Adam state, G's last iterate, averaging and shuffling state).
    """

    # fitted state (set by fit / load)
    g_params_: list[torch.Tensor]
    f_params_: list[torch.Tensor]
    r_params_: list[torch.Tensor]
    step_: int
    n_features_in_: int
    n_groups_: int
    weights_: NDArray[Any] | None

    def __init__(
        self,
        *,
        lambda_f: float = _D["lambda_f"],
        lambda_r: float = _D["lambda_r"],
        fairness: str = _D["fairness"],
        reweight: str = _D["reweight"],
        hidden: int = _D["hidden"],
        epochs: int = _D["epochs"],
        k: int = _D["k"],
        lr_g: float = _D["lr_g"],
        lr_f: float = _D["lr_f"],
        lr_r: float = _D["lr_r"],
        pretrain_epochs: int = _D["pretrain_epochs"],
        c_pre: float = _D["c_pre"],
        pretrain_link: str = _D["pretrain_link"],
        robust_grad: bool = _D["robust_grad"],
        reweight_c: float = _D["reweight_c"],
        refresh_every: int = _D["refresh_every"],
        batch_size: int | None = _D["batch_size"],
        average_last: float = _D["average_last"],
        include_sensitive: bool = _D["include_sensitive"],
        device: str = "auto",
        random_state: int = 0,
        warm_start: bool = False,
        progress: bool = False,
    ) -> None:
        self.lambda_f = lambda_f
        self.lambda_r = lambda_r
        self.fairness = fairness
        self.reweight = reweight
        self.hidden = hidden
        self.epochs = epochs
        self.k = k
        self.lr_g = lr_g
        self.lr_f = lr_f
        self.lr_r = lr_r
        self.pretrain_epochs = pretrain_epochs
        self.c_pre = c_pre
        self.pretrain_link = pretrain_link
        self.robust_grad = robust_grad
        self.reweight_c = reweight_c
        self.refresh_every = refresh_every
        self.batch_size = batch_size
        self.average_last = average_last
        self.include_sensitive = include_sensitive
        self.device = device
        self.random_state = random_state
        self.warm_start = warm_start
        self.progress = progress

    # -- fitting -------------------------------------------------------------------------------
    def fit(
        self,
        X: ArrayLike,
        y: ArrayLike,
        sensitive_features: ArrayLike | None = None,
        *,
        X_val: ArrayLike | None = None,
        y_val: ArrayLike | None = None,
        z_val: ArrayLike | None = None,
        sample_weight: ArrayLike | None = None,
    ) -> Self:
        """Train on (X, y, z) with the clean validation set (X_val, y_val, z_val).

        Labels are in {-1, +1} (or {0, 1}); ``sensitive_features`` are group codes 0..G-1.
        With ``warm_start=True`` and a fitted model, training resumes up to ``epochs``.
        """
        params = self.get_params()
        params.pop("random_state")
        params.update(lambda_f=[self.lambda_f], lambda_r=[self.lambda_r],
                      seeds=[self.random_state])  # fmt: skip
        grid = FRTrainGrid(**params)
        if self.warm_start and hasattr(self, "train_state_"):
            grid.models_ = [self]
        grid.fit(X, y, sensitive_features, X_val=X_val, y_val=y_val, z_val=z_val,
                 sample_weight=sample_weight)  # fmt: skip
        fitted = grid.models_[0]
        for key, value in vars(fitted).items():
            if key.endswith("_"):
                setattr(self, key, value)
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "g_params_"):
            raise RuntimeError("this FRTrain instance is not fitted yet; call fit() first")

    def _features(self, X: ArrayLike, z: ArrayLike) -> torch.Tensor:
        self._check_fitted()
        Xa = features(X, z, self.include_sensitive, self.n_groups_)
        if Xa.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {Xa.shape[1]} columns (with the sensitive encoding) but the model "
                f"was fitted with {self.n_features_in_}"
            )
        return torch.from_numpy(Xa)

    def decision_function(
        self, X: ArrayLike, sensitive_features: ArrayLike | None = None
    ) -> NDArray[Any]:
        """Raw logits of G; positive means +1."""
        Xt = self._features(X, require_sensitive(sensitive_features, "FRTrain"))
        with torch.no_grad():
            g = g_logits([p[None].cpu() for p in self.g_params_], Xt)[0]
        return g.double().numpy()

    def predict_proba(
        self, X: ArrayLike, sensitive_features: ArrayLike | None = None
    ) -> NDArray[Any]:
        """P(y = +1) = sigmoid(logit)."""
        return 1.0 / (1.0 + np.exp(-self.decision_function(X, sensitive_features)))

    def predict(
        self, X: ArrayLike, sensitive_features: ArrayLike | None = None
    ) -> NDArray[np.int8]:
        """Labels in {-1, +1}: +1 where the logit is positive (the notebook's test_model)."""
        return np.where(self.decision_function(X, sensitive_features) > 0, 1, -1).astype(np.int8)

    # -- persistence ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Checkpoint (nanoGPT style): weights of G, D_F, D_R, the config, the step and the
        training state (optimiser, example weights) that resuming with ``warm_start`` needs."""
        self._check_fitted()
        return {
            "model": "FRTrain",
            "weights": {
                "generator": [p.cpu() for p in self.g_params_],
                "fairness_discriminator": [p.cpu() for p in self.f_params_],
                "robustness_discriminator": [p.cpu() for p in self.r_params_],
            },
            "config": self.get_params(),
            "step": self.step_,
            "n_features_in": self.n_features_in_,
            "n_groups": self.n_groups_,
            "train_state": getattr(self, "train_state_", None),
            "example_weights": None if self.weights_ is None else torch.from_numpy(self.weights_),
            "g_loss": getattr(self, "g_loss_", None),
        }

    def save(self, path: str | Path) -> None:
        """``torch.save`` the checkpoint of :meth:`state_dict`."""
        torch.save(self.state_dict(), Path(path))

    @classmethod
    def load(cls, path: str | Path) -> FRTrain:
        """Rebuild a fitted model from :meth:`save`'s file."""
        ck = torch.load(Path(path), map_location="cpu", weights_only=True)
        return cls.from_state_dict(ck, str(path))

    @classmethod
    def from_state_dict(cls, ck: dict[str, Any], where: str = "checkpoint") -> FRTrain:
        """Rebuild a fitted model from :meth:`state_dict`'s dict."""
        path = where
        if ck.get("model") != "FRTrain":
            raise ValueError(f"{path} is not an FRTrain checkpoint")
        m = cls(**ck["config"])
        m.g_params_ = list(ck["weights"]["generator"])
        m.f_params_ = list(ck["weights"]["fairness_discriminator"])
        m.r_params_ = list(ck["weights"]["robustness_discriminator"])
        m.step_ = int(ck["step"])
        m.n_features_in_ = int(ck["n_features_in"])
        m.n_groups_ = int(ck["n_groups"])
        ew = ck.get("example_weights")
        m.weights_ = None if ew is None else ew.numpy()
        if ck.get("train_state") is not None:
            m.train_state_ = ck["train_state"]
        m.g_loss_ = ck.get("g_loss")
        m.g_loss_history_ = []
        return m


class FRTrainGrid(FairEstimator):
    """Train every (seed, lambda_r, lambda_f) combination in one batched run.

    All models share the data and schedule; their weights are stacked along a leading model
    axis, so a 9-point sweep costs little more than one run. ``models_`` holds one fitted
    :class:`FRTrain` per grid point, in the order of ``grid_`` (seeds outermost, then
    lambda_r, then lambda_f). The same scikit-learn shape as :class:`FRTrain`; every
    argument but the three grid axes is :class:`FRTrain`'s (defaults in
    :mod:`trainer.defaults`). ``predict`` and friends use the first grid point; use
    ``models_`` or :meth:`decision_functions` for the others.

    Args:
        lambda_f: one value or a list.
        lambda_r: one value or a list.
        seeds: initialisation seeds (one model per seed and lambda pair); each is that
            model's ``random_state``.
    """

    def __init__(
        self,
        *,
        lambda_f: float | Sequence[float] = (_D["lambda_f"],),
        lambda_r: float | Sequence[float] = (_D["lambda_r"],),
        seeds: int | Sequence[int] = (0,),
        fairness: str = _D["fairness"],
        reweight: str = _D["reweight"],
        hidden: int = _D["hidden"],
        epochs: int = _D["epochs"],
        k: int = _D["k"],
        lr_g: float = _D["lr_g"],
        lr_f: float = _D["lr_f"],
        lr_r: float = _D["lr_r"],
        pretrain_epochs: int = _D["pretrain_epochs"],
        c_pre: float = _D["c_pre"],
        pretrain_link: str = _D["pretrain_link"],
        robust_grad: bool = _D["robust_grad"],
        reweight_c: float = _D["reweight_c"],
        refresh_every: int = _D["refresh_every"],
        batch_size: int | None = _D["batch_size"],
        average_last: float = _D["average_last"],
        include_sensitive: bool = _D["include_sensitive"],
        device: str = "auto",
        warm_start: bool = False,
        progress: bool = False,
    ) -> None:
        self.lambda_f = lambda_f
        self.lambda_r = lambda_r
        self.seeds = seeds
        self.fairness = fairness
        self.reweight = reweight
        self.hidden = hidden
        self.epochs = epochs
        self.k = k
        self.lr_g = lr_g
        self.lr_f = lr_f
        self.lr_r = lr_r
        self.pretrain_epochs = pretrain_epochs
        self.c_pre = c_pre
        self.pretrain_link = pretrain_link
        self.robust_grad = robust_grad
        self.reweight_c = reweight_c
        self.refresh_every = refresh_every
        self.batch_size = batch_size
        self.average_last = average_last
        self.include_sensitive = include_sensitive
        self.device = device
        self.warm_start = warm_start
        self.progress = progress

    @property
    def params(self) -> dict[str, Any]:
        """The shared :class:`FRTrain` arguments (everything but the grid axes)."""
        out = self.get_params()
        for axis in ("lambda_f", "lambda_r", "seeds"):
            out.pop(axis)
        return out

    def _validate(self) -> FRTrain:
        proto = FRTrain(**self.params)
        if proto.fairness not in FAIRNESS:
            raise ValueError(f"fairness must be one of {FAIRNESS}, got {proto.fairness!r}")
        if proto.reweight not in REWEIGHT:
            raise ValueError(f"reweight must be one of {REWEIGHT}, got {proto.reweight!r}")
        if proto.hidden < 0 or proto.epochs < 1 or proto.k < 1:
            raise ValueError("hidden must be >= 0, epochs and k >= 1")
        for lf, lr in itertools.product(_as_list(self.lambda_f), _as_list(self.lambda_r)):
            if lf < 0 or lr < 0 or lf + lr > 1:
                raise ValueError(
                    f"need lambda_f >= 0, lambda_r >= 0 and lambda_f + lambda_r <= 1; "
                    f"got ({lf}, {lr})"
                )
        return proto

    def fit(
        self,
        X: ArrayLike,
        y: ArrayLike,
        sensitive_features: ArrayLike | None = None,
        *,
        X_val: ArrayLike | None = None,
        y_val: ArrayLike | None = None,
        z_val: ArrayLike | None = None,
        sample_weight: ArrayLike | None = None,
        on_epoch: Callable[[int], None] | None = None,
    ) -> Self:
        """Fit all grid points at once; see :meth:`FRTrain.fit`.

        ``on_epoch(epoch)`` is called after every epoch (the training service reports progress
        and stops a cancelled job by raising from it). With ``warm_start=True`` and a fitted
        grid, training resumes from ``models_`` up to ``epochs``.
        """
        proto = self._validate()
        sensitive_features = require_sensitive(sensitive_features, "FR-Train")
        if X_val is None or y_val is None or z_val is None:
            raise ValueError(ERR_NO_VAL)
        y_arr = np.asarray(y).reshape(-1)
        yv_arr = np.asarray(y_val).reshape(-1)
        for name, arr in (("y", y_arr), ("y_val", yv_arr)):
            if not np.isin(arr, (-1, 0, 1)).all():
                raise ValueError(f"{name} must hold binary labels in {{-1, +1}} or {{0, 1}}")
        z_arr = np.asarray(sensitive_features).reshape(-1).astype(np.int64)
        zv_arr = np.asarray(z_val).reshape(-1).astype(np.int64)
        if (z_arr < 0).any():
            raise ValueError("sensitive_features must be non-negative integer group codes")
        n_groups = int(max(z_arr.max(initial=0), zv_arr.max(initial=0)) + 1)
        n_groups = max(n_groups, 2)
        Xa = features(X, z_arr, proto.include_sensitive, n_groups)
        Xva = features(X_val, zv_arr, proto.include_sensitive, n_groups)
        if len(y_arr) != len(Xa) or len(yv_arr) != len(Xva):
            raise ValueError("X and y (and X_val and y_val) must have the same number of rows")
        if Xa.shape[1] != Xva.shape[1]:
            raise ValueError("X and X_val must have the same columns")
        device = resolve_device(proto.device)
        dt = torch.float32

        def tens(a: Any, dtype: torch.dtype = dt) -> torch.Tensor:
            return torch.as_tensor(np.asarray(a), dtype=dtype, device=device)

        sw = None
        if sample_weight is not None:
            swa = np.asarray(sample_weight, dtype=np.float64).reshape(-1)
            if len(swa) != len(y_arr) or (swa < 0).any() or swa.sum() <= 0:
                raise ValueError("sample_weight must be non-negative, one per row, not all 0")
            sw = tens(swa / swa.mean())
        data = eng.EngineData(
            X=tens(Xa), t=tens(to01(y_arr)), z=tens(z_arr, torch.long), Xv=tens(Xva),
            yv=tens(np.where(yv_arr > 0, 1.0, -1.0)), n_groups=n_groups, sample_weight=sw,
        )  # fmt: skip
        grid: list[dict[str, Any]] = [
            {"seed": int(s), "lambda_r": lr, "lambda_f": lf}
            for s in (self.seeds if isinstance(self.seeds, Sequence) else [self.seeds])
            for lr in _as_list(self.lambda_r)
            for lf in _as_list(self.lambda_f)
        ]
        k_out = 1 if n_groups == 2 else n_groups
        previous: list[FRTrain] | None = getattr(self, "models_", None)
        if self.warm_start and previous is not None:
            st = stack_states(previous, grid, device, dt)
        else:
            st = eng.init_models(
                [p["seed"] for p in grid], d=Xa.shape[1], g_hidden=proto.hidden, r_hidden=16,
                n_cond=2 if proto.fairness == "eo" else 1, k_out=k_out, std=0.2, dtype=dt,
                device=device,
            )  # fmt: skip
        cfg = eng.EngineConfig(
            epochs=proto.epochs, k=proto.k, lr_g=proto.lr_g, lr_f=proto.lr_f, lr_r=proto.lr_r,
            pretrain_epochs=proto.pretrain_epochs, c_pre=proto.c_pre,
            pretrain_link=proto.pretrain_link, reweight=proto.reweight,
            refresh_every=proto.refresh_every, reweight_c=proto.reweight_c,
            robust_grad=proto.robust_grad, g_hidden=proto.hidden, batch_size=proto.batch_size,
            average_last=proto.average_last, fairness=proto.fairness,
        )  # fmt: skip
        lam_f = torch.tensor([p["lambda_f"] for p in grid], dtype=dt, device=device)
        lam_r = torch.tensor([p["lambda_r"] for p in grid], dtype=dt, device=device)
        bar = None
        if proto.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=proto.epochs, desc=f"FR-Train x{len(grid)}", unit="epoch")

        def tick(epoch: int) -> None:
            if bar is not None and (epoch + 1) % 100 == 0:
                bar.update(100)
            if on_epoch is not None:
                on_epoch(epoch)

        first_seed = int(grid[0]["seed"])
        try:
            eng.train(st, data, lam_f, lam_r, cfg, shuffle_seed=first_seed, progress=tick)
        finally:
            if bar is not None:
                bar.close()
        self.grid_ = grid
        self.models_ = [_unstack(st, i, point, self.params, Xa.shape[1], n_groups)
                        for i, point in enumerate(grid)]  # fmt: skip
        self.n_features_in_ = int(Xa.shape[1])
        return self

    def _first(self) -> FRTrain:
        if not hasattr(self, "models_"):
            raise RuntimeError("this FRTrainGrid is not fitted yet; call fit() first")
        return self.models_[0]

    def decision_function(
        self, X: ArrayLike, sensitive_features: ArrayLike | None = None
    ) -> NDArray[Any]:
        """Logits of the first grid point (see :meth:`decision_functions` for all)."""
        return self._first().decision_function(X, sensitive_features)

    def predict(
        self, X: ArrayLike, sensitive_features: ArrayLike | None = None
    ) -> NDArray[np.int8]:
        """Labels of the first grid point (see :meth:`predictions` for all)."""
        return self._first().predict(X, sensitive_features)

    def predict_proba(
        self, X: ArrayLike, sensitive_features: ArrayLike | None = None
    ) -> NDArray[Any]:
        return self._first().predict_proba(X, sensitive_features)

    def decision_functions(
        self, X: ArrayLike, sensitive_features: ArrayLike | None = None
    ) -> NDArray[Any]:
        """Logits of every grid model, shape (M, n)."""
        self._first()
        return np.stack([m.decision_function(X, sensitive_features) for m in self.models_])

    def predictions(
        self, X: ArrayLike, sensitive_features: ArrayLike | None = None
    ) -> NDArray[np.int8]:
        """Labels in {-1, +1} of every grid model, shape (M, n)."""
        return np.where(self.decision_functions(X, sensitive_features) > 0, 1, -1).astype(np.int8)


def _unstack(
    st: eng.EngineState, i: int, point: dict[str, Any], params: dict[str, Any], d: int,
    n_groups: int,
) -> FRTrain:  # fmt: skip
    """Grid model ``i`` of the engine state as a fitted :class:`FRTrain`."""
    m = FRTrain(**params, lambda_f=point["lambda_f"], lambda_r=point["lambda_r"],
                random_state=point["seed"])  # fmt: skip
    for key, value in fitted_attributes(st, i, d, n_groups).items():
        setattr(m, key, value)
    return m
