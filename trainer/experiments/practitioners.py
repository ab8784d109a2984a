"""`frtrain reproduce practitioners`: FR-Train against what a practitioner would do.

Every method of :mod:`trainer.models.practitioners`, FR-Train (the product's real-data
defaults, the paper-faithful re-weighting) and ``auto`` (:mod:`trainer.models.auto`) on
COMPAS and AdultCensus, clean and poisoned, over split seeds 0-4.

Protocol (fixed before the runs; the same data pipeline as :mod:`trainer.experiments.paper`):

* Data: ``load_compas(seed=s, test_size=0.3)`` / ``load_adult(seed=s, test_size=0.235)``
  for split seed ``s``; the clean validation set is 5% of D_tr; poisoned = the authors'
  top-margin flip of 10% of D_tr inside z = 1 (training split only).
* Model seeds: FR-Train and ``auto`` (its folds and the randomised fairlearn predictions)
  per model seed; the deterministic baselines are fitted once per split with their fairlearn
  ``random_state`` = the first model seed.
* FR-Train: ``trainer.api.FRTRAIN_DEFAULTS["real"]`` via
  :func:`trainer.experiments.paper.fr_settings` (AdultCensus in mini-batches), lambda_f
  chosen per model seed on the clean validation set by ``trainer.api.select_point``.
* ``auto``: :class:`trainer.models.auto.AutoMethod` with its documented rule; it is handed
  the training split and the clean set only.
* Reported: test accuracy and test DI (scored against the *true* test labels), mean ±
  population std over all (split seed, model seed) runs, and the fraction of runs with
  test DI >= 0.8. Nothing here is chosen on the test split.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from trainer.data.base import Dataset, Split
from trainer.experiments import paper as P
from trainer.experiments.executor import _json_default
from trainer.metrics import accuracy, disparate_impact
from trainer.models import fit_cache
from trainer.models.practitioners import PRACTITIONERS, make_practitioner

DATASETS = ("compas", "adult")
SPLIT_SEEDS = (0, 1, 2, 3, 4)
FR_ROW = "fr-train"
AUTO_ROW = "auto"
ROWS = (*PRACTITIONERS, FR_ROW, AUTO_ROW)
LABELS = {
    "lr-clean": "LR on the clean set",
    "eg-dp-clean": "ExponentiatedGradient(DP) on the clean set",
    "eg-eo-clean": "ExponentiatedGradient(EO) on the clean set",
    "eg-dp-train": "ExponentiatedGradient(DP) on the training set",
    "eg-eo-train": "ExponentiatedGradient(EO) on the training set",
    "to-dp-clean": "LR + ThresholdOptimizer(DP) on the clean set",
    "to-eo-clean": "LR + ThresholdOptimizer(EO) on the clean set",
    "to-dp-train": "LR + ThresholdOptimizer(DP) on the training set",
    "to-eo-train": "LR + ThresholdOptimizer(EO) on the training set",
    "to-dp-post": "training-set LR + ThresholdOptimizer(DP) on the clean set",
    "to-eo-post": "training-set LR + ThresholdOptimizer(EO) on the clean set",
    "cr-lr": "CorrelationRemover + LR on the training set",
    "relabel-eg": "clean-set relabelling + ExponentiatedGradient(DP)",
    FR_ROW: "FR-Train (product defaults, paper re-weighting)",
    AUTO_ROW: "auto (chosen by CV inside the clean set)",
}
#: The issue's reference numbers are not printed as "paper": the paper never ran these
#: baselines. FR-Train's paper figures (Tables 2 and 3, poisoned) are printed beside ours.
PAPER_FR = {("compas", "poisoned"): (0.670, 0.846), ("adult", "poisoned"): (0.809, 0.847),
            ("compas", "clean"): (0.676, 0.838), ("adult", "clean"): (0.824, 0.828)}  # fmt: skip


@functools.lru_cache(maxsize=8)
def load_split(name: str, setting: str, split_seed: int, data_dir: str | None = None) -> Dataset:
    """One data set at one split seed (the reproduction's pipeline, ``paper.load_data``)."""
    root = Path(data_dir) if data_dir else None
    if name == "compas":
        from trainer.data.compas import load_compas

        ds = load_compas(root / "compas" if root else None, seed=split_seed, test_size=0.3)
    elif name == "adult":
        from trainer.data.adult import load_adult

        ds = load_adult(root / "adult" if root else None, seed=split_seed, test_size=0.235)
    else:
        raise ValueError(f"unknown data set {name!r}; use one of {DATASETS}")
    if setting == "poisoned":
        from trainer.data.poison import poison

        ds = poison(ds, attack="top_margin", budget=0.1, target_group=1).dataset
    return ds


def fit_method(
    name: str, ds: Dataset, *, seed: int, profile: P.Profile = P.FULL,
    auto_options: dict[str, Any] | None = None,
) -> Any:  # fmt: skip
    """Fit method ``name`` on ``ds``'s training split and clean set only (never its test).

    ``auto_options``: extra :class:`~trainer.models.auto.AutoMethod` arguments.
    """
    tr, val = ds.train, ds.val
    if name == FR_ROW:
        from trainer.models.auto import FRTrainSelected

        cfg = P.fr_settings(ds.name if ds.name in DATASETS else "compas", "poisoned", profile)
        est: Any = FRTrainSelected(l1=cfg["lambda_f"], l2=cfg["lambda_r"], seed=seed,
                                   params=cfg["params"])  # fmt: skip
    elif name == AUTO_ROW:
        est = make_auto(ds, seed=seed, profile=profile).set_params(**(auto_options or {}))
    else:
        est = make_practitioner(name)
        if "random_state" in est.get_params():
            est.set_params(random_state=seed)
    # an open fit cache (one worker's (data set, setting, split seed) group) shares the fits
    # auto's cross-validation repeats (trainer/models/fit_cache.py); none open: a plain fit
    return fit_cache.active().fit(est, tr.X, tr.y, tr.z, X_val=val.X, y_val=val.y, z_val=val.z)


def make_auto(ds: Dataset, *, seed: int, profile: P.Profile = P.FULL) -> Any:
    """``auto`` with FR-Train's product settings for this data set."""
    from trainer.models.auto import AutoMethod

    cfg = P.fr_settings(ds.name if ds.name in DATASETS else "compas", "poisoned", profile)
    fr = {"l1": cfg["lambda_f"], "l2": cfg["lambda_r"], "params": cfg["params"]}
    return AutoMethod(frtrain_params=fr, random_state=seed)


def _score(model: Any, split: Split) -> dict[str, float]:
    pred = model.predict(split.X, split.z)
    return {"acc": accuracy(split.y, pred), "di": disparate_impact(pred, split.z)}


def run_task(task: P.Task, profile: P.Profile, data_dir: str | None) -> dict[str, Any]:
    """One method on one (data set, setting, split seed); FR-Train and auto per model seed.

    Returns ``{method: [record per model seed]}`` with test and validation scores, the fit
    time, and for ``auto`` its report (what it chose and why).
    """
    split_seed = int(task.opt("split_seed", 0))
    ds = load_split(task.dataset, task.setting, split_seed, data_dir)
    out: dict[str, list[dict[str, Any]]] = {}
    for name in [task.opt("method")]:
        seeds = task.seeds if name in (FR_ROW, AUTO_ROW) else task.seeds[:1]
        for seed in seeds:
            t0 = time.perf_counter()
            model = fit_method(name, ds, seed=seed, profile=profile)
            rec: dict[str, Any] = {"seed": seed, "seconds": time.perf_counter() - t0}
            rec.update({f"test_{k}": v for k, v in _score(model, ds.test).items()})
            rec.update({f"val_{k}": v for k, v in _score(model, ds.val).items()})
            if name == AUTO_ROW:
                rec["auto"] = model.report()
            if name == FR_ROW:
                rec["lambda_f"] = model.chosen_["lambda_f"]
            out.setdefault(name, []).append(rec)
    return out


def run_auto_task(task: P.Task, profile: P.Profile, data_dir: str | None) -> dict[str, Any]:
    """``auto`` alone on the reproduction's fixed split (the `auto` row of Tables 2-3)."""
    ds = P.load_data(task.dataset, task.setting, data_dir)
    recs = []
    for seed in task.seeds:
        t0 = time.perf_counter()
        model = make_auto(ds, seed=seed, profile=profile)
        model.fit(ds.train.X, ds.train.y, ds.train.z, X_val=ds.val.X, y_val=ds.val.y,
                  z_val=ds.val.z)  # fmt: skip
        rec = {f"test_{k}": v for k, v in _score(model, ds.test).items()}
        recs.append({**rec, "seed": seed, "seconds": time.perf_counter() - t0,
                     "knob": model.chosen_, "auto": model.report()})  # fmt: skip
    return {"auto": recs}


def tasks(profile: P.Profile, split_seeds: Sequence[int], datasets: Sequence[str] = DATASETS,
          methods: Sequence[str] = ROWS, settings: Sequence[str] = P.SETTINGS,
          ) -> list[P.Task]:  # fmt: skip
    """One task per (data set, setting, split seed, method), each cached on its own."""
    unknown = sorted(set(methods) - set(ROWS))
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; use {list(ROWS)}")
    return [
        P.Task("practitioners", d, s, profile.seeds if m in (FR_ROW, AUTO_ROW) else
               profile.seeds[:1], (("split_seed", int(k)), ("method", m)))
        for d in datasets for s in settings for k in split_seeds for m in methods
    ]  # fmt: skip


def summarise(results: dict[str, Any], task_list: Sequence[P.Task]) -> dict[str, Any]:
    """Per (data set, setting, method): mean ± std of test acc and DI, fraction DI >= 0.8."""
    table: dict[str, Any] = {}
    for t in task_list:
        for name, recs in results[t.key].items():
            cell = table.setdefault(f"{t.dataset}.{t.setting}", {}).setdefault(
                name, {"acc": [], "di": [], "seconds": [], "chosen": []}
            )
            for r in recs:
                cell["acc"].append(r["test_acc"])
                cell["di"].append(r["test_di"])
                cell["seconds"].append(r["seconds"])
                if "auto" in r:
                    cell["chosen"].append(r["auto"]["chosen"])
    for cells in table.values():
        for cell in cells.values():
            acc = np.asarray(cell["acc"], dtype=float)
            di = np.nan_to_num(np.asarray(cell["di"], dtype=float), nan=0.0)
            cell.update(
                acc_mean=float(acc.mean()), acc_std=float(acc.std()),
                di_mean=float(di.mean()), di_std=float(di.std()),
                di_ok=float((di >= P.TARGET_DI).mean()), n=len(acc),
                seconds_mean=float(np.mean(cell["seconds"])),
            )  # fmt: skip
    return table


def write_report(out: Path, table: dict[str, Any], meta: dict[str, Any]) -> Path:
    """REPORT.md + results.json under ``out``."""
    from trainer.experiments.paper_numbers import DATASET_NAME
    from trainer.experiments.rendering import software_versions

    L = [
        "# FR-Train against what a practitioner would do",
        "",
        f"Generated {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())} by "
        f"`{meta['command']}`. Split seeds {meta['split_seeds']}, model seeds "
        f"{meta['model_seeds']} (FR-Train and auto; the baselines once per split). Test "
        "accuracy and test DI against the *true* test labels: mean ± population std over "
        "runs; `DI>=0.8` = fraction of runs whose test DI reaches 0.8. Nothing is chosen on "
        "the test split (protocol: trainer/experiments/practitioners.py, auto's rule: "
        "trainer/models/auto.py). `fit s`: seconds per run (fit and scoring) in the worker "
        "process that runs every task of one (data set, setting, split seed) in turn, the "
        "baselines and FR-Train before auto, under one fit cache "
        "(trainer/models/fit_cache.py): auto's count includes the fits it reuses from those "
        "rows (at the cost of a copy) and from its own folds, not their training time.",
        "",
        "Software: " + ", ".join(f"{k} {v}" for k, v in software_versions().items()),
        "",
    ]
    for key in sorted(table, key=lambda k: (DATASETS.index(k.split(".")[0]), k)):
        d, s = key.split(".")
        L += [f"## {DATASET_NAME.get(d, d)} {s}", "",
              "| method | test acc | test DI | DI>=0.8 | runs | fit s |",
              "|---|---|---|---|---|---|"]  # fmt: skip
        for name in ROWS:
            c = table[key].get(name)
            if c is None:
                continue
            L.append(f"| {LABELS.get(name, name)} | {c['acc_mean']:.3f} ± {c['acc_std']:.3f} | "
                     f"{c['di_mean']:.3f} ± {c['di_std']:.3f} | {c['di_ok']:.2f} | {c['n']} | "
                     f"{c['seconds_mean']:.1f} |")  # fmt: skip
        if (d, s) in PAPER_FR:
            pa, pd_ = PAPER_FR[(d, s)]
            L += ["", f"Paper's FR-Train here (one split, its Table 2/3): {pa:.3f} / {pd_:.3f}."]
        chosen = table[key].get(AUTO_ROW, {}).get("chosen", [])
        if chosen:
            counts = {c: chosen.count(c) for c in sorted(set(chosen))}
            L += ["", "auto chose: " + ", ".join(f"{k} x{v}" for k, v in counts.items()) + "."]
        L.append("")
    if meta.get("missing"):
        L += ["## Not run", "", f"{len(meta['missing'])} task(s) of the requested grid are not "
              "in the cache (this report was built with `--cached-only`), so the rows above "
              "hold fewer runs:", ""] + [f"- `{k}`" for k in meta["missing"]] + [""]  # fmt: skip
    secs = meta.get("task_seconds", {})
    L += ["## Run time", "", f"This invocation: {meta['wall_s']:.0f} s with {meta['workers']} "
          f"worker(s); {meta['n_tasks']} task(s), {meta['n_cached']} read from the cache. "
          f"Training time of the reported tasks (summed per task): {sum(secs.values()):.0f} s.",
          ""]  # fmt: skip
    for run in meta.get("runs_log", []):
        L.append(f"- {run['finished']}: {run['tasks_trained']} tasks, {run['workers']} "
                 f"worker(s), wall {run['wall_seconds']:.0f} s, training "
                 f"{run['training_seconds']:.0f} s")  # fmt: skip
    L.append("")
    out.mkdir(parents=True, exist_ok=True)
    (out / "REPORT.md").write_text("\n".join(L))
    (out / "results.json").write_text(json.dumps({"meta": meta, "table": table}, indent=2,
                                                 default=_json_default))  # fmt: skip
    return out / "REPORT.md"


def reproduce(
    out: Path,
    *,
    split_seeds: Sequence[int] = SPLIT_SEEDS,
    model_seeds: Sequence[int] = (0,),
    quick: bool = False,
    workers: int = 2,
    datasets: Sequence[str] = DATASETS,
    methods: Sequence[str] = ROWS,
    settings: Sequence[str] = P.SETTINGS,
    data_dir: str | None = None,
    progress: bool = True,
    command: str = "frtrain reproduce practitioners",
    cached_only: bool = False,
) -> tuple[Path, dict[str, Any]]:
    """Run (or read from ``out/cache``) every task and write the report.

    ``cached_only``: train nothing; report the tasks already in the cache and list the
    missing ones in the report (a partial run stays a partial report, never a silent one).
    """
    profile = P.profile_with(P.QUICK if quick else P.FULL, model_seeds)
    task_list = tasks(profile, split_seeds, datasets, methods, settings)
    missing: list[str] = []
    if cached_only:
        have = [t for t in task_list if (out / "cache" / f"{t.key}.json").exists()]
        missing = [t.key for t in task_list if t not in have]
        task_list = have
    t0 = time.perf_counter()
    results, log = P.run_tasks(task_list, profile, cache_dir=out / "cache", data_dir=data_dir,
                               workers=workers, progress=progress)  # fmt: skip
    table = summarise(results, task_list)
    meta = {"command": command, "split_seeds": list(split_seeds),
            "model_seeds": list(model_seeds), "profile": profile.name, "workers": workers,
            "wall_s": time.perf_counter() - t0, "n_tasks": len(task_list),
            "n_cached": len(log.cached), "task_seconds": log.seconds,
            "missing": missing, "runs_log": log.runs}  # fmt: skip
    return write_report(out, table, meta), table
