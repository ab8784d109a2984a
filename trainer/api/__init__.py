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
      "selection": {"min_fairness": 0.8, "metric": "disparate_impact",
                    "rule": "interval" | "point"},
      "seeds": [0, 1, 2],         # model seeds; each also draws the split unless split_seed
      "split_seed": null | int,
      "device": "auto" | "cpu" | "cuda",
      "test_size": 0.3, "val_size": 0.05,
      "test": null | {"file": PATH, "label_column": COL | null},
      "holdout": null | {"repeats": 3, "fraction": 0.3}
            [on for a user file with a validation file and no clean test file]
    }

Held-out crowd-labelled evaluation (``holdout``): when the only clean labels are the
validation file's (a crowd export), the test split carved from the training file carries
untrusted labels. Then, besides it, the job repeats the whole fit ``repeats`` times on the
first seed, each time with a random ``fraction`` of the validation rows held out: the method
trains and selects its grid point on the remaining validation rows only, and the chosen point
is scored on the held-out rows, which no fit or selection saw. The report gives mean and std
over the repeats and says these numbers are scored against crowd labels. Three repeats of 30%
(fixed in advance, not tuned) keep the cost at three extra fits (FR-Train's grid trains batched,
so one fit per repeat covers the whole grid).

FR-Train's grid: ``l1`` (lambda_1, the fairness weight) and ``l2`` (lambda_2, the robustness
weight) may be lists; every (l1, l2) pair trains in one batched run (paper §3, Appendix A.4
"vary lambda_1 ... for a trade-off"), and the point reported per seed is chosen without test
rows by ``selection.rule`` (docs/SELECTION.md): by default ``interval``, the highest
validation accuracy among grid points whose fairness interval lies at or above
``min_fairness`` (DI measured on the validation rows plus the training split's features,
whose labels are not read; equalized odds and equal opportunity on the validation rows);
if none does, the one with the highest lower end. ``point`` is the previous rule on
validation point estimates. Each grid point records that evidence under ``selection``,
each seed ``selection_rule`` and ``selection_reason``.
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

from trainer import defaults
from trainer.metrics import json_safe as _json_safe
from trainer.selection import (
    DEFAULT_RULE,
    RULES,
    bootstrap_intervals,
    select,
    select_point,
    small_validation_warning,
)

__all__ = ["select", "select_point"]  # the selection rules live in trainer.selection

BUILTIN_DATASETS = ("synthetic", "compas", "adult")
ATTACKS = ("top_margin", "paudice_greedy")
DEVICES = ("auto", "cpu", "cuda")
FAIRNESS_METRICS = ("disparate_impact", "equalized_odds", "equal_opportunity")
#: Selection rules a job may name (docs/SELECTION.md; "smoothed" is the synthetic
#: reproduction's own and needs its extra unlabelled block).
JOB_RULES = RULES[:2]
#: The practitioner baselines' names (trainer/models/practitioners.py PRACTITIONERS).
PRACTITIONER_METHODS = (
    "lr-clean", "eg-dp-clean", "eg-eo-clean", "eg-dp-train", "eg-eo-train", "to-dp-clean",
    "to-eo-clean", "to-dp-train", "to-eo-train", "to-dp-post", "to-eo-post", "cr-lr",
    "relabel-eg",
)  # fmt: skip
#: Methods and where their estimator lives; baselines are offered only when their module
#: is importable.
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
#: Held-out crowd-labelled evaluation's defaults (module docstring): few repeats, cheap.
HOLDOUT_DEFAULT = {"repeats": 3, "fraction": 0.3}
MAX_HOLDOUT_REPEATS = 20
#: Below this many validation rows nothing is held out (a few held-out rows measure nothing).
MIN_HOLDOUT_ROWS = 10


