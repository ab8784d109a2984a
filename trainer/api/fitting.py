"""Fitting a job's grid: the data set one seed trains on and every grid point's model."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trainer import defaults
from trainer.api.spec import (
    _BASELINES,
    SYNTHETIC_UNUSED_BLOCK,
    JobSpec,
    _estimator_class,
    _lr_class,
)


def set_threads(n: int) -> None:
    """Limit torch's intra-op threads (one worker process per core scales better)."""
    import torch

    torch.set_num_threads(max(1, int(n)))


def _load_dataset(spec: JobSpec, seed: int) -> Any:
    from trainer import data as tdata

    split_seed = spec.split_seed if spec.split_seed is not None else seed
    d = spec.data
    # An external validation file replaces the carved validation split and a clean test
    # file the carved test split: then those rows stay in training.
    val_size = 0.0 if spec.validation["kind"] == "file" else spec.val_size
    test_size = 0.0 if spec.test is not None else spec.test_size
    if d.get("builtin") == "synthetic":
        return tdata.load_synthetic(poisoned=bool(d.get("synthetic_poisoned")))
    if d.get("builtin") == "compas":
        return tdata.load_compas(
            variant=d.get("variant", "preproc"),
            test_size=test_size,
            val_size=val_size,
            seed=split_seed,
        )
    if d.get("builtin") == "adult":
        return tdata.load_adult(test_size=test_size, val_size=val_size, seed=split_seed)
    if not d.get("file"):
        raise ValueError("data.file: no path to the training file was given")
    return tdata.load_table(
        d["file"],
        label=d["label"],
        sensitive=d["sensitive"],
        features=d.get("features"),
        id_column=d.get("id_column"),
        categorical=d.get("categorical") or (),
        positive_label=d.get("positive_label"),
        privileged=d.get("privileged"),
        test_size=test_size,
        val_size=val_size,
        seed=split_seed,
    )


def prepare_dataset(spec: JobSpec, seed: int) -> tuple[Any, dict[str, Any]]:
    """The data set one seed trains on: loaded, poisoned (train only), validation replaced."""
    from trainer import data as tdata

    ds = _load_dataset(spec, seed)
    facts: dict[str, Any] = {}
    if spec.poisoning is not None and spec.poisoning["fraction"] > 0:
        res = tdata.poison(
            ds,
            attack=spec.poisoning["attack"],
            budget=spec.poisoning["fraction"],
            target_group=spec.poisoning["target_group"],
        )
        ds = res.dataset
        facts["n_flipped"] = len(res.flipped)
    if spec.validation["kind"] == "file":
        if not spec.validation.get("path"):
            raise ValueError("validation.path: no validation file was given")
        ds = tdata.replace_validation(
            ds, spec.validation["path"], label_column=spec.validation.get("label_column")
        )
    if spec.test is not None:
        if not spec.test.get("file"):
            raise ValueError("test.file: no test file was given")
        from dataclasses import replace

        split, _ = tdata.read_validation(
            ds, spec.test["file"], label_column=spec.test.get("label_column")
        )
        ds = replace(ds, test=split)
    if len(ds.val) == 0:
        raise ValueError("the validation set is empty; FR-Train and model selection need one")
    if len(ds.test) == 0:
        raise ValueError("the test set is empty; give a test file or a test_size > 0")
    facts.update(n_train=len(ds.train), n_val=len(ds.val), n_test=len(ds.test))
    return ds, facts


