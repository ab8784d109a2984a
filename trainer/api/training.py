"""The training path: :func:`run_training` fits, selects, evaluates and writes artifacts.

It is built from public steps that the paper reproduction (trainer/experiments/) calls too,
so that both fit, select and evaluate the same way: ``prepare_dataset``, ``label_free_rows``
and ``fit_grid`` (:mod:`trainer.api.fitting`), ``evaluate_seed`` = ``score_grid`` plus
``select_grid_point`` (:mod:`trainer.api.evaluation`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from trainer.api.artifacts import write_artifacts
from trainer.api.evaluation import (
    SUMMARY_KEYS,
    _holdout_evaluation,
    _summary,
    evaluate_seed,
    test_labels,
)
from trainer.api.fitting import GridFit, fit_grid, label_free_rows, prepare_dataset
from trainer.api.spec import JobSpec, validate_spec
from trainer.metrics import json_safe as _json_safe


class Cancelled(Exception):
    """Raised inside :func:`run_training` when ``should_cancel()`` returned true."""


Progress = Callable[[dict[str, Any]], None]


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
    fitted_all: list[tuple[Any, GridFit, int]] = []
    extra = label_free_rows(spec)
    for si, seed in enumerate(spec.seeds):
        stage = f"seed {seed} ({si + 1}/{n_seeds})"
        report(f"{stage}: preparing data", si, 0, force=True)
        ds, facts = prepare_dataset(spec, seed)

        def tick(epoch: int, si: int = si, stage: str = stage) -> None:
            report(stage, si, epoch + 1)

        (fitted,) = fit_grid(spec, ds, [seed], grid=grid, extra=extra, tick=tick)
        record = evaluate_seed(spec, ds, fitted, seed, grid=grid, extra=extra, facts=facts)
        per_seed.append(record)
        fitted_all.append((ds, fitted, record["selected"]))
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

        holdout = _holdout_evaluation(spec, ds0, grid, poll, extra)
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