def _job_hyperparameters(regime: defaults.Regime) -> dict[str, Any]:
    """A regime of :mod:`trainer.defaults` in the job spec's hyperparameter names."""
    p = regime.estimator_params()
    return {
        "l1": list(regime.lambda_f),
        "l2": [regime.lambda_r],
        **{k: p[k] for k in ("epochs", "k", "lr_g", "lr_f", "lr_r", "pretrain_epochs", "c_pre",
                             "average_last", "reweight", "batch_size", "fairness")},
        "g_hidden": p["hidden"],
    }  # fmt: skip


#: FR-Train's job defaults per data regime, read from :mod:`trainer.defaults` (where each
#: regime names the ``select-defaults`` evidence that chose it).
FRTRAIN_DEFAULTS: dict[str, dict[str, Any]] = {
    name: _job_hyperparameters(regime) for name, regime in defaults.REGIMES.items()
}
_FRTRAIN_KEYS = set(FRTRAIN_DEFAULTS["real"])


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
    #: ``{"file": PATH}``: a clean test file, encoded like the training file
    test: dict[str, Any] | None = None
    #: ``{"repeats", "fraction"}``: held-out crowd-labelled evaluation (module docstring)
    holdout: dict[str, Any] | None = None

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


def _validate_frtrain(raw: Mapping[str, Any], regime: str) -> dict[str, Any]:
    _check_keys("hyperparameters", raw, _FRTRAIN_KEYS)
    hp: dict[str, Any] = {**FRTRAIN_DEFAULTS[regime], **raw}
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
    _check_keys("hyperparameters", raw, allowed - {"seed", "random_state"})
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


def _check_values(data: Mapping[str, Any], content: bytes) -> None:
    """``privileged`` and ``positive_label`` must be values of their columns (checked now,
    not in the worker); ``content`` is the uploaded CSV or Parquet file."""
    import io

    import pandas as pd

    from trainer.data.tabular import canon

    buf = io.BytesIO(content)
    frame = pd.read_parquet(buf) if content[:4] == b"PAR1" else pd.read_csv(buf, dtype=str)
    for key, col in (("privileged", data["sensitive"]), ("positive_label", data["label"])):
        value = data.get(key)
        if value is None or col not in frame.columns:
            continue
        present = sorted(str(v) for v in canon(frame[col]).dropna().unique())
        if canon(pd.Series([value])).iloc[0] not in present:
            shown = present[:20]
            raise _fail(f"data.{key}", f"{value!r} is not a value of column {col!r}; it has "
                        f"{shown}{' ...' if len(present) > 20 else ''}")  # fmt: skip


