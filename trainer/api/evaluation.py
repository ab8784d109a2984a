"""Evaluating fitted grids: every point scored on validation and test rows, one point chosen
per seed on validation data only (``trainer.selection``, docs/SELECTION.md), the held-out
crowd-labelled evaluation and where the test labels come from."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from trainer.api.fitting import GridFit, LabelFree, fit_grid
from trainer.api.spec import MIN_HOLDOUT_ROWS, JobSpec
from trainer.metrics import evaluate
from trainer.metrics import json_safe as _json_safe
from trainer.selection import (
    DEFAULT_RULE,
    Choice,
    bootstrap_intervals,
    select,
    small_validation_warning,
)


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


def _labels(scores: np.ndarray) -> np.ndarray:
    return np.where(scores > 0, 1, -1)


def score_grid(
    ds: Any, fit: GridFit, seed: int, grid: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Per grid point: ``params``, the ``val`` and ``test`` metrics
    (:func:`trainer.metrics.evaluate`, JSON-safe) and ``val_interval``, the 95% bootstrap
    intervals of validation accuracy and DI (seeded by ``seed``)."""
    points = []
    for i, params in enumerate(grid):
        pv, pt = _labels(fit.val_scores[i]), _labels(fit.test_scores[i])
        points.append(
            {
                "params": params,
                "val": _json_safe(evaluate(ds.val.y, pv, ds.val.z)),
                "val_interval": bootstrap_intervals(ds.val.y, pv, ds.val.z, seed=seed),
                "test": _json_safe(evaluate(ds.test.y, pt, ds.test.z)),
            }
        )
    return points


def select_grid_point(
    spec: JobSpec,
    ds: Any,
    fit: GridFit,
    seed: int,
    extra: LabelFree | None = None,
    *,
    grid: list[dict[str, Any]] | None = None,
) -> Choice:
    """The spec's selection rule (``trainer.selection.select``) on the validation rows and the
    label-free rows: the training split's features and ``extra`` (the spec's extra rows, whose
    scores ``fit`` holds). The test split is never passed. ``grid``: the points ``fit`` holds
    (default ``spec.grid()``); ``smoothed`` averages FR-Train's lambda_1 neighbours within
    each l2."""
    grid = spec.grid() if grid is None else grid
    sweeps = [p["l2"] for p in grid] if spec.method == "fr-train" else None
    train, more = fit.train_scores, fit.extra_scores
    if (more is None) != (extra is None):
        raise ValueError("score the extra label-free rows in fit_grid (extra=) to select on them")
    return select(
        ds.val.y, _labels(fit.val_scores), ds.val.z,
        train_pred=None if train is None else _labels(train),
        z_train=None if train is None else ds.train.z,
        extra_pred=None if more is None else _labels(more),
        z_extra=None if extra is None else extra[1], sweeps=sweeps,
        metric=spec.selection["metric"], min_fairness=spec.selection["min_fairness"],
        rule=spec.selection.get("rule", DEFAULT_RULE), seed=seed,
    )  # fmt: skip


def evaluate_seed(
    spec: JobSpec,
    ds: Any,
    fit: GridFit,
    seed: int,
    *,
    grid: list[dict[str, Any]] | None = None,
    extra: LabelFree | None = None,
    facts: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One seed's record of a run (``results["seeds"][i]`` of :func:`run_training`): every grid
    point scored (:func:`score_grid`) with its selection evidence, the point chosen on
    validation data (:func:`select_grid_point`), why, and any warnings."""
    grid = spec.grid() if grid is None else grid
    points = score_grid(ds, fit, seed, grid)
    choice = select_grid_point(spec, ds, fit, seed, extra, grid=grid)
    chosen = choice.index
    for p, evidence in zip(points, choice.points, strict=True):
        p["selection"] = _json_safe(evidence)
    facts = dict(facts or {})
    warning = small_validation_warning(
        [p["val_interval"] for p in points], len(ds.val), spec.selection["min_fairness"]
    )
    warns = [warning] if warning else []
    warns += choice.warnings
    if warns:
        facts["warnings"] = warns
    return {
        "seed": seed,
        "grid": points,
        "selected": chosen,
        "selection_rule": choice.rule,
        "selection_reason": choice.reason,
        "selected_params": grid[chosen],
        "val": points[chosen]["val"],
        "test": points[chosen]["test"],
        **_method_report(fit.states[chosen]),
        **facts,
    }


def _holdout_evaluation(
    spec: JobSpec,
    ds: Any,
    grid: list[dict[str, Any]],
    poll: Callable[[int], None],
    extra: LabelFree | None = None,
) -> dict[str, Any]:
    """Held-out crowd-labelled evaluation (trainer.api's docstring) on the first seed's data."""
    assert spec.holdout is not None
    seed = spec.seeds[0]
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
        (fitted,) = fit_grid(spec, part, [seed], grid=grid, extra=extra, tick=poll)
        chosen = select_grid_point(spec, part, fitted, seed, extra, grid=grid).index
        pt = _labels(fitted.test_scores[chosen])
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
