"""Training-job specs: the JSON shape of the module docstring of :mod:`trainer.api`,
validated into a :class:`JobSpec` (or a ``ValueError`` naming the bad field), and the methods a
job may name."""

from __future__ import annotations

import importlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from trainer import defaults
from trainer.selection import DEFAULT_RULE, RULES

BUILTIN_DATASETS = ("synthetic", "compas", "adult")
ATTACKS = ("top_margin", "paudice_greedy")
DEVICES = ("auto", "cpu", "cuda")
FAIRNESS_METRICS = ("disparate_impact", "equalized_odds", "equal_opportunity")
#: Selection rules a job may name (docs/SELECTION.md): every rule of trainer.selection;
#: "smoothed" (the synthetic reproduction's) needs extra label-free rows, so the built-in
#: synthetic data only.
JOB_RULES = RULES
#: Extra label-free rows a job's selection may add (``selection.extra_label_free``): the
#: synthetic files' block [2200, 2700), which the authors' notebook set aside (``num_val2``)
#: and no split uses; features and group only, its labels are never read.
SYNTHETIC_UNUSED_BLOCK = "synthetic-unused-block"
EXTRA_LABEL_FREE = (SYNTHETIC_UNUSED_BLOCK,)
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
                             "average_last", "reweight", "batch_size", "fairness",
                             "refresh_every")},
        "g_hidden": p["hidden"],
    }  # fmt: skip


#: FR-Train's job defaults per data regime, read from :mod:`trainer.defaults` (where each
#: regime names the ``select-defaults`` evidence that chose it).
FRTRAIN_DEFAULTS: dict[str, dict[str, Any]] = {
    name: _job_hyperparameters(regime) for name, regime in defaults.REGIMES.items()
}
_FRTRAIN_KEYS = set(FRTRAIN_DEFAULTS["real"])


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
    hp["refresh_every"] = _number(
        "hyperparameters.refresh_every", hp["refresh_every"], 1, 200_000, integer=True
    )
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
    selection = _validate_selection(sel_raw, data, method, hp)
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


def _validate_selection(
    raw: Mapping[str, Any], data: Mapping[str, Any], method: str, hp: dict[str, Any]
) -> dict[str, Any]:
    """``selection``: target, metric, rule (docs/SELECTION.md) and extra label-free rows.

    ``smoothed`` averages neighbouring lambda_1 values within each l2 (l1 is put in
    ascending order), and it needs extra label-free rows: the built-in synthetic data's
    unused block, its default there.
    """
    _check_keys("selection", raw, {"min_fairness", "metric", "rule", "extra_label_free"})
    rule = raw.get("rule", DEFAULT_RULE)
    if rule not in JOB_RULES:
        raise _fail("selection.rule", f"must be one of {JOB_RULES}")
    synthetic = data.get("builtin") == "synthetic"
    default_extra = SYNTHETIC_UNUSED_BLOCK if rule == "smoothed" and synthetic else None
    extra = raw.get("extra_label_free", default_extra)
    if extra is not None and extra not in EXTRA_LABEL_FREE:
        raise _fail("selection.extra_label_free", f"must be null or one of {EXTRA_LABEL_FREE}")
    if extra is not None and not synthetic:
        raise _fail("selection.extra_label_free", f"{extra!r} exists for the built-in synthetic "
                    "data only")  # fmt: skip
    if rule == "smoothed" and extra is None:
        raise _fail("selection.rule", "'smoothed' needs extra label-free rows, which only "
                    "the built-in synthetic data has (its unused block); use 'interval' or "
                    "'point'")  # fmt: skip
    if rule == "smoothed" and method == "fr-train":
        hp["l1"] = sorted(hp["l1"])
    out = {
        "min_fairness": _number("selection.min_fairness", raw.get("min_fairness", 0.8), 0, 1),
        "metric": raw.get("metric", "disparate_impact"),
        "rule": rule,
        "extra_label_free": extra,
    }
    if out["metric"] not in FAIRNESS_METRICS:
        raise _fail("selection.metric", f"must be one of {FAIRNESS_METRICS}")
    return out


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
