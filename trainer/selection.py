"""Model selection: which grid point to keep, decided on VALIDATION data only.

The specification is ``docs/SELECTION.md`` (written and committed before the rule was run on
any data set); in short, three rules, by name (:data:`RULES`):

``interval`` (:data:`DEFAULT_RULE`, :func:`select`)
    The product's rule: training jobs and ``frtrain train`` (trainer/api.py), ``method: auto``'s
    FR-Train candidate (trainer/models/auto.py) and ``frtrain reproduce select-defaults`` on
    real data. Validation sets are small (a crowd export of a few hundred rows), so the
    fairness of each grid point is judged by an interval, not a point estimate:

    1. Disparate impact needs no labels: it is estimated on every label-free row the caller
       may use, the validation rows plus the training split's features (never test rows).
       Equalized odds and equal opportunity need labels: only the clean validation rows
       count. The label-free DI is recorded for every point whatever the metric.
    2. 95% stratified percentile bootstrap (resampling within each group, or each
       (group, label) cell; a stratum's resampled positive rate is drawn as the binomial it
       is; a resample with no positive prediction counts as 0).
    3. Feasible: the interval's lower end reaches ``min_fairness``.
    4. Among feasible points the highest validation accuracy (point estimate); exact ties go
       to the larger fairness lower end, then the earlier point.
    5. None feasible: the highest fairness lower end (ties: more accurate, earlier), with a
       warning.
    6. Accuracy's uncertainty is reported, not traded: paired bootstrap differences to the
       chosen point on the same resampled validation rows, and how many feasible points the
       validation set cannot separate from it (docs/SELECTION.md explains why).
    7. Deterministic: resamples are seeded by the caller's seed.

``point`` (:func:`select_point`)
    The previous product rule, kept for the paper reproduction's real-data tables (their
    committed figures were produced with it): among the grid points whose validation
    fairness point estimate reaches ``min_fairness``, the most accurate one; if none does,
    the fairest one (ties: the more accurate, then the earlier point).

``smoothed`` (:func:`choose_index`)
    The synthetic reproduction's documented rule (trainer/experiments/synthetic.py): ``point``
    on both validation curves after a 3-point moving average over the lambda grid, with DI on
    the validation rows plus the authors' unused block; its 200 validation rows make
    single-point DI noisy.

:func:`bootstrap_intervals` states the uncertainty of validation accuracy and DI per grid
point, and :func:`small_validation_warning` says when the validation DI interval is too wide
for the threshold to be checkable.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from trainer.defaults import MIN_FAIRNESS

#: A DI interval wider than this (95% bootstrap) cannot tell 0.7 from 0.9: warn.
MAX_DI_INTERVAL = 0.2
N_BOOTSTRAP = 500


def smooth(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """3-point moving average along the lambda grid (end points average 2)."""
    v = np.asarray(values, dtype=float)
    if len(v) < 3:
        return v.copy()
    out = np.empty_like(v)
    out[1:-1] = (v[:-2] + v[1:-1] + v[2:]) / 3
    out[0] = (v[0] + v[1]) / 2
    out[-1] = (v[-1] + v[-2]) / 2
    return out


def choose(
    val_acc: Sequence[float],
    val_fair: Sequence[float],
    *,
    min_fairness: float = MIN_FAIRNESS,
    smooth_grid: bool = False,
) -> tuple[int, dict[str, Any]]:
    """Index of the chosen grid point and a description of why (module docstring)."""
    acc = np.asarray(val_acc, dtype=float)
    fair = np.nan_to_num(np.asarray(val_fair, dtype=float), nan=-1.0 if not smooth_grid else 0.0)
    if smooth_grid:
        acc, fair = smooth(acc), smooth(fair)
    idx = range(len(acc))
    ok = [i for i in idx if fair[i] >= min_fairness]
    what = "smoothed " if smooth_grid else ""
    # ties: raw curves prefer the fairer (then more accurate) point; smoothed curves the
    # earlier one (smoothing already blends each point with its neighbours)
    tie = (lambda j: 0.0) if smooth_grid else None
    if ok:
        i = max(ok, key=lambda j: (acc[j], (tie or fair.__getitem__)(j), -j))
        rule = f"highest {what}val accuracy with {what}fairness >= {min_fairness}"
    else:
        i = max(idx, key=lambda j: (fair[j], (tie or acc.__getitem__)(j), -j))
        rule = f"no point reached fairness {min_fairness}: highest {what}fairness"
    crit: dict[str, Any] = {"rule": rule}
    if smooth_grid:
        crit.update(smoothed_val_acc=acc.tolist(), smoothed_di=fair.tolist())
    return int(i), crit


def choose_index(
    val_acc: Sequence[float], val_fair: Sequence[float], *, min_di: float = MIN_FAIRNESS
) -> tuple[int, dict[str, Any]]:
    """:func:`choose` on the smoothed curves (the synthetic reproduction's reading)."""
    return choose(val_acc, val_fair, min_fairness=min_di, smooth_grid=True)


def fairness_of(metrics: Mapping[str, Any], metric: str) -> float:
    """The fairness number a selection compares: DI, min EO ratio, or the EOp ratio."""
    if metric == "equalized_odds":
        vals = [metrics["equalized_odds_y0"], metrics["equalized_odds_y1"]]
        return float("nan") if any(v is None or math.isnan(v) for v in vals) else min(vals)
    v = metrics[metric]
    return float("nan") if v is None else float(v)


def select_point(
    val_metrics: Sequence[Mapping[str, Any]], *, min_fairness: float, metric: str
) -> int:
    """:func:`choose` on raw validation metrics (one :func:`trainer.metrics.evaluate` dict
    per grid point): the most accurate point whose fairness reaches ``min_fairness``; if
    none does, the fairest one (ties: the more accurate)."""
    acc = [float(m["accuracy"]) for m in val_metrics]
    fair = [fairness_of(m, metric) for m in val_metrics]
    return choose(acc, fair, min_fairness=min_fairness)[0]


def bootstrap_intervals(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    z: ArrayLike,
    *,
    n_boot: int = N_BOOTSTRAP,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, list[float] | None]:
    """Percentile-bootstrap intervals of validation accuracy and disparate impact.

    Rows are resampled within each group (a stratified bootstrap, so every resample keeps
    every group); ``seed`` fixes the resamples so the same input gives the same interval.
    """
    y = np.asarray(y_true).reshape(-1) > 0
    p = np.asarray(y_pred).reshape(-1) > 0
    za = np.asarray(z).reshape(-1)
    rng = np.random.default_rng(seed)
    correct = np.zeros(n_boot)
    rates = []
    for g in np.unique(za):
        rows = np.flatnonzero(za == g)
        draw = rows[rng.integers(0, len(rows), size=(n_boot, len(rows)))]  # (n_boot, n_g)
        correct += (y[draw] == p[draw]).sum(1)
        rates.append(p[draw].mean(1))
    accs = correct / len(y)
    r = np.stack(rates)  # (G, n_boot)
    hi_rate = r.max(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        dis = np.where(hi_rate > 0, r.min(0) / hi_rate, np.nan)
    lo, hi = (1 - level) / 2 * 100, (1 + level) / 2 * 100
    di_ok = dis[~np.isnan(dis)]
    return {
        "accuracy": [float(np.percentile(accs, lo)), float(np.percentile(accs, hi))],
        "disparate_impact": (
            [float(np.percentile(di_ok, lo)), float(np.percentile(di_ok, hi))]
            if len(di_ok)
            else None
        ),
    }


def small_validation_warning(
    intervals: Sequence[Mapping[str, Any]], n_val: int, min_fairness: float
) -> str | None:
    """A warning when the validation set is too small to check the fairness target."""
    widths = [
        iv["disparate_impact"][1] - iv["disparate_impact"][0]
        for iv in intervals
        if iv.get("disparate_impact") is not None
    ]
    if not widths:
        return (
            f"the validation set ({n_val} rows) gives no disparate-impact estimate: "
            f"the DI target {min_fairness} cannot be checked"
        )
    w = float(np.median(widths))
    if w > MAX_DI_INTERVAL:
        return (
            f"the validation set is too small ({n_val} rows) to check the DI target "
            f"{min_fairness}: the median 95% bootstrap interval of validation DI is "
            f"{w:.2f} wide; test DI may differ from validation DI by that much"
        )
    return None