def validate_spec(
    raw: Mapping[str, Any],
    *,
    file_columns: Sequence[str] | None = None,
    file_content: bytes | None = None,
) -> JobSpec:
    """Check and normalise a training request; raise ``ValueError`` naming the bad field.

    Args:
        raw: the request (module docstring). Paths (``data.file``, ``validation.path``) may
            be absent at this point: the service fills them in when a worker runs the job.
        file_columns: the uploaded training file's columns, to check the column roles now.
        file_content: the uploaded file itself, to check ``privileged`` and
            ``positive_label`` against the values of their columns now.
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
        "test",
        "holdout",
    }
    _check_keys("spec", raw, allowed)
    if "data" not in raw:
        raise _fail("data", "required")
    data = _validate_data(raw["data"], file_columns)
    if "file" in data and (file_content is not None or data.get("file")):
        if file_content is None and Path(str(data["file"])).is_file():
            file_content = Path(str(data["file"])).read_bytes()
        if file_content is not None:
            _check_values(data, file_content)
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
    regime = defaults.regime_for(
        dataset, poisoned_synthetic=bool(data.get("synthetic_poisoned") or raw.get("poisoning"))
    ).name
    if method == "fr-train":
        hp = _validate_frtrain(hp_raw, regime)
    else:
        hp = _validate_baseline(method, hp_raw)
    grid = _grid(method, hp)
    if len(grid) > MAX_GRID:
        raise _fail("hyperparameters", f"the grid has {len(grid)} points; at most {MAX_GRID}")
    sel_raw = raw.get("selection") or {}
    if not isinstance(sel_raw, Mapping):
        raise _fail("selection", "must be an object")
    _check_keys("selection", sel_raw, {"min_fairness", "metric", "rule"})
    selection = {
        "min_fairness": _number("selection.min_fairness", sel_raw.get("min_fairness", 0.8), 0, 1),
        "metric": sel_raw.get("metric", "disparate_impact"),
        "rule": sel_raw.get("rule", DEFAULT_RULE),
    }
    if selection["metric"] not in FAIRNESS_METRICS:
        raise _fail("selection.metric", f"must be one of {FAIRNESS_METRICS}")
    if selection["rule"] not in JOB_RULES:
        raise _fail("selection.rule", f"must be one of {JOB_RULES}")
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
    test = raw.get("test")
    if test is not None:
        if not isinstance(test, Mapping):
            raise _fail("test", "must be an object {'file': PATH} or null")
        _check_keys("test", test, {"file", "label_column", "name"})
        name_ = test.get("name")
        if name_ is not None and (not isinstance(name_, str) or len(name_) > 300):
            raise _fail("test.name", "must be a string of at most 300 characters")
        test = {"file": test.get("file"), "label_column": test.get("label_column"), "name": name_}
    holdout = _validate_holdout(raw, data, validation, test)
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
        test=test,
        holdout=holdout,
    )


def _validate_holdout(
    raw: Mapping[str, Any],
    data: Mapping[str, Any],
    validation: Mapping[str, Any],
    test: Mapping[str, Any] | None,
) -> dict[str, Any] | None:
    """The held-out crowd-labelled evaluation to run: on by default (``HOLDOUT_DEFAULT``) for a
    user file validated on a validation file with no clean test file; ``null`` or
    ``repeats: 0`` turns it off; it needs a validation file."""
    if "holdout" not in raw:
        default = "file" in data and validation["kind"] == "file" and test is None
        return dict(HOLDOUT_DEFAULT) if default else None
    h = raw["holdout"]
    if h is None:
        return None
    if not isinstance(h, Mapping):
        raise _fail("holdout", "must be an object {'repeats', 'fraction'} or null")
    _check_keys("holdout", h, {"repeats", "fraction"})
    repeats = _number("holdout.repeats", h.get("repeats", HOLDOUT_DEFAULT["repeats"]), 0,
                      MAX_HOLDOUT_REPEATS, integer=True)  # fmt: skip
    fraction = _number("holdout.fraction", h.get("fraction", HOLDOUT_DEFAULT["fraction"]), 0.1,
                       0.9)  # fmt: skip
    if repeats == 0:
        return None
    if validation["kind"] != "file":
        raise _fail("holdout", "held-out crowd-labelled evaluation needs a validation file")
    return {"repeats": repeats, "fraction": fraction}


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


def _method_report(est: Any) -> dict[str, Any]:
    """``{"method_report": ...}`` for a method that explains its choice (auto), else {}."""
    if hasattr(est, "report"):
        return {"method_report": _json_safe(est.report())}
    return {}


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
                    "val_interval": bootstrap_intervals(ds.val.y, pv, ds.val.z, seed=seed),
                    "test": _json_safe(evaluate(ds.test.y, pt, ds.test.z)),
                }
            )
        choice = _select(spec, ds, fitted, seed)
        chosen = choice.index
        for p, evidence in zip(points, choice.points, strict=True):
            p["selection"] = _json_safe(evidence)
        warning = small_validation_warning(
            [p["val_interval"] for p in points], len(ds.val), spec.selection["min_fairness"]
        )
        warns = [warning] if warning else []
        warns += choice.warnings
        if warns:
            facts["warnings"] = warns
        per_seed.append(
            {
                "seed": seed,
                "grid": points,
                "selected": chosen,
                "selection_rule": choice.rule,
                "selection_reason": choice.reason,
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
    holdout = None
    if spec.holdout is not None:
        report("held-out crowd-labelled evaluation", n_seeds, 0, force=True)

        def poll(_epoch: int) -> None:
            if should_cancel is not None and should_cancel():
                raise Cancelled("cancelled")

        holdout = _holdout_evaluation(spec, ds0, grid, poll)
    results: dict[str, Any] = {
        "test_labels": test_labels(spec),
        "warnings": sorted({w for s in per_seed for w in s.get("warnings", [])}),
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
        **({"holdout": holdout} if holdout is not None else {}),
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


def _select(spec: JobSpec, ds: Any, fitted: _Fitted, seed: int) -> Any:
    """The job's selection rule on validation predictions and, for label-free DI, the
    training split's (``trainer.selection.select``; the test split is not passed)."""
    pred = lambda s: np.where(s > 0, 1, -1)  # noqa: E731
    train = fitted.train_scores
    return select(
        ds.val.y, pred(fitted.val_scores), ds.val.z,
        train_pred=None if train is None else pred(train),
        z_train=None if train is None else ds.train.z,
        metric=spec.selection["metric"], min_fairness=spec.selection["min_fairness"],
        rule=spec.selection.get("rule", DEFAULT_RULE), seed=seed,
    )  # fmt: skip


