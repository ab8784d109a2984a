"""The paper's task runners: baselines, RML validation, FR-Train (through ``trainer.api``:
the job spec of a task, its fit, scores and choice), the practitioners' methods and auto."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from trainer.data.base import Dataset, Split
from trainer.experiments.protocol import (
    BASE_L2,
    TARGET_DI,
    Profile,
    crowd_validation,
    load_data,
    val_subset,
)
from trainer.experiments.tuning import KnobResult, select_knob
from trainer.metrics import accuracy, disparate_impact, equalized_odds


# ----------------------------------------------------------------------------------------
# Tasks
# ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Task:
    """One cacheable unit of training. ``kind`` in {"baselines", "fr", "rml_val"}."""

    kind: str
    dataset: str
    setting: str
    seeds: tuple[int, ...]
    options: tuple[tuple[str, Any], ...] = ()

    @property
    def key(self) -> str:
        opts = "-".join(f"{k}={v}" for k, v in self.options)
        seeds = "_".join(map(str, self.seeds))
        return f"{self.kind}.{self.dataset}.{self.setting}.s{seeds}" + (f".{opts}" if opts else "")

    def opt(self, name: str, default: Any = None) -> Any:
        return dict(self.options).get(name, default)


def _scores(model: Any, split: Split) -> dict[str, float]:
    pred = model.predict(split.X, split.z)
    eo = equalized_odds(split.y, pred, split.z)
    return {
        "acc": accuracy(split.y, pred),
        "di": disparate_impact(pred, split.z),
        "eo0": eo[0],
        "eo1": eo[1],
    }


def _sweep(fitted: Iterable[tuple[Any, Any]], ds: Dataset, val: Split) -> dict[str, Any]:
    """Score every knob on val and test; the choice (on val only) is :func:`select_curve`."""
    curve = []
    for knob, model in fitted:
        v, t = _scores(model, val), _scores(model, ds.test)
        curve.append({"knob": knob, "val_acc": v["acc"], "val_di": v["di"], **{
            f"test_{k}": x for k, x in t.items()}})  # fmt: skip
    majority = float(max(np.mean(val.y > 0), np.mean(val.y <= 0)))
    return select_curve({"curve": curve, "val_majority": majority})


def select_curve(rec: dict[str, Any]) -> dict[str, Any]:
    """The record with its validation-chosen knob's fields (tuning.select_knob).

    Kept separate from training so that the report re-applies the current rule to cached
    curves. A model worse than the constant majority prediction on validation (AD at large
    α can flip the classifier's sign) is never chosen while a sane one exists.
    """
    curve = rec["curve"]
    knobs = [KnobResult(knob=i, val_accuracy=c["val_acc"], val_di=c["val_di"]) for i, c in
             enumerate(curve)]  # fmt: skip
    best, reached = select_knob(knobs, target_di=TARGET_DI, min_accuracy=rec.get("val_majority"))
    return {**rec, **curve[int(best.knob)], "reached": reached}


def _fit(model: Any, tr: Split, val: Split, w: Any = None) -> Any:
    return model.fit(tr.X, tr.y, tr.z, X_val=val.X, y_val=val.y, z_val=val.z, sample_weight=w)


def run_baselines(task: Task, profile: Profile, data_dir: str | None) -> dict[str, Any]:
    """LR, RML and the three fairness methods with and without RML weights, every seed.

    Returns ``{method: [record per seed]}``. LR, FC and LBC are deterministic given the
    data, so they are fitted once and their record repeated for every seed; RML, AD and
    the RML+X methods are fitted per seed (RML's and AD's initialisation).
    """
    from trainer.models.ad import AdversarialDebiasing, fit_many
    from trainer.models.fc import FairnessConstraints
    from trainer.models.lbc import LabelBiasCorrection
    from trainer.models.lr import LogisticRegression
    from trainer.models.rml import LearningToReweight

    ds = load_data(task.dataset, task.setting, data_dir)
    tr, val = ds.train, ds.val
    l2 = BASE_L2[task.dataset]
    n_seeds = len(task.seeds)

    def fc(w: Any) -> dict[str, Any]:
        def path() -> Iterable[tuple[Any, Any]]:
            for c in profile.fc_grid:
                model = FairnessConstraints(mode="constraint", c=c, c_relative=True, l2=l2)
                yield c, _fit(model, tr, val, w)

        return _sweep(path(), ds, val)

    def lbc(w: Any) -> dict[str, Any]:
        model = _fit(LabelBiasCorrection(n_iter=profile.lbc_max_iter, l2=l2), tr, val, w)
        T = profile.lbc_max_iter
        return _sweep(((t, model.at_iteration(t)) for t in range(1, T + 1)), ds, val)

    lr = _fit(LogisticRegression(), tr, val)
    lr_rec = {**{f"test_{k}": v for k, v in _scores(lr, ds.test).items()}, "knob": None}
    out: dict[str, list[dict[str, Any]]] = {
        "LR": [lr_rec] * n_seeds,
        "FC": [fc(None)] * n_seeds,
        "LBC": [lbc(None)] * n_seeds,
    }
    flipped = None
    if task.setting == "poisoned":
        flipped = tr.y != load_data(task.dataset, "clean", data_dir).train.y
    rml_weights = []
    for seed in task.seeds:
        rml = LearningToReweight(
            n_steps=profile.rml_steps, last_k=min(100, profile.rml_steps), random_state=seed
        )
        rml = _fit(rml, tr, val)
        rec = {**{f"test_{k}": v for k, v in _scores(rml, ds.test).items()}, "knob": None}
        w = rml.weights_
        rml_weights.append(w)
        if flipped is not None and flipped.any():
            rec["weight_flipped"] = float(w[flipped].mean())
            rec["weight_unflipped"] = float(w[~flipped].mean())
        out.setdefault("RML", []).append(rec)
        out.setdefault("RML+FC", []).append(fc(w))
        out.setdefault("RML+LBC", []).append(lbc(w))
    # AD and RML+AD: every (seed, weighting, α) in ONE vectorised run (ad.fit_many).
    cols = [
        (
            method,
            seed,
            a,
            AdversarialDebiasing(alpha=a, n_steps=profile.ad_steps, random_state=seed),
            w,
        )
        for seed, w_rml in zip(task.seeds, rml_weights, strict=True)
        for method, w in (("AD", None), ("RML+AD", w_rml))
        for a in profile.ad_grid
    ]
    fit_many(tr.X, tr.y, tr.z, [(m, w) for *_, m, w in cols])
    for seed in task.seeds:
        for method in ("AD", "RML+AD"):
            path = [(a, m) for (mth, s_, a, m, _) in cols if mth == method and s_ == seed]
            out.setdefault(method, []).append(_sweep(path, ds, val))
    return out


def run_rml_val(task: Task, profile: Profile, data_dir: str | None) -> dict[str, Any]:
    """Table 8: RML with a validation subset of ``n_val`` rows (one seed)."""
    from trainer.models.rml import LearningToReweight

    (seed,) = task.seeds
    ds = load_data(task.dataset, task.setting, data_dir)
    val = val_subset(ds.val, int(task.opt("n_val")), seed)
    rml = _fit(
        LearningToReweight(
            n_steps=profile.rml_steps, last_k=min(100, profile.rml_steps), random_state=seed
        ),
        ds.train,
        val,
    )
    return {f"test_{k}": v for k, v in _scores(rml, ds.test).items()}


def fr_settings(dataset: str, setting: str, profile: Profile) -> dict[str, Any]:
    """FR-Train hyperparameters, the same ones the product uses, scaled by the profile.

    Synthetic: :data:`trainer.experiments.synthetic.DEFAULT_SETTINGS` (what ``frtrain
    reproduce synthetic`` runs). COMPAS and AdultCensus: ``trainer.defaults.REGIMES
    ["real"]`` (what ``frtrain train`` and the demo run: λ_r 0.3, λ_f 0.1-0.6, 2,000
    full-batch epochs at rate 1e-2, 500 of them pretraining), for clean and poisoned data
    alike. AdultCensus has 6x COMPAS's rows and 97 features, so it trains on mini-batches
    of 2,048 rows for :data:`ADULT_STEPS` optimisation steps (500 of them pretraining)
    instead of 2,000 passes over the data.
    """
    if dataset == "synthetic":
        from trainer.experiments.synthetic import DEFAULT_SETTINGS

        base = DEFAULT_SETTINGS[setting]
        params = dict(base["params"])
        lambda_r, lambda_f = float(base["lambda_r"]), list(base["lambda_f"])
    else:
        from trainer.defaults import REGIMES

        real = REGIMES["real"]
        every = real.estimator_params()
        schedule = ("epochs", "k", "lr_g", "lr_f", "lr_r", "pretrain_epochs", "c_pre")
        params = {key: every[key] for key in (*schedule, "average_last")}
        lambda_f, lambda_r = list(real.lambda_f), float(real.lambda_r)
    params.setdefault("pretrain_epochs", 500)
    if dataset == "adult":
        params.update(adult_schedule(ADULT_STEPS, int(params["pretrain_epochs"])))
    lambda_f = lambda_f[:: profile.fr_lambda_stride]
    scale = profile.fr_epoch_scale
    if scale != 1.0:
        params["epochs"] = max(20, round(params["epochs"] * scale))
        params["pretrain_epochs"] = max(5, round(params["pretrain_epochs"] * scale))
        if dataset != "adult":
            # W refreshes every 100 steps; keep about as many refreshes in a shortened run.
            params["refresh_every"] = max(10, round(100 * scale))
    return {"lambda_r": lambda_r, "lambda_f": lambda_f, "params": params}


#: AdultCensus: FR-Train's optimisation steps (mini-batches of :data:`ADULT_BATCH` rows;
#: COMPAS's 2,000 full-batch epochs are 2,000 steps). Chosen among {2,000, 8,000} by
#: ``frtrain reproduce select-defaults --data adult --seeds 0,1,2`` on validation only
#: (see :mod:`trainer.experiments.select_defaults`): 8,000 steps, mean validation accuracy
#: 0.772 against 0.726 at 2,000, both with validation DI >= 0.8 on all three seeds.
ADULT_STEPS = 8000
ADULT_BATCH = 2048


def adult_schedule(steps: int, pretrain_steps: int = 500) -> dict[str, int]:
    """``batch_size``/``epochs``/``pretrain_epochs`` giving ``steps`` AdultCensus steps."""
    per_epoch = math.ceil(len(load_data("adult", "clean").train) / ADULT_BATCH)
    return {
        "batch_size": ADULT_BATCH,
        "epochs": max(1, round(steps / per_epoch)),
        "pretrain_epochs": max(1, round(pretrain_steps / per_epoch)),
    }


#: FR-Train's selection rule per data set (docs/SELECTION.md). Synthetic: ``frtrain reproduce
#: synthetic``'s ``smoothed`` (its published Table 1 was produced with it), with DI on the
#: validation rows plus the authors' unused block [2200, 2700). COMPAS and AdultCensus: the
#: product's rule (``trainer.selection.DEFAULT_RULE``, ``interval``), what a training job on
#: that data gets.
FR_RULES = {"synthetic": "smoothed"}


def fr_rule(dataset: str) -> str:
    """The selection rule FR-Train's grid points are chosen by on ``dataset``."""
    from trainer.selection import DEFAULT_RULE

    return FR_RULES.get(dataset, DEFAULT_RULE)


def fr_grid(task: Task, cfg: dict[str, Any]) -> tuple[list[float], list[float]]:
    """λ_f and λ_r values one FR-Train task trains (λ_r first: the main one)."""
    lrs = task.opt("lambda_r", cfg["lambda_r"])
    lambda_r = list(lrs) if isinstance(lrs, tuple) else [float(lrs)]
    lambda_f = [lf for lf in cfg["lambda_f"] if lf + max(lambda_r) <= 0.95 + 1e-9]
    if len(lambda_f) < len(cfg["lambda_f"]) // 2:
        # A larger λ_r override (Figure 4e's 0.4) leaves too few of the default λ_f values
        # valid (λ_f + λ_r <= 0.95, the paper's appendix); spread as many over what is left.
        n = len(cfg["lambda_f"])
        lambda_f = [round(x, 3) for x in np.linspace(0.1, 0.95 - max(lambda_r), n)]
    if task.opt("ablation"):
        lambda_r = [*lambda_r, 0.0]
        lambda_f = [0.0, *lambda_f]
    return lambda_f, lambda_r


def fr_spec(task: Task, profile: Profile) -> Any:
    """The training-job spec (``trainer.api``) of an FR-Train task: the job that trains the
    same grid, with the same settings and selection rule, on the same data (its validation
    set aside: :func:`run_fr` replaces it for the validation-subset and crowd tasks)."""
    from trainer.api import validate_spec
    from trainer.experiments.protocol import SPLIT_SEED, TEST_SIZE

    cfg = fr_settings(task.dataset, task.setting, profile)
    lambda_f, lambda_r = fr_grid(task, cfg)
    params = dict(cfg["params"])
    if task.opt("reweight"):
        params["reweight"] = task.opt("reweight")
    fairness = task.opt("fairness", "dp")
    data: dict[str, Any] = {"builtin": task.dataset}
    poisoning = None
    if task.dataset == "synthetic":
        data["synthetic_poisoned"] = task.setting == "poisoned"  # the authors' y_poi
    elif task.setting == "poisoned":
        poisoning = {"attack": "top_margin", "fraction": 0.1, "target_group": 1}
    metric = {"dp": "disparate_impact", "eo": "equalized_odds", "eop": "equal_opportunity"}
    return validate_spec({
        "data": data, "poisoning": poisoning, "method": "fr-train",
        "hyperparameters": {"l1": lambda_f, "l2": lambda_r, **params, "fairness": fairness},
        "selection": {"rule": fr_rule(task.dataset), "metric": metric[fairness],
                      "min_fairness": TARGET_DI},
        "seeds": list(task.seeds), "split_seed": SPLIT_SEED, "device": profile.device,
        "test_size": TEST_SIZE.get(task.dataset, 0.3),
    })  # fmt: skip


def _nan(v: Any) -> float:
    return float("nan") if v is None else float(v)


def run_fr(task: Task, profile: Profile, data_dir: str | None) -> dict[str, Any]:
    """One batched FR-Train grid, every seed x λ_r x λ_f of the task, fitted, scored and
    chosen through ``trainer.api`` (``fit_grid``, ``score_grid``, ``select_grid_point``:
    the steps of ``run_training``) with :func:`fr_spec`'s spec.

    The choice is made per (seed, λ_r) among the λ_f > 0 points (the ablation's λ_f = 0
    points are Table 5's "Without F", never chosen) and recorded under ``chosen``.

    Options: ``ablation`` (add λ_r = 0 and λ_f = 0 points), ``reweight``, ``fairness``,
    ``n_val`` (a validation subset; one draw, from the first seed, shared by the whole
    batched grid),
    ``lambda_r`` (override, may be a tuple), ``val_source`` ("crowd"/"truth", Table 7).
    """
    from trainer import api

    spec = fr_spec(task, profile)
    ds = load_data(task.dataset, task.setting, data_dir)
    val = ds.val
    if task.opt("n_val") is not None:
        val = val_subset(val, int(task.opt("n_val")), task.seeds[0])
    if task.opt("val_source") is not None:
        val = crowd_validation(task.dataset, task.opt("val_source"), 0, len(ds.val), data_dir)
    ds = replace(ds, val=val)
    extra = api.label_free_rows(spec, Path(data_dir) / "synthetic" if data_dir else None)
    grid = spec.grid()
    fits = api.fit_grid(spec, ds, task.seeds, extra=extra)
    points: list[dict[str, Any]] = []
    chosen: list[dict[str, Any]] = []
    for seed, fit in zip(task.seeds, fits, strict=True):
        first = len(points)
        for g, sc in zip(grid, api.score_grid(ds, fit, seed, grid), strict=True):
            v, t = sc["val"], sc["test"]
            points.append(
                {"seed": int(seed), "lambda_f": float(g["l1"]), "lambda_r": float(g["l2"]),
                 "val_acc": _nan(v["accuracy"]), "val_di": _nan(v["disparate_impact"]),
                 "sel_di": float("nan"),
                 "test_acc": _nan(t["accuracy"]), "test_di": _nan(t["disparate_impact"]),
                 "val_eo0": _nan(v["equalized_odds_y0"]), "val_eo1": _nan(v["equalized_odds_y1"]),
                 "test_eo0": _nan(t["equalized_odds_y0"]),
                 "test_eo1": _nan(t["equalized_odds_y1"])}
            )  # fmt: skip
        for lr in spec.hyperparameters["l2"]:
            idx = [i for i, g in enumerate(grid) if g["l2"] == lr and g["l1"] > 0]
            sweep = [grid[i] for i in idx]
            choice = api.select_grid_point(spec, ds, fit.subset(idx), seed, extra, grid=sweep)
            for i, ev in zip(idx, choice.points, strict=True):
                if ev["checked_metric"] == "disparate_impact":  # the DI the rule compared
                    points[first + i]["sel_di"] = _nan(ev["checked_estimate"])
            chosen.append({"seed": int(seed), "lambda_r": float(lr),
                           "lambda_f": float(sweep[choice.index]["l1"]), "rule": choice.rule,
                           "reason": choice.reason, "warnings": choice.warnings})  # fmt: skip
    hp = spec.hyperparameters
    params = {k: hp[k] for k in fr_settings(task.dataset, task.setting, profile)["params"]}
    if task.opt("reweight"):
        params["reweight"] = hp["reweight"]
    return {"points": points, "lambda_f": list(hp["l1"]), "lambda_r": list(hp["l2"]),
            "params": params, "n_val": len(val), "fairness": hp["fairness"],
            "selection": spec.selection["rule"], "chosen": chosen}  # fmt: skip


def run_practitioners(task: Task, profile: Profile, data_dir: str | None) -> dict[str, Any]:
    """The practitioner comparison's unit (:mod:`trainer.experiments.practitioners`)."""
    from trainer.experiments.practitioners import run_task

    return run_task(task, profile, data_dir)


def run_auto(task: Task, profile: Profile, data_dir: str | None) -> dict[str, Any]:
    """``method: auto`` on the fixed split (the auto row of Tables 2 and 3)."""
    from trainer.experiments.practitioners import run_auto_task

    return run_auto_task(task, profile, data_dir)


RUNNERS: dict[str, Callable[[Task, Profile, str | None], dict[str, Any]]] = {
    "baselines": run_baselines,
    "fr": run_fr,
    "rml_val": run_rml_val,
    "practitioners": run_practitioners,
    "auto": run_auto,
}


def choose_fr(
    points: Sequence[dict[str, Any]], *, eo: bool = False, selection: str = "smoothed"
) -> dict[str, Any]:
    """Re-apply a rule to the recorded metrics of one (seed, λ_r) sweep.

    For records cached before :func:`run_fr` recorded its choices (``chosen``), whose rules
    need only the recorded numbers: ``"smoothed"`` is :func:`~trainer.selection.choose_index`
    (validation accuracy and fairness smoothed along the λ_f grid; the most accurate point
    whose fairness reaches 0.8, else the fairest), ``"validation"`` (rule ``point``)
    :func:`~trainer.selection.select_point` on the raw validation numbers. Fairness is the
    recorded ``sel_di``, or for equalized odds (Table 9) the worse of the two validation EO
    ratios. ``interval`` needs the predictions: its choices are always recorded.
    """
    pts = sorted(points, key=lambda p: p["lambda_f"])
    if eo:
        fair = [_nanmin(p["val_eo0"], p["val_eo1"]) for p in pts]
    else:
        fair = [p["sel_di"] if "sel_di" in p else p["pool_di"] for p in pts]
    if selection == "validation":
        from trainer.selection import select_point

        metrics = [{"accuracy": p["val_acc"], "fair": f} for p, f in zip(pts, fair, strict=True)]
        return pts[select_point(metrics, min_fairness=TARGET_DI, metric="fair")]
    from trainer.selection import choose_index

    idx, _ = choose_index([p["val_acc"] for p in pts], fair, min_di=TARGET_DI)
    return pts[idx]


def _nanmin(a: float, b: float) -> float:
    vals = [v for v in (a, b) if not math.isnan(v)]
    return min(vals) if vals else float("nan")
