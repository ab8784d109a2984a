"""Evaluating fitted grids: the selection on validation rows, the held-out crowd-labelled
evaluation and where the test labels come from."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from trainer.api.fitting import _fit_baseline, _fit_frtrain, _Fitted
from trainer.api.spec import MIN_HOLDOUT_ROWS, JobSpec
from trainer.metrics import json_safe as _json_safe
from trainer.selection import (
    DEFAULT_RULE,
    select,
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
