"""The narrow interface the service calls. `app` imports nothing else from `trainer`.

A training job is described by a JSON-friendly spec (:func:`validate_spec` turns a raw dict
into a :class:`JobSpec` or raises ``ValueError`` naming the bad field) and executed by
:func:`run_training`, which reports progress through a callback, stops when
``should_cancel()`` turns true (raising :class:`Cancelled`), writes its artifacts into a folder
and returns a results dict (JSON-safe: NaN becomes ``None``).

Spec (every key optional except ``data``; defaults in brackets)::

    {
      "data": {"builtin": "synthetic" | "compas" | "adult", "variant": ...,
               "synthetic_poisoned": false}
            | {"file": PATH, "label": COL, "sensitive": COL, "features": [COLS] | null,
               "id_column": COL | null, "categorical": [COLS], "positive_label": V,
               "privileged": V},
      "validation": {"kind": "builtin"} | {"kind": "file", "path": PATH,
                                         "label_column": COL | null},
      "poisoning": null | {"attack": "top_margin" | "paudice_greedy", "fraction": 0.1,
                           "target_group": 1},
      "method": "fr-train" | "lr" | "fc" | "lbc" | "ad" | "rml" | "auto" | a practitioner
                baseline (trainer/models/practitioners.py: "eg-dp-clean", "cr-lr", ...)
                ["auto" for a user file, "fr-train" for a built-in data set],
      "hyperparameters": {...}    # method-specific; list values form the grid
      "selection": {"min_fairness": 0.8, "metric": "disparate_impact"},
      "seeds": [0, 1, 2],         # model seeds; each also draws the split unless split_seed
      "split_seed": null | int,
      "device": "auto" | "cpu" | "cuda",
      "test_size": 0.3, "val_size": 0.05
    }

FR-Train's grid: ``l1`` (lambda_1, the fairness weight) and ``l2`` (lambda_2, the robustness
weight) may be lists; every (l1, l2) pair trains in one batched run (paper §3, Appendix A.4
"vary lambda_1 ... for a trade-off"), and the point reported per seed is chosen on the
*validation* set only: the highest validation accuracy among grid points whose validation
fairness is at least ``min_fairness``; if none reaches it, the fairest one.
"""

from __future__ import annotations

import importlib
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

BUILTIN_DATASETS = ("synthetic", "compas", "adult")
ATTACKS = ("top_margin", "paudice_greedy")
DEVICES = ("auto", "cpu", "cuda")
FAIRNESS_METRICS = ("disparate_impact", "equalized_odds", "equal_opportunity")
#: The practitioner baselines' names (trainer/models/practitioners.py PRACTITIONERS).
PRACTITIONER_METHODS = (
    "lr-clean", "eg-dp-clean", "eg-eo-clean", "eg-dp-train", "eg-eo-train", "to-dp-clean",
    "to-eo-clean", "to-dp-train", "to-eo-train", "to-dp-post", "to-eo-post", "cr-lr",
    "relabel-eg",
)  # fmt: skip
#: Methods and where their estimator lives; baselines are offered only when their module
#: is importable (issue 5: "the baselines, when they exist").
_BASELINES = {
    "lr": ("trainer.models.lr", "LogisticRegression"),
    "fc": ("trainer.models.fc", "FairnessConstraints"),
    "lbc": ("trainer.models.lbc", "LabelBiasCorrection"),
    "ad": ("trainer.models.ad", "AdversarialDebiasing"),
    "rml": ("trainer.models.rml", "LearningToReweight"),
    # What a practitioner would do with scikit-learn and fairlearn, and `auto`, which
    # chooses among them and FR-Train on the clean set.
    **{name: ("trainer.models.practitioners", name) for name in PRACTITIONER_METHODS},
    "auto": ("trainer.models.auto", "AutoMethod"),
}
#: The method a job runs when its spec names none: `auto` for user files, FR-Train for the
#: built-in data sets (whose tables reproduce the paper).
DEFAULT_METHOD = {"file": "auto", "builtin": "fr-train"}
MAX_GRID = 64
MAX_SEEDS = 20

