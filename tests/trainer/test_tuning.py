"""Knob tuning on the validation split (trainer.experiments.tuning)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from trainer.data.base import Split
from trainer.data.synthetic import load_synthetic
from trainer.experiments.tuning import KnobResult, select_knob, tune_fitted, tune_knob
from trainer.models.fc import FairnessConstraints
from trainer.models.lbc import LabelBiasCorrection


def r(knob: float, acc: float, di: float) -> KnobResult:
    return KnobResult(knob=knob, val_accuracy=acc, val_di=di)


def test_select_prefers_best_accuracy_among_feasible() -> None:
    results = [r(0, 0.88, 0.40), r(1, 0.83, 0.79), r(2, 0.82, 0.81), r(3, 0.80, 0.95)]
    best, reached = select_knob(results)
    assert (best.knob, reached) == (2, True)
    best, reached = select_knob(results, tolerance=0.02)
    assert (best.knob, reached) == (1, True)


def test_select_falls_back_to_highest_di_and_handles_nan() -> None:
    results = [r(0, 0.88, 0.40), r(1, 0.85, 0.70), r(2, 0.90, float("nan"))]
    best, reached = select_knob(results)
    assert (best.knob, reached) == (1, False)
    with pytest.raises(ValueError, match="at least one"):
        select_knob([])


def test_select_sets_degenerate_models_aside() -> None:
    results = [r(0, 0.85, 0.70), r(1, 0.20, 0.90), r(2, 0.80, 0.78)]
    assert select_knob(results)[0].knob == 1
    best, reached = select_knob(results, min_accuracy=0.5)
    assert (best.knob, reached) == (2, False)
    # If every model is below the floor, none is dropped.
    assert select_knob(results, min_accuracy=0.99)[0].knob == 1


def test_select_ties_go_to_di_closest_then_first() -> None:
    best, _ = select_knob([r(0, 0.8, 0.95), r(1, 0.8, 0.85), r(2, 0.8, 0.85)])
    assert best.knob == 1


def test_tune_knob_never_touches_test_split() -> None:
    data = load_synthetic(poisoned=True)
    # A test split with the wrong width: any prediction on it would raise.
    bad = Split(X=np.zeros((3, 7), np.float32), y=np.ones(3, np.int8), z=np.zeros(3, np.int64))
    data = dataclasses.replace(data, test=bad)
    res = tune_knob(lambda lam: FairnessConstraints(lam=lam), [0.0, 0.05, 0.1, 0.3, 1.0], data)
    assert len(res.results) == 5
    assert res.reached and res.best.val_di >= 0.8
    feasible = [x for x in res.results if x.val_di >= 0.8]
    assert res.best.val_accuracy == max(x.val_accuracy for x in feasible)
    assert res.best.model.lam == res.best.knob


def test_tune_fitted_on_an_lbc_path() -> None:
    data = load_synthetic()
    tr = data.train
    lbc = LabelBiasCorrection(n_iter=15).fit(tr.X, tr.y, tr.z)
    res = tune_fitted(((t, lbc.at_iteration(t)) for t in range(1, 16)), data.val)
    assert res.reached
    assert res.best.knob > 1