def _holdout_evaluation(
    spec: JobSpec, ds: Any, grid: list[dict[str, Any]], poll: Callable[[int], None]
) -> dict[str, Any]:
    """Held-out crowd-labelled evaluation (module docstring) on the first seed's data."""
    from dataclasses import replace

    from trainer.metrics import evaluate

    assert spec.holdout is not None
    seed = spec.seeds[0]
    fit = _fit_frtrain if spec.method == "fr-train" else _fit_baseline
    n_val = len(ds.val)
    n_out = max(1, round(spec.holdout["fraction"] * n_val))
    labels = "validation-file (crowd) labels of held-out rows never used for selection"
    if n_val < MIN_HOLDOUT_ROWS:
        return {**spec.holdout, "seed": seed, "labels": labels, "repeats_run": [],
                "note": f"skipped: {n_val} validation rows are too few to hold any out",
                "summary": {k: _summary([]) for k in ("accuracy", "disparate_impact")}}  # fmt: skip
    rng = np.random.default_rng([seed, 0x401D])
    repeats = []
    for _ in range(spec.holdout["repeats"]):
        poll(0)
        order = rng.permutation(n_val)
        held, keep = np.sort(order[:n_out]), np.sort(order[n_out:])
        # The held-out rows take the test split's place: no fit and no selection sees them.
        part = replace(ds, val=ds.val.subset(keep), test=ds.val.subset(held))
        fitted = fit(spec, part, seed, grid, poll)
        chosen = _select(spec, part, fitted, seed).index
        pt = np.where(fitted.test_scores[chosen] > 0, 1, -1)
        scored = _json_safe(evaluate(part.test.y, pt, part.test.z))
        ids = ds.val.ids if ds.val.ids is not None else np.arange(n_val)
        repeats.append({"selected_params": grid[chosen], "n_select": len(keep),
                        "n_held_out": len(held), "held_out": scored,
                        "held_out_ids": [i.item() if hasattr(i, "item") else i
                                         for i in ids[held]]})  # fmt: skip
    return {
        **spec.holdout,
        "seed": seed,
        "labels": labels,
        "repeats_run": repeats,
        "summary": {
            k: _summary([r["held_out"][k] for r in repeats])
            for k in ("accuracy", "disparate_impact")
        },
    }