#: FR-Train defaults per data set. Synthetic: the authors' poisoned notebook (ALGORITHMS.md
#: §1.4). Real data: chosen by `frtrain reproduce select-defaults --data compas` on
#: validation only (poisoned COMPAS, the demo's crowd validation set; see
#: :mod:`trainer.experiments.select_defaults` for the 12 candidates - lambda_2 {0.1, 0.2,
#: 0.3} x learning rate {1e-3, 1e-2} x G averaging on/off at 2,000 epochs - and the rule).
FRTRAIN_DEFAULTS: dict[str, dict[str, Any]] = {
    "synthetic": {
        "l1": [0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.52],
        "l2": [0.4],
        "epochs": 10_000,
        "k": 5,
        "lr_g": 1e-3,
        "lr_f": 1e-3,
        "lr_r": 1e-3,
        "pretrain_epochs": 500,
        "c_pre": 0.1,
    },
    "real": {
        "l1": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
        "l2": [0.3],
        "epochs": 2000,
        "k": 5,
        "lr_g": 1e-2,
        "lr_f": 1e-2,
        "lr_r": 1e-2,
        "pretrain_epochs": 500,
        "c_pre": 1.0,
        # G's last iterate (no averaging): the validation-only selection preferred it.
        "average_last": 0.0,
    },
}
_FRTRAIN_COMMON: dict[str, Any] = {
    "reweight": "paper",
    "g_hidden": 0,
    "batch_size": None,
    "fairness": "dp",
    "average_last": 0.0,
}
_FRTRAIN_KEYS = set(FRTRAIN_DEFAULTS["real"]) | set(_FRTRAIN_COMMON)


class Cancelled(Exception):
    """Raised inside :func:`run_training` when ``should_cancel()`` returned true."""


# -- spec --------------------------------------------------------------------------------------
def available_methods() -> list[str]:
    """``fr-train`` plus every baseline whose module is importable."""
    out = ["fr-train"]
    for name, (module, cls) in _BASELINES.items():
        if _estimator_class(module, cls) is not None or name == "lr":
            out.append(name)
    return out


def _estimator_class(module: str, cls: str) -> Any | None:
    try:
        mod = importlib.import_module(module)
        if hasattr(mod, "estimator_class") and not hasattr(mod, cls):
            return mod.estimator_class(cls)  # a named configuration (practitioners.py)
        return getattr(mod, cls)
    except (ImportError, AttributeError, ValueError):
        return None


def _lr_class() -> Any:
    found = _estimator_class(*_BASELINES["lr"])
    if found is not None:
        return found
    from trainer.models._linear import WeightedLogisticRegression

    return WeightedLogisticRegression


@dataclass(frozen=True)
class JobSpec:
    """A validated training request (see the module docstring for the JSON shape)."""

    data: dict[str, Any]
    validation: dict[str, Any]
    poisoning: dict[str, Any] | None
    method: str
    hyperparameters: dict[str, Any]
    selection: dict[str, Any]
    seeds: list[int]
    split_seed: int | None = None
    device: str = "auto"
    test_size: float = 0.3
    val_size: float = 0.05
    name: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def dataset_name(self) -> str:
        return str(self.data.get("builtin") or "file")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def grid(self) -> list[dict[str, Any]]:
        """The hyperparameter points trained for every seed."""
        return _grid(self.method, self.hyperparameters)


def _fail(where: str, msg: str) -> ValueError:
    return ValueError(f"{where}: {msg}")


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _number(where: str, value: Any, lo: float, hi: float, *, integer: bool = False) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(where, f"must be a number, got {value!r}")
    if integer and not float(value).is_integer():
        raise _fail(where, f"must be an integer, got {value!r}")
    if not math.isfinite(float(value)) or not lo <= value <= hi:
        raise _fail(where, f"must be in [{lo}, {hi}], got {value!r}")
    return int(value) if integer else float(value)