@dataclass
class GridFit:
    """Every grid point's model for one seed, with its scores (logits; > 0 predicts +1) on
    the rows that evaluation and selection read."""

    val_scores: np.ndarray  # (M, n_val)
    test_scores: np.ndarray  # (M, n_test)
    states: list[Any]  # per grid point: the fitted estimator
    #: (M, n_train): on the training split's features, for label-free selection (DI)
    train_scores: np.ndarray | None = None
    #: (M, n_extra): on the spec's extra label-free rows (:func:`label_free_rows`), if any
    extra_scores: np.ndarray | None = None

    def subset(self, index: Sequence[int]) -> GridFit:
        """The fit restricted to some grid points, in ``index`` order."""
        idx = list(index)

        def take(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[idx]

        return GridFit(self.val_scores[idx], self.test_scores[idx],
                       [self.states[i] for i in idx], take(self.train_scores),
                       take(self.extra_scores))  # fmt: skip


#: Extra label-free rows: (X, z) of rows no model is fitted on, whose labels are never read.
LabelFree = tuple[np.ndarray, np.ndarray]


def label_free_rows(spec: JobSpec, data_dir: str | Path | None = None) -> LabelFree | None:
    """The spec's ``selection.extra_label_free`` rows, or None.

    ``synthetic-unused-block``: rows [2200, 2700) of the synthetic files (``data_dir``:
    the folder holding them; default the installed copy), which the authors' notebook set
    aside as a second validation block (``num_val2``) and no split uses.
    """
    name = spec.selection.get("extra_label_free")
    if name is None:
        return None
    if name != SYNTHETIC_UNUSED_BLOCK:
        raise ValueError(f"selection.extra_label_free: unknown rows {name!r}")
    from trainer.data.synthetic import UNUSED_ROWS, load_synthetic_arrays

    X_all, _, z_all, _ = load_synthetic_arrays(data_dir)
    lo, hi = UNUSED_ROWS
    return X_all[lo:hi].astype(np.float32), z_all[lo:hi].astype(np.int64)


def fit_grid(
    spec: JobSpec,
    ds: Any,
    seeds: Sequence[int],
    *,
    grid: list[dict[str, Any]] | None = None,
    extra: LabelFree | None = None,
    tick: Callable[[int], None] | None = None,
    progress: bool = False,
) -> list[GridFit]:
    """Fit every point of ``grid`` (default ``spec.grid()``) for each seed on ``ds``.

    FR-Train trains every (seed, l1, l2) in ONE batched run
    (:class:`~trainer.models.fr_train.FRTrainGrid`); a baseline fits one estimator per point
    and seed. ``extra``: label-free rows to score as well (for the selection). ``tick(epoch)``
    is called after every epoch (FR-Train) or fitted point (baselines); raising from it stops
    the fit. ``progress`` shows FR-Train's progress bar.

    Returns:
        One :class:`GridFit` per seed, in ``seeds`` order, its points in ``grid`` order.
    """
    grid = spec.grid() if grid is None else grid
    tick = tick or (lambda _epoch: None)
    if spec.method == "fr-train":
        return _fit_frtrain(spec, ds, list(seeds), grid, tick, extra, progress)
    return [_fit_baseline(spec, ds, seed, grid, tick, extra) for seed in seeds]


def _scores(models: Sequence[Any], ds: Any, extra: LabelFree | None) -> GridFit:
    def on(X: Any, z: Any) -> np.ndarray:
        return np.stack([np.asarray(m.decision_function(X, z), dtype=np.float64) for m in models])

    return GridFit(on(ds.val.X, ds.val.z), on(ds.test.X, ds.test.z), list(models),
                   on(ds.train.X, ds.train.z), None if extra is None else on(*extra))  # fmt: skip


def _fit_frtrain(
    spec: JobSpec,
    ds: Any,
    seeds: list[int],
    grid: list[dict[str, Any]],
    tick: Callable[[int], None],
    extra: LabelFree | None,
    progress: bool,
) -> list[GridFit]:
    from trainer.models.fr_train import FRTrainGrid

    hp = spec.hyperparameters
    model = FRTrainGrid(
        lambda_f=sorted({p["l1"] for p in grid}),
        lambda_r=sorted({p["l2"] for p in grid}),
        seeds=seeds,
        epochs=hp["epochs"],
        k=hp["k"],
        lr_g=hp["lr_g"],
        lr_f=hp["lr_f"],
        lr_r=hp["lr_r"],
        pretrain_epochs=hp["pretrain_epochs"],
        c_pre=hp["c_pre"],
        reweight=hp["reweight"],
        hidden=hp["g_hidden"],
        batch_size=hp["batch_size"],
        fairness=hp["fairness"],
        average_last=hp["average_last"],
        refresh_every=hp.get("refresh_every", defaults.ESTIMATOR["refresh_every"]),
        device=spec.device,
        progress=progress,
    )
    model.fit(
        ds.train.X,
        ds.train.y,
        ds.train.z,
        X_val=ds.val.X,
        y_val=ds.val.y,
        z_val=ds.val.z,
        on_epoch=tick,
    )
    # FRTrainGrid covers the full (seed, l2, l1) product; keep our grid's points, in order.
    index = {(p["seed"], p["lambda_f"], p["lambda_r"]): i for i, p in enumerate(model.grid_)}
    return [
        _scores([model.models_[index[(seed, p["l1"], p["l2"])]] for p in grid], ds, extra)
        for seed in seeds
    ]


def _fit_baseline(
    spec: JobSpec,
    ds: Any,
    seed: int,
    grid: list[dict[str, Any]],
    tick: Callable[[int], None],
    extra: LabelFree | None,
) -> GridFit:
    import inspect

    module, cls_name = _BASELINES[spec.method]
    cls = _lr_class() if spec.method == "lr" else _estimator_class(module, cls_name)
    assert cls is not None
    takes_seed = "random_state" in inspect.signature(cls.__init__).parameters
    states = []
    for i, point in enumerate(grid):
        est = cls(**point, **({"random_state": seed} if takes_seed else {}))
        est.fit(
            ds.train.X,
            ds.train.y,
            ds.train.z,
            X_val=ds.val.X,
            y_val=ds.val.y,
            z_val=ds.val.z,
        )
        states.append(est)
        tick(i)
    return _scores(states, ds, extra)