def test_labels(spec: JobSpec) -> dict[str, Any]:
    """Where the test labels come from, and whether they can be trusted.

    A clean test file, or a built-in data set's held-out split (poisoning touches the
    training split only), is trusted; a test split carved from a user's training file
    carries that file's labels, which FR-Train assumes may be noisy or poisoned.
    """
    if spec.test is not None:
        name = spec.test.get("name") or Path(str(spec.test.get("file") or "")).name
        return {"source": "test file", "file": name, "trusted": True,
                "note": f"scored on the clean labels of the test file {name}"}  # fmt: skip
    if spec.data.get("builtin"):
        return {"source": f"{spec.data['builtin']} test split", "trusted": True,
                "note": "scored on the data set's clean held-out labels"}  # fmt: skip
    return {
        "source": "training file",
        "trusted": False,
        "note": (
            "UNTRUSTED TEST LABELS: the test split was carved from the training file, whose "
            "labels may be noisy or poisoned; give a clean test file (test: {file} / "
            "--test-file) to score against clean labels"
        ),
    }


def format_results(results: Mapping[str, Any]) -> str:
    """The grid per seed (validation with 95% bootstrap intervals beside test), the chosen
    point marked, where the test labels come from, and any warnings."""
    lines = []
    for s in results["seeds"]:
        lines.append(f"seed {s['seed']}: n_train {s['n_train']}, n_val {s['n_val']}, "
                     f"n_test {s['n_test']}")  # fmt: skip
        lines.append(f"{'#':>3} {'params':<22} {'val acc [95%]':>20} {'val DI [95%]':>20}"
                     f" {'label-free DI [95%]':>20} {'ok':>2} {'test acc':>8}"
                     f" {'test DI':>7}")  # fmt: skip
        rep = s.get("method_report")
        if rep:  # auto: what it compared, chose and why
            lines.append(f"auto chose {rep.get('reason', rep.get('chosen'))}")
            lines.extend(f"  note: {n}" for n in [*rep.get("warnings", []), *rep.get("notes", [])])
        for i, p in enumerate(s["grid"]):
            iv = p.get("val_interval") or {}

            def cell(v: Any, ci: Any) -> str:
                if v is None:
                    return f"{'-':>20}"
                c = f" [{ci[0]:.2f},{ci[1]:.2f}]" if ci else ""
                return f"{v:>7.3f}{c:>13}"

            params = ", ".join(f"{k}={v}" for k, v in p["params"].items())[:22]
            ta, td = p["test"]["accuracy"], p["test"]["disparate_impact"]
            ev = p.get("selection") or {}
            lines.append(
                f"{i:>2}{'*' if i == s['selected'] else ' '} {params:<22} "
                f"{cell(p['val']['accuracy'], iv.get('accuracy'))} "
                f"{cell(p['val']['disparate_impact'], iv.get('disparate_impact'))} "
                f"{cell(ev.get('label_free_di'), ev.get('label_free_di_interval'))} "
                f"{'y' if ev.get('feasible') else '-':>2} "
                f"{ta:>8.3f} {'-' if td is None else f'{td:.3f}':>7}"
            )
        if s.get("selection_reason"):
            lines.append(f"  chosen by {s['selection_reason']}")
    lines.append("* = chosen without test rows (trainer.selection, docs/SELECTION.md); ok = "
                 "feasible: the checked fairness interval lies at or above the target")  # fmt: skip
    lines.append(f"test labels: {results['test_labels']['note']}")
    h = results.get("holdout")
    if h:
        cells = []
        for key in ("accuracy", "disparate_impact"):
            m = h["summary"][key]
            mean, std = m["mean"], m["std"]
            cells.append(f"{key} {'-' if mean is None else f'{mean:.3f} ± {std:.3f}'}")
        lines.append(f"held-out crowd evaluation ({h['repeats']} repeats, {h['fraction']:.0%} of "
                     f"the validation rows held out, seed {h['seed']}): {', '.join(cells)}; "
                     f"scored against {h['labels']}")  # fmt: skip
    lines.extend(f"WARNING: {w}" for w in results.get("warnings", []))
    return "\n".join(lines)


