"""Fairness-knob tuning on the validation split (paper Section 4.1: "we apply proper
hyperparameters so that the disparate impacts are similar (around 0.8) across all
methods, if possible").

The rule, applied to the *validation* split only (the test split is never looked at):

1. every knob value is fitted on the training split and scored on the validation split
   (accuracy against the clean validation labels, DI of the predictions);
2. the feasible knobs are those with validation DI ≥ ``target_di − tolerance``; among
   them the one with the best validation accuracy wins (ties: DI closer to the target,
   then the earlier knob in the grid);
3. if no knob is feasible, the one with the highest validation DI wins (the closest
   from below; ties: better accuracy), and ``reached`` is False so reports can say the
   method could not reach the target;
4. optionally (``min_accuracy``), models whose validation accuracy is below a floor
   such as the majority-class rate are set aside before steps 2-3.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from trainer.data.base import Dataset, Split
from trainer.metrics import accuracy, disparate_impact
from trainer.models.base import Estimator


@dataclass
class KnobResult:
    """One fitted knob value and its validation scores."""

    knob: Any
    val_accuracy: float
    val_di: float
    model: Any = field(repr=False, default=None)


@dataclass
class TuningResult:
    """Every knob's validation scores and the chosen one."""

    best: KnobResult
    results: list[KnobResult]
    target_di: float
    reached: bool


def score_on_split(model: Estimator, split: Split) -> tuple[float, float]:
    """``(accuracy, DI)`` of a fitted model on one split (paper §3.1 DI, docs/ALGORITHMS.md §5)."""
    pred = model.predict(split.X, split.z)
    return accuracy(split.y, pred), disparate_impact(pred, split.z)


def select_knob(
    results: Sequence[KnobResult],
    *,
    target_di: float = 0.8,
    tolerance: float = 0.0,
    min_accuracy: float | None = None,
) -> tuple[KnobResult, bool]:
    """Pick a knob by the rule in the module docstring; returns ``(best, reached)``.

    ``min_accuracy`` (e.g. the validation majority-class rate) drops degenerate models
    first, such as an adversarial game that flipped the classifier's sign: any model below
    it is no better than a constant prediction. If every model is below it, none is dropped.
    """
    if not results:
        raise ValueError("select_knob needs at least one evaluated knob value")
    if min_accuracy is not None:
        sane = [r for r in results if r.val_accuracy >= min_accuracy]
        results = sane or list(results)

    def di(r: KnobResult) -> float:
        return -math.inf if math.isnan(r.val_di) else r.val_di

    def acc(r: KnobResult) -> float:
        return -math.inf if math.isnan(r.val_accuracy) else r.val_accuracy

    feasible = [r for r in results if di(r) >= target_di - tolerance]
    if feasible:
        # max() keeps the first of equal keys, i.e. the earlier knob in the grid.
        return max(feasible, key=lambda r: (acc(r), -abs(di(r) - target_di))), True
    return max(results, key=lambda r: (di(r), acc(r))), False


def tune_fitted(
    candidates: Iterable[tuple[Any, Estimator]],
    val: Split,
    *,
    target_di: float = 0.8,
    tolerance: float = 0.0,
) -> TuningResult:
    """Select among already-fitted ``(knob, model)`` pairs (e.g. an LBC path)."""
    results = []
    for knob, model in candidates:
        acc, di = score_on_split(model, val)
        results.append(KnobResult(knob=knob, val_accuracy=acc, val_di=di, model=model))
    best, reached = select_knob(results, target_di=target_di, tolerance=tolerance)
    return TuningResult(best=best, results=results, target_di=target_di, reached=reached)


def tune_knob(
    factory: Callable[[Any], Estimator],
    grid: Iterable[Any],
    data: Dataset,
    *,
    target_di: float = 0.8,
    tolerance: float = 0.0,
    train: Split | None = None,
    val: Split | None = None,
) -> TuningResult:
    """Fit ``factory(knob)`` for every knob on the training split and pick one on validation.

    Args:
        factory: knob value -> unfitted estimator.
        grid: knob values, in order (earlier wins ties).
        data: supplies ``train`` and ``val`` unless given explicitly.
        target_di: the DI to reach (0.8, the paper's setting).
        tolerance: slack below ``target_di`` still counted as reaching it.
        train: training split override (e.g. poisoned labels).
        val: validation split override (e.g. a 5% subset or crowd labels).

    Returns:
        A :class:`TuningResult`; ``best.model`` is the fitted chosen model.
    """
    tr = train if train is not None else data.train
    va = val if val is not None else data.val

    def fitted() -> Iterable[tuple[Any, Estimator]]:
        for knob in grid:
            model = factory(knob).fit(tr.X, tr.y, tr.z, X_val=va.X, y_val=va.y, z_val=va.z)
            yield knob, model

    return tune_fitted(fitted(), va, target_di=target_di, tolerance=tolerance)