def _check_keys(where: str, raw: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise _fail(where, f"unknown key(s) {unknown}; allowed: {sorted(allowed)}")


def _validate_data(raw: Any, file_columns: Sequence[str] | None) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise _fail("data", "must be an object with 'builtin' or 'file'")
    if ("builtin" in raw) == ("file" in raw):
        raise _fail("data", "give exactly one of 'builtin' (synthetic|compas|adult) or 'file'")
    if "builtin" in raw:
        _check_keys("data", raw, {"builtin", "variant", "synthetic_poisoned"})
        name = raw["builtin"]
        if name not in BUILTIN_DATASETS:
            raise _fail("data.builtin", f"unknown data set {name!r}; use {BUILTIN_DATASETS}")
        out: dict[str, Any] = {"builtin": name}
        if name == "compas":
            variant = raw.get("variant", "preproc")
            if variant not in ("preproc", "full"):
                raise _fail("data.variant", f"COMPAS variant must be preproc or full: {variant!r}")
            out["variant"] = variant
        elif "variant" in raw:
            raise _fail("data.variant", "only COMPAS has variants")
        if name == "synthetic":
            out["synthetic_poisoned"] = bool(raw.get("synthetic_poisoned", False))
        return out
    allowed = {
        "file",
        "label",
        "sensitive",
        "features",
        "id_column",
        "categorical",
        "positive_label",
        "privileged",
    }
    _check_keys("data", raw, allowed)
    for key in ("label", "sensitive"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise _fail(f"data.{key}", "a column name is required for an uploaded file")
    features = raw.get("features")
    if features is not None and (
        not isinstance(features, list) or not all(isinstance(c, str) for c in features)
    ):
        raise _fail("data.features", "must be a list of column names or null")
    categorical = raw.get("categorical", [])
    if not isinstance(categorical, list) or not all(isinstance(c, str) for c in categorical):
        raise _fail("data.categorical", "must be a list of column names")
    id_column = raw.get("id_column")
    if id_column is not None and not isinstance(id_column, str):
        raise _fail("data.id_column", "must be a column name or null")
    roles = [raw["label"], raw["sensitive"], *([id_column] if id_column else [])]
    if len(set(roles)) != len(roles):
        raise _fail("data", f"label, sensitive and id columns must differ, got {roles}")
    if features is not None:
        clash = sorted(set(features) & set(roles))
        if clash:
            raise _fail("data.features", f"{clash} already have another role")
        if not features:
            raise _fail("data.features", "needs at least one feature column")
    if file_columns is not None:
        cols = set(file_columns)
        named = [*roles, *(features or []), *categorical]
        missing = [c for c in named if c not in cols]
        if missing:
            raise _fail(
                "data", f"column(s) {missing} are not in the file; it has {sorted(cols)[:50]}"
            )
        if features is None and not (cols - set(roles)):
            raise _fail("data", "the file has no feature columns besides the role columns")
    return {
        "file": raw.get("file"),
        "label": raw["label"],
        "sensitive": raw["sensitive"],
        "features": features,
        "id_column": id_column,
        "categorical": categorical,
        "positive_label": raw.get("positive_label"),
        "privileged": raw.get("privileged"),
    }


def _validate_validation(raw: Any) -> dict[str, Any]:
    if raw is None:
        return {"kind": "builtin"}
    if not isinstance(raw, Mapping):
        raise _fail("validation", "must be an object")
    kind = raw.get("kind", "builtin")
    if kind == "builtin":
        _check_keys("validation", raw, {"kind"})
        return {"kind": "builtin"}
    if kind == "file":
        _check_keys("validation", raw, {"kind", "path", "label_column"})
        label_column = raw.get("label_column")
        if label_column is not None and not isinstance(label_column, str):
            raise _fail("validation.label_column", "must be a column name or null")
        return {"kind": "file", "path": raw.get("path"), "label_column": label_column}
    raise _fail("validation.kind", f"must be 'builtin' or 'file', got {kind!r}")


def _validate_poisoning(raw: Any) -> dict[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise _fail("poisoning", "must be an object or null")
    _check_keys("poisoning", raw, {"attack", "fraction", "target_group"})
    attack = raw.get("attack", "top_margin")
    if attack not in ATTACKS:
        raise _fail("poisoning.attack", f"unknown attack {attack!r}; use {ATTACKS}")
    fraction = _number("poisoning.fraction", raw.get("fraction", 0.1), 0.0, 0.5)
    target = raw.get("target_group", 1)
    if target is not None:
        target = _number("poisoning.target_group", target, 0, 1000, integer=True)
    return {"attack": attack, "fraction": fraction, "target_group": target}


def _validate_frtrain(raw: Mapping[str, Any], dataset: str) -> dict[str, Any]:
    _check_keys("hyperparameters", raw, _FRTRAIN_KEYS)
    base = FRTRAIN_DEFAULTS["synthetic" if dataset == "synthetic" else "real"]
    hp: dict[str, Any] = {**_FRTRAIN_COMMON, **base, **raw}
    hp["l1"] = [_number("hyperparameters.l1", v, 0.0, 0.99) for v in _as_list(hp["l1"])]
    hp["l2"] = [_number("hyperparameters.l2", v, 0.0, 0.99) for v in _as_list(hp["l2"])]
    if not hp["l1"] or not hp["l2"]:
        raise _fail("hyperparameters", "l1 and l2 need at least one value each")
    if not any(a + b < 1 for a in hp["l1"] for b in hp["l2"]):
        raise _fail("hyperparameters", "every (l1, l2) pair has l1 + l2 >= 1; need l1 + l2 < 1")
    hp["epochs"] = _number("hyperparameters.epochs", hp["epochs"], 1, 200_000, integer=True)
    hp["pretrain_epochs"] = _number(
        "hyperparameters.pretrain_epochs", hp["pretrain_epochs"], 0, 200_000, integer=True
    )
    if hp["pretrain_epochs"] >= hp["epochs"]:
        raise _fail("hyperparameters", "pretrain_epochs must be smaller than epochs")
    hp["k"] = _number("hyperparameters.k", hp["k"], 1, 100, integer=True)
    for key in ("lr_g", "lr_f", "lr_r"):
        hp[key] = _number(f"hyperparameters.{key}", hp[key], 1e-7, 10.0)
    hp["c_pre"] = _number("hyperparameters.c_pre", hp["c_pre"], 0.0, 100.0)
    hp["average_last"] = _number("hyperparameters.average_last", hp["average_last"], 0.0, 1.0)
    if hp["reweight"] not in ("paper", "notebook", "off"):
        raise _fail("hyperparameters.reweight", "must be paper, notebook or off")
    if hp["g_hidden"] not in (0, 8, 16):
        raise _fail("hyperparameters.g_hidden", "must be 0, 8 or 16 (paper Appendix A.4)")
    if hp["batch_size"] is not None:
        hp["batch_size"] = _number(
            "hyperparameters.batch_size", hp["batch_size"], 1, 10**7, integer=True
        )
    if hp["fairness"] not in ("dp", "eo", "eop"):
        raise _fail("hyperparameters.fairness", "must be dp, eo or eop")
    return hp


def _validate_baseline(method: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    module, cls_name = _BASELINES[method]
    cls = _lr_class() if method == "lr" else _estimator_class(module, cls_name)
    if cls is None:
        raise _fail("method", f"{method!r} is not available in this build")
    import inspect

    params = inspect.signature(cls.__init__).parameters
    allowed = {n for n, p in params.items() if p.kind is p.KEYWORD_ONLY}
    _check_keys("hyperparameters", raw, allowed - {"seed"})
    lists = [k for k, v in raw.items() if isinstance(v, list | tuple)]
    if len(lists) > 1:
        raise _fail("hyperparameters", f"only one grid parameter per baseline, got {lists}")
    for k, v in raw.items():
        for item in _as_list(v):
            if not isinstance(item, str | int | float | bool) or (
                isinstance(item, float) and not math.isfinite(item)
            ):
                raise _fail(f"hyperparameters.{k}", f"unsupported value {item!r}")
            # Every knob of the baselines (l2, lam, alpha, eta, c, steps, rates) is >= 0.
            if isinstance(item, int | float) and not isinstance(item, bool) and item < 0:
                raise _fail(f"hyperparameters.{k}", f"must be >= 0, got {item!r}")
    out = {k: (list(v) if isinstance(v, list | tuple) else v) for k, v in raw.items()}
    for k in lists:
        if not out[k]:
            raise _fail(f"hyperparameters.{k}", "an empty grid")
    # Fail now, not in the worker: build one estimator with the first grid point.
    try:
        cls(**{k: _as_list(v)[0] for k, v in out.items()})
    except (TypeError, ValueError) as exc:
        raise _fail("hyperparameters", str(exc)) from None
    return out


def _grid(method: str, hp: Mapping[str, Any]) -> list[dict[str, Any]]:
    if method == "fr-train":
        # Pairs with l1 + l2 >= 1 leave no weight on the accuracy loss (paper A.4: l1 up to
        # 0.95 - l2); they are skipped.
        return [{"l1": a, "l2": b} for b in hp["l2"] for a in hp["l1"] if a + b < 1]
    lists = [k for k, v in hp.items() if isinstance(v, list)]
    if not lists:
        return [dict(hp)]
    key = lists[0]
    return [{**hp, key: v} for v in hp[key]]


def validate_spec(raw: Mapping[str, Any], *, file_columns: Sequence[str] | None = None) -> JobSpec:
    """Check and normalise a training request; raise ``ValueError`` naming the bad field.

    Args:
        raw: the request (module docstring). Paths (``data.file``, ``validation.path``) may
            be absent at this point: the service fills them in when a worker runs the job.
        file_columns: the uploaded training file's columns, to check the column roles now.
    """
    if not isinstance(raw, Mapping):
        raise ValueError("the job spec must be a JSON object")
    allowed = {
        "data",
        "validation",
        "poisoning",
        "method",
        "hyperparameters",
        "selection",
        "seeds",
        "split_seed",
        "device",
        "test_size",
        "val_size",
        "name",
        "extra",
    }
    _check_keys("spec", raw, allowed)
    if "data" not in raw:
        raise _fail("data", "required")
    data = _validate_data(raw["data"], file_columns)
    validation = _validate_validation(raw.get("validation"))
    poisoning = _validate_poisoning(raw.get("poisoning"))
    method = raw.get("method", DEFAULT_METHOD["file" if "file" in data else "builtin"])
    methods = available_methods()
    if method not in methods:
        raise _fail("method", f"unknown method {method!r}; available: {methods}")
    hp_raw = raw.get("hyperparameters") or {}
    if not isinstance(hp_raw, Mapping):
        raise _fail("hyperparameters", "must be an object")
    dataset = str(data.get("builtin") or "file")
    if method == "fr-train":
        hp = _validate_frtrain(hp_raw, dataset)
    else:
        hp = _validate_baseline(method, hp_raw)
    grid = _grid(method, hp)
    if len(grid) > MAX_GRID:
        raise _fail("hyperparameters", f"the grid has {len(grid)} points; at most {MAX_GRID}")
    sel_raw = raw.get("selection") or {}
    if not isinstance(sel_raw, Mapping):
        raise _fail("selection", "must be an object")
    _check_keys("selection", sel_raw, {"min_fairness", "metric"})
    selection = {
        "min_fairness": _number("selection.min_fairness", sel_raw.get("min_fairness", 0.8), 0, 1),
        "metric": sel_raw.get("metric", "disparate_impact"),
    }
    if selection["metric"] not in FAIRNESS_METRICS:
        raise _fail("selection.metric", f"must be one of {FAIRNESS_METRICS}")
    seeds_raw = raw.get("seeds", [0])
    if not isinstance(seeds_raw, list) or not seeds_raw:
        raise _fail("seeds", "must be a non-empty list of integers")
    seeds = [_number("seeds", s, 0, 2**31 - 1, integer=True) for s in seeds_raw]
    if len(set(seeds)) != len(seeds) or len(seeds) > MAX_SEEDS:
        raise _fail("seeds", f"must be distinct, at most {MAX_SEEDS}")
    split_seed = raw.get("split_seed")
    if split_seed is not None:
        split_seed = _number("split_seed", split_seed, 0, 2**31 - 1, integer=True)
    device = raw.get("device", "auto")
    if device not in DEVICES:
        raise _fail("device", f"must be one of {DEVICES}, got {device!r}")
    test_size = _number("test_size", raw.get("test_size", 0.3), 0.05, 0.9)
    val_size = _number("val_size", raw.get("val_size", 0.05), 0.0, 1.0)
    name = raw.get("name", "")
    if not isinstance(name, str) or len(name) > 200:
        raise _fail("name", "must be a string of at most 200 characters")
    extra = raw.get("extra") or {}
    if not isinstance(extra, Mapping):
        raise _fail("extra", "must be an object")
    return JobSpec(
        data=data,
        validation=validation,
        poisoning=poisoning,
        method=method,
        hyperparameters=hp,
        selection=selection,
        seeds=seeds,
        split_seed=split_seed,
        device=device,
        test_size=test_size,
        val_size=val_size,
        name=name,
        extra=dict(extra),
    )


# -- running -------------------------------------------------------------------------------------
Progress = Callable[[dict[str, Any]], None]


def set_threads(n: int) -> None:
    """Limit torch's intra-op threads (one worker process per core scales better)."""
    import torch

    torch.set_num_threads(max(1, int(n)))


def _load_dataset(spec: JobSpec, seed: int) -> Any:
    from trainer import data as tdata

    split_seed = spec.split_seed if spec.split_seed is not None else seed
    d = spec.data
    if d.get("builtin") == "synthetic":
        return tdata.load_synthetic(poisoned=bool(d.get("synthetic_poisoned")))
    if d.get("builtin") == "compas":
        return tdata.load_compas(
            variant=d.get("variant", "preproc"),
            test_size=spec.test_size,
            val_size=spec.val_size,
            seed=split_seed,
        )
    if d.get("builtin") == "adult":
        return tdata.load_adult(test_size=spec.test_size, val_size=spec.val_size, seed=split_seed)
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
        test_size=spec.test_size,
        val_size=spec.val_size,
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
    if len(ds.val) == 0:
        raise ValueError("the validation set is empty; FR-Train and model selection need one")
    facts.update(n_train=len(ds.train), n_val=len(ds.val), n_test=len(ds.test))
    return ds, facts


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _fairness(metrics: Mapping[str, Any], metric: str) -> float:
    if metric == "equalized_odds":
        vals = [metrics["equalized_odds_y0"], metrics["equalized_odds_y1"]]
        return float("nan") if any(v is None or math.isnan(v) for v in vals) else min(vals)
    v = metrics[metric]
    return float("nan") if v is None else float(v)


def select_point(
    val_metrics: Sequence[Mapping[str, Any]], *, min_fairness: float, metric: str
) -> int:
    """Index of the grid point chosen on validation: the most accurate one whose fairness
    reaches ``min_fairness``; if none does, the fairest one (ties: the more accurate)."""

    def fair(i: int) -> float:
        f = _fairness(val_metrics[i], metric)
        return -1.0 if math.isnan(f) else f

    idx = range(len(val_metrics))
    ok = [i for i in idx if fair(i) >= min_fairness]
    if ok:
        return max(ok, key=lambda i: (val_metrics[i]["accuracy"], fair(i), -i))
    return max(idx, key=lambda i: (fair(i), val_metrics[i]["accuracy"], -i))


@dataclass
class _Fitted:
    """Predictions and weights of every grid point for one seed."""

    val_scores: np.ndarray  # (M, n_val)
    test_scores: np.ndarray  # (M, n_test)
    states: list[Any]  # per grid point: a fitted FRTrain, or a baseline's fitted arrays


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
    )


def _fit_baseline(
    spec: JobSpec, ds: Any, seed: int, grid: list[dict[str, Any]], tick: Callable[[int], None]
) -> _Fitted:
    import inspect

    module, cls_name = _BASELINES[spec.method]
    cls = _lr_class() if spec.method == "lr" else _estimator_class(module, cls_name)
    assert cls is not None
    takes_seed = "seed" in inspect.signature(cls.__init__).parameters
    sv, st, states = [], [], []
    for i, point in enumerate(grid):
        est = cls(**point, **({"seed": seed} if takes_seed else {}))
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
        states.append(_fitted_state(est))
        if hasattr(est, "report"):  # auto: what it compared, chose and why
            states[-1]["report"] = _json_safe(est.report())
        tick(i)
    return _Fitted(np.stack(sv), np.stack(st), states)


def _method_report(state: Any) -> dict[str, Any]:
    """``{"method_report": ...}`` for a method that explains its choice (auto), else {}."""
    if isinstance(state, dict) and "report" in state:
        return {"method_report": state["report"]}
    return {}


def fit_named(
    method: str, ds: Any, *, seed: int = 0, progress: Callable[[str], None] | None = None
) -> Any:
    """A registered baseline (or ``auto``) with its default knobs, fitted on ``ds``'s
    training split and clean set (``frtrain train --method NAME``)."""
    import inspect

    if method not in _BASELINES:
        raise ValueError(f"unknown method {method!r}; available: {available_methods()}")
    cls = _lr_class() if method == "lr" else _estimator_class(*_BASELINES[method])
    if cls is None:
        raise ValueError(f"{method!r} is not available in this build")
    params = inspect.signature(cls.__init__).parameters
    kw = {k: seed for k in ("seed", "random_state") if k in params}
    est = cls(**kw)
    if progress is not None and hasattr(est, "progress"):
        est.progress = progress
    tr, val = ds.train, ds.val
    return est.fit(tr.X, tr.y, tr.z, X_val=val.X, y_val=val.y, z_val=val.z)


def _fitted_state(est: Any) -> dict[str, Any]:
    """The estimator's fitted numeric attributes (``coef_``, ``intercept_``, ...)."""
    out: dict[str, Any] = {}
    for k, v in vars(est).items():
        if not k.endswith("_") or k.startswith("_"):
            continue
        try:
            arr = np.asarray(v, dtype=np.float64)
        except (TypeError, ValueError):
            continue  # histories, nested objects: not weights
        out[k] = _json_safe(arr.tolist())
    return out


def _summary(values: list[float]) -> dict[str, float | None]:
    arr = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    ok = arr[~np.isnan(arr)]
    if len(ok) == 0:
        return {"mean": None, "std": None, "min": None, "max": None}
    return {
        "mean": float(ok.mean()),
        "std": float(ok.std()),
        "min": float(ok.min()),
        "max": float(ok.max()),
    }


SUMMARY_KEYS = (
    "accuracy",
    "disparate_impact",
    "equalized_odds_y0",
    "equalized_odds_y1",
    "equal_opportunity",
)


def run_training(
    spec: JobSpec | Mapping[str, Any],
    *,
    progress: Progress | None = None,
    should_cancel: Callable[[], bool] | None = None,
    artifact_dir: str | Path | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    """Train ``spec.method`` for every seed and grid point; evaluate; pick a point per seed on
    validation; write artifacts; return the results (JSON-safe).

    Args:
        spec: a :class:`JobSpec` or a raw dict (validated here).
        progress: called with ``{"stage", "epoch", "total_epochs", "percent"}`` at most a few
            times per second.
        should_cancel: polled on every epoch; when it returns true the run stops and
            :class:`Cancelled` is raised (nothing is returned, artifacts may be partial).
        artifact_dir: where ``model.pt``, ``config.json``, ``predictions.csv``,
            ``tradeoff.png`` and ``metrics.json`` go (nothing written when None).
        threads: torch intra-op threads for this run (restored afterwards); None leaves the
            process setting alone. The models are small: one thread is usually fastest.

    Raises:
        Cancelled: ``should_cancel()`` returned true.
        ValueError: bad data (e.g. a validation file that does not match the data set).
    """
    if threads is None:
        return _run_training(spec, progress, should_cancel, artifact_dir)
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(max(1, threads))
    try:
        return _run_training(spec, progress, should_cancel, artifact_dir)
    finally:
        torch.set_num_threads(before)


def _run_training(
    spec: JobSpec | Mapping[str, Any],
    progress: Progress | None,
    should_cancel: Callable[[], bool] | None,
    artifact_dir: str | Path | None,
) -> dict[str, Any]:
    from trainer.metrics import evaluate

    if not isinstance(spec, JobSpec):
        spec = validate_spec(spec)
    grid = spec.grid()
    n_seeds = len(spec.seeds)
    started = time.monotonic()
    units_per_seed = spec.hyperparameters["epochs"] if spec.method == "fr-train" else len(grid)
    last_report = [0.0]

    def report(stage: str, si: int, done: int, force: bool = False) -> None:
        if should_cancel is not None and should_cancel():
            raise Cancelled("cancelled")
        now = time.monotonic()
        if progress is None or (not force and now - last_report[0] < 0.25):
            return
        last_report[0] = now
        pct = 100.0 * (si + done / max(units_per_seed, 1)) / n_seeds
        progress(
            {
                "stage": stage,
                "epoch": done,
                "total_epochs": units_per_seed,
                "percent": min(100.0, pct),
            }
        )

    per_seed: list[dict[str, Any]] = []
    fitted_all: list[tuple[Any, _Fitted, int]] = []
    facts: dict[str, Any] = {}
    for si, seed in enumerate(spec.seeds):
        stage = f"seed {seed} ({si + 1}/{n_seeds})"
        report(f"{stage}: preparing data", si, 0, force=True)
        ds, facts = prepare_dataset(spec, seed)
        fit = _fit_frtrain if spec.method == "fr-train" else _fit_baseline

        def tick(epoch: int, si: int = si, stage: str = stage) -> None:
            report(stage, si, epoch + 1)

        fitted = fit(spec, ds, seed, grid, tick)
        points = []
        for i, params in enumerate(grid):
            pv = np.where(fitted.val_scores[i] > 0, 1, -1)
            pt = np.where(fitted.test_scores[i] > 0, 1, -1)
            points.append(
                {
                    "params": params,
                    "val": _json_safe(evaluate(ds.val.y, pv, ds.val.z)),
                    "test": _json_safe(evaluate(ds.test.y, pt, ds.test.z)),
                }
            )
        chosen = select_point(
            [p["val"] for p in points],
            min_fairness=spec.selection["min_fairness"],
            metric=spec.selection["metric"],
        )
        per_seed.append(
            {
                "seed": seed,
                "grid": points,
                "selected": chosen,
                "selected_params": grid[chosen],
                "val": points[chosen]["val"],
                "test": points[chosen]["test"],
                **_method_report(fitted.states[chosen]),
                **facts,
            }
        )
        fitted_all.append((ds, fitted, chosen))
        report(f"{stage}: done", si + 1, 0, force=True)

    curve = []
    for i, params in enumerate(grid):
        row: dict[str, Any] = {"params": params}
        for part in ("val", "test"):
            for key in ("accuracy", "disparate_impact"):
                row[f"{part}_{key}"] = _summary([s["grid"][i][part][key] for s in per_seed])
        curve.append(row)
    ds0 = fitted_all[0][0]
    results: dict[str, Any] = {
        "method": spec.method,
        "dataset": spec.dataset_name,
        "group_names": {str(k): v for k, v in ds0.group_names.items()},
        "sensitive": ds0.sensitive_name,
        "poisoning": spec.poisoning,
        "validation": spec.validation["kind"],
        "selection": spec.selection,
        "hyperparameters": spec.hyperparameters,
        "seeds": per_seed,
        "summary": {
            part: {k: _summary([s[part][k] for s in per_seed]) for k in SUMMARY_KEYS}
            for part in ("val", "test")
        },
        "curve": curve,
        "elapsed_s": time.monotonic() - started,
    }
    results = _json_safe(results)
    if artifact_dir is not None:
        results["artifacts"] = write_artifacts(Path(artifact_dir), spec, results, fitted_all)
    if progress is not None:
        progress(
            {
                "stage": "done",
                "epoch": units_per_seed,
                "total_epochs": units_per_seed,
                "percent": 100.0,
            }
        )
    return results


def _checkpoint(state: Any) -> Any:
    return state.state_dict() if hasattr(state, "state_dict") else state


def write_artifacts(
    folder: Path, spec: JobSpec, results: dict[str, Any], fitted: list[tuple[Any, _Fitted, int]]
) -> list[str]:
    """model.pt + config.json, predictions.csv, tradeoff.png, metrics.json; returns names."""
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    ds0 = fitted[0][0]
    config = {
        "spec": spec.to_dict(),
        "feature_names": list(ds0.feature_names),
        "sensitive": ds0.sensitive_name,
        "group_names": {str(k): v for k, v in ds0.group_names.items()},
        "inputs": "[features..., sensitive code]; logit > 0 predicts +1",
        "selected": {str(s["seed"]): s["selected_params"] for s in results["seeds"]},
    }
    # One checkpoint for all seeds: {"config", "models": {seed: checkpoint}}; an FR-Train
    # checkpoint is FRTrain.state_dict() (FRTrain.load-compatible once saved on its own).
    models = {
        str(seed_res["seed"]): {
            "params": seed_res["selected_params"],
            "checkpoint": _checkpoint(f.states[chosen]),
        }
        for seed_res, (_, f, chosen) in zip(results["seeds"], fitted, strict=True)
    }
    torch.save({"config": _json_safe(config), "models": models}, folder / "model.pt")
    (folder / "config.json").write_text(json.dumps(_json_safe(config), indent=2))
    lines = ["seed,row,id,group,y_true,y_pred,score"]
    for seed_res, (ds, f, chosen) in zip(results["seeds"], fitted, strict=True):
        scores = f.test_scores[chosen]
        ids = ds.test.ids if ds.test.ids is not None else np.arange(len(ds.test))
        for r in range(len(ds.test)):
            lines.append(
                f"{seed_res['seed']},{r},{ids[r]},{int(ds.test.z[r])},{int(ds.test.y[r])},"
                f"{1 if scores[r] > 0 else -1},{float(scores[r]):.6g}"
            )
    (folder / "predictions.csv").write_text("\n".join(lines) + "\n")
    plot_tradeoff(results, folder / "tradeoff.png")
    (folder / "metrics.json").write_text(json.dumps(results, indent=2))
    return ["model.pt", "config.json", "predictions.csv", "tradeoff.png", "metrics.json"]


def plot_tradeoff(results: Mapping[str, Any], path: Path, title: str | None = None) -> None:
    """Test accuracy against test disparate impact for every grid point and seed (Figure 4c
    style); the validation-selected point of each seed is circled."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5))
    for s in results["seeds"]:
        di = [p["test"]["disparate_impact"] for p in s["grid"]]
        acc = [p["test"]["accuracy"] for p in s["grid"]]
        xs = [np.nan if v is None else v for v in di]
        ys = [np.nan if v is None else v for v in acc]
        (line,) = ax.plot(xs, ys, "o-", ms=4, alpha=0.7, label=f"seed {s['seed']}")
        c = s["selected"]
        ax.plot(xs[c], ys[c], "o", ms=11, mfc="none", mec=line.get_color(), mew=2)
    ax.set_xlabel("disparate impact (test)")
    ax.set_ylabel("accuracy (test)")
    ax.set_title(title or f"{results['method']} on {results['dataset']}: trade-off over the grid")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def register_cli(root: Any) -> None:
    """Attach the trainer's commands (`train`, `reproduce ...`) to the `frtrain` Typer app."""
    from trainer.cli import register

    register(root)