def _portable_spec(spec: JobSpec) -> dict[str, Any]:
    """The spec without machine paths: files are named by their base name only."""
    d = json.loads(json.dumps(spec.to_dict(), default=str))
    for part, key in (("data", "file"), ("validation", "path"), ("test", "file")):
        sub = d.get(part)
        if isinstance(sub, dict) and sub.get(key):
            sub[key] = Path(str(sub[key])).name
    return d


def write_artifacts(
    folder: Path, spec: JobSpec, results: dict[str, Any], fitted: list[tuple[Any, _Fitted, int]]
) -> list[str]:
    """model.pt + config.json, predictions.csv, tradeoff.png, metrics.json; returns names."""
    import torch

    from trainer.artifact import build_payload, format_score

    folder.mkdir(parents=True, exist_ok=True)
    ds0 = fitted[0][0]
    portable = _portable_spec(spec)
    config = {
        "spec": portable,
        "feature_names": list(ds0.feature_names),
        "sensitive": ds0.sensitive_name,
        "group_names": {str(k): v for k, v in ds0.group_names.items()},
        "inputs": "[features..., sensitive code]; logit > 0 predicts +1",
        "selected": {str(s["seed"]): s["selected_params"] for s in results["seeds"]},
    }
    # The whole fitted pipeline (trainer.artifact): encoder, chosen model per seed, metadata.
    payload = build_payload(
        datasets=[d for d, _, _ in fitted],
        method=spec.method,
        dataset=spec.dataset_name,
        seeds=results["seeds"],
        estimators=[f.states[chosen] for _, f, chosen in fitted],
        spec_summary=portable,
    )
    torch.save(payload, folder / "model.pt")
    (folder / "config.json").write_text(json.dumps(_json_safe(config), indent=2))
    lines = ["seed,row,id,group,y_true,y_pred,score"]
    for seed_res, (ds, f, chosen) in zip(results["seeds"], fitted, strict=True):
        scores = f.test_scores[chosen]
        ids = ds.test.ids if ds.test.ids is not None else np.arange(len(ds.test))
        for r in range(len(ds.test)):
            lines.append(
                f"{seed_res['seed']},{r},{ids[r]},{int(ds.test.z[r])},{int(ds.test.y[r])},"
                f"{1 if scores[r] > 0 else -1},{format_score(scores[r])}"
            )
    (folder / "predictions.csv").write_text("\n".join(lines) + "\n")
    plot_tradeoff(results, folder / "tradeoff.png")
    (folder / "metrics.json").write_text(json.dumps(results, indent=2))
    return ["model.pt", "config.json", "predictions.csv", "tradeoff.png", "metrics.json"]


