"""Fitting a job's grid: the data set one seed trains on and every grid point's model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from trainer.api.spec import _BASELINES, JobSpec, _estimator_class, _lr_class


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
class _Fitted:
    """Predictions and weights of every grid point for one seed."""

    val_scores: np.ndarray  # (M, n_val)
    test_scores: np.ndarray  # (M, n_test)
    states: list[Any]  # per grid point: the fitted estimator
    #: (M, n_train): on the training split's features, for label-free selection (DI)
    train_scores: np.ndarray | None = None


def _fit_frtrain(
    spec: JobSpec, ds: Any, seed: int, grid: list[dict[str, Any]], tick: Callable[[int], None]
) -> _Fitted:
    from trainer.models.fr_train import FRTrainGrid

    hp = spec.hyperparameters
    model = FRTrainGrid(
        lambda_f=sorted({p["l1"] for p in grid}),
        lambda_r=sorted({p["l2"] for p in grid}),
        seeds=[seed],
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
        device=spec.device,
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
    # FRTrainGrid covers the full (l2, l1) product; keep our grid's points, in our order.
    index = {(p["lambda_f"], p["lambda_r"]): i for i, p in enumerate(model.grid_)}
    models = [model.models_[index[(p["l1"], p["l2"])]] for p in grid]
    return _Fitted(
        np.stack([m.decision_function(ds.val.X, ds.val.z) for m in models]),
        np.stack([m.decision_function(ds.test.X, ds.test.z) for m in models]),
        list(models),
        np.stack([m.decision_function(ds.train.X, ds.train.z) for m in models]),
    )


def _fit_baseline(
    spec: JobSpec, ds: Any, seed: int, grid: list[dict[str, Any]], tick: Callable[[int], None]
) -> _Fitted:
    import inspect

    module, cls_name = _BASELINES[spec.method]
    cls = _lr_class() if spec.method == "lr" else _estimator_class(module, cls_name)
    assert cls is not None
    takes_seed = "random_state" in inspect.signature(cls.__init__).parameters
    sv, st, sr, states = [], [], [], []
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
        sv.append(np.asarray(est.decision_function(ds.val.X, ds.val.z), dtype=np.float64))
        st.append(np.asarray(est.decision_function(ds.test.X, ds.test.z), dtype=np.float64))
        sr.append(np.asarray(est.decision_function(ds.train.X, ds.train.z), dtype=np.float64))
        states.append(est)
        tick(i)
    return _Fitted(np.stack(sv), np.stack(st), states, np.stack(sr))