def plot_tradeoff(results: Mapping[str, Any], path: Path, title: str | None = None) -> None:
    """The accuracy-fairness trade-off as a curve (Figure 4c style): test accuracy against
    test disparate impact, the grid points of each seed joined in order of DI (not of
    lambda), each labelled with its lambda_1, the 0.8 rule drawn, and the point chosen on
    validation circled. The y label says where the test labels come from."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.8))
    for s in results["seeds"]:
        pts = []
        for i, p in enumerate(s["grid"]):
            di, acc = p["test"]["disparate_impact"], p["test"]["accuracy"]
            if di is not None and acc is not None:
                pts.append((di, acc, i))
        pts.sort()
        (line,) = ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", ms=4, alpha=0.8,
                          label=f"seed {s['seed']}")  # fmt: skip
        for di, acc, i in pts:
            lam = s["grid"][i]["params"].get("l1")
            if lam is not None:
                ax.annotate(f"λ1={lam:g}", (di, acc), fontsize=6, xytext=(3, 3),
                            textcoords="offset points")  # fmt: skip
            if i == s["selected"]:
                ax.plot(di, acc, "o", ms=11, mfc="none", mec=line.get_color(), mew=2)
    ax.axvline(0.8, color="grey", ls="--", lw=1, label="DI = 0.8")
    ax.set_xlabel("disparate impact (test)")
    labels = results.get("test_labels", {})
    trusted = labels.get("trusted", True)
    ax.set_ylabel("accuracy (test" + ("" if trusted else ", UNTRUSTED labels") + ")")
    ax.set_title(title or f"{results['method']} on {results['dataset']}: trade-off over the grid",
                 fontsize=10)  # fmt: skip
    if not trusted:
        fig.text(0.01, 0.01, "test labels from the training file: may be noisy or poisoned",
                 fontsize=7, color="tab:red")  # fmt: skip
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    # fixed margins: tight_layout would draw the figure once more just to measure it
    fig.subplots_adjust(left=0.12, right=0.97, bottom=0.13, top=0.92)
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- prediction with a saved model ---------------------------------------------------------------
def load_model(path: str | Path) -> Any:
    """The fitted pipeline in ``model.pt`` (or a folder holding it): a
    :class:`trainer.artifact.SavedModel`. Raises ``ValueError`` for a file that is not one."""
    from trainer.artifact import SavedModel

    p = Path(path)
    if p.is_dir():
        p = p / "model.pt"
    if not p.is_file():
        raise FileNotFoundError(f"no model file at {p}")
    return SavedModel.load(p)


def predict_table(model: Any, table: Any, *, seed: int | None = None) -> Any:
    """``id, score, label`` rows (a pandas DataFrame) for a raw table: a path or DataFrame
    with the training file's feature and sensitive columns. Raises ``ValueError`` naming the
    column for missing columns, unknown categories and values of the wrong type."""
    return model.predict_frame(table, seed=seed)


#: At most this many rows per prediction request (the service's limit).
MAX_PREDICT_ROWS = 100_000


def read_rows(content: bytes, content_type: str) -> Any:
    """Rows to predict from a request body: CSV (``text/csv``), Parquet
    (``application/vnd.apache.parquet``) or JSON (``application/json``: a list of objects,
    or ``{"rows": [...]}``, one object per row, column name to scalar value). Raises
    ``ValueError`` saying what is wrong."""
    import io

    import pandas as pd

    kind = content_type.split(";")[0].strip().lower()
    if not content.strip():
        raise ValueError("the request body is empty: send rows as CSV, Parquet or JSON")
    try:
        if kind in ("text/csv", "application/csv", "text/plain"):
            frame = pd.read_csv(io.BytesIO(content))
        elif kind in ("application/vnd.apache.parquet", "application/octet-stream"):
            frame = pd.read_parquet(io.BytesIO(content))
        elif kind in ("application/json", ""):
            frame = _json_rows(content)
        else:
            raise ValueError(
                f"unsupported content type {kind!r}; use text/csv, application/json or "
                "application/vnd.apache.parquet"
            )
    except ValueError:
        raise
    except Exception as exc:
        raise ValueError(f"could not read the rows ({type(exc).__name__}: {exc})") from None
    if len(frame) == 0:
        raise ValueError("no rows to predict")
    if len(frame) > MAX_PREDICT_ROWS:
        raise ValueError(f"{len(frame)} rows; at most {MAX_PREDICT_ROWS} per request")
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _json_rows(content: bytes) -> Any:
    import pandas as pd

    try:
        doc = json.loads(content)
    except RecursionError:
        raise ValueError("the JSON body is nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"the body is not valid JSON: {exc}") from None
    rows = doc.get("rows") if isinstance(doc, dict) else doc
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ValueError('JSON rows must be a list of objects (or {"rows": [...]})')
    for i, row in enumerate(rows[: MAX_PREDICT_ROWS + 1]):
        for key, value in row.items():
            if value is not None and not isinstance(value, str | int | float | bool):
                raise ValueError(f"row {i}, column {key!r}: values must be scalars")
    return pd.DataFrame.from_records(rows)
