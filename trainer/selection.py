"""Model selection: which grid point to keep, decided on VALIDATION data only.

The specification is ``docs/SELECTION.md`` (written and committed before the rule was run on
any data set); in short, three rules, by name (:data:`RULES`):

``interval`` (:data:`DEFAULT_RULE`, :func:`select`)
    The product's rule: training jobs and ``frtrain train`` (trainer/api/), ``method: auto``'s
    FR-Train candidate (trainer/models/auto.py), the paper reproduction's real-data tables
    (``frtrain reproduce all``) and ``frtrain reproduce select-defaults`` on real data.
    Validation sets are small (a crowd export of a few hundred rows), so the fairness of
    each grid point is judged by an interval, not a point estimate:

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
    The previous product rule, kept by name (a job may ask for it): among the grid points
    whose validation fairness point estimate reaches ``min_fairness``, the most accurate one;
    if none does, the fairest one (ties: the more accurate, then the earlier point).

``smoothed`` (:func:`choose_index`; :func:`select` with ``extra_pred``)
    The synthetic reproduction's documented rule (trainer/experiments/synthetic.py): ``point``
    on both validation curves after a 3-point moving average over the lambda grid (within
    each lambda_2's sweep), with DI on the validation rows plus extra label-free rows (the
    authors' unused block; the training rows are left out); its 200 validation rows make
    single-point DI noisy. Jobs and ``frtrain train`` may name it on the built-in synthetic
    data, the only data with such a block.

:func:`bootstrap_intervals` states the uncertainty of validation accuracy and DI per grid
point, and :func:`small_validation_warning` says when the validation DI interval is too wide
for the threshold to be checkable.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from trainer.defaults import MIN_FAIRNESS

#: A DI interval wider than this (95% bootstrap) cannot tell 0.7 from 0.9: warn.
MAX_DI_INTERVAL = 0.2
N_BOOTSTRAP = 500
#: The rules by name (module docstring); :func:`select` runs the first two.
RULES = ("interval", "point", "smoothed")
DEFAULT_RULE = "interval"
#: Fairness metrics: which need labels (validation rows only) and which do not.
LABEL_FREE_METRICS = ("disparate_impact",)
LABELLED_METRICS = ("equalized_odds", "equal_opportunity")
#: Resamples of the ``interval`` rule (docs/SELECTION.md rules 2 and 6) and its level.
N_FAIRNESS_BOOTSTRAP = 4000
N_ACCURACY_BOOTSTRAP = 1000
LEVEL = 0.95


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


def smooth_sweeps(values: Sequence[float] | np.ndarray, sweeps: Sequence[Any] | None) -> np.ndarray:
    """:func:`smooth` within each sweep: ``sweeps`` labels every grid point with its sweep
    (e.g. FR-Train's lambda_2), each sweep's points consecutive and in grid order; neighbours
    in different sweeps are not averaged. ``None``: the whole grid is one sweep."""
    v = np.asarray(values, dtype=float)
    if sweeps is None:
        return smooth(v)
    labels = list(sweeps)
    if len(labels) != len(v):
        raise ValueError("sweeps needs one label per grid point")
    out = np.empty_like(v)
    start = 0
    for i in range(1, len(v) + 1):
        if i == len(v) or labels[i] != labels[start]:
            out[start:i] = smooth(v[start:i])
            start = i
    return out


def choose(
    val_acc: Sequence[float],
    val_fair: Sequence[float],
    *,
    min_fairness: float = MIN_FAIRNESS,
    smooth_grid: bool = False,
    sweeps: Sequence[Any] | None = None,
) -> tuple[int, dict[str, Any]]:
    """Index of the chosen grid point and a description of why (module docstring).
    ``sweeps``: with ``smooth_grid``, see :func:`smooth_sweeps`."""
    acc = np.asarray(val_acc, dtype=float)
    fair = np.nan_to_num(np.asarray(val_fair, dtype=float), nan=-1.0 if not smooth_grid else 0.0)
    if smooth_grid:
        acc, fair = smooth_sweeps(acc, sweeps), smooth_sweeps(fair, sweeps)
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
    val_acc: Sequence[float],
    val_fair: Sequence[float],
    *,
    min_di: float = MIN_FAIRNESS,
    sweeps: Sequence[Any] | None = None,
) -> tuple[int, dict[str, Any]]:
    """:func:`choose` on the smoothed curves (the synthetic reproduction's reading)."""
    return choose(val_acc, val_fair, min_fairness=min_di, smooth_grid=True, sweeps=sweeps)


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
    di_ok = dis[~np.isnan(dis)]
    return {
        "accuracy": _percentile_interval(accs, level),
        "disparate_impact": _percentile_interval(di_ok, level) if len(di_ok) else None,
    }


def _percentile_interval(draws: NDArray[Any], level: float) -> list[float]:
    """The central ``level`` percentile interval of bootstrap draws."""
    lo, hi = np.percentile(draws, [(1 - level) / 2 * 100, (1 + level) / 2 * 100])
    return [float(lo), float(hi)]


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


# -- the ``interval`` rule (docs/SELECTION.md) ------------------------------------------------
def _strata(metric: str, y_true: NDArray[np.bool_] | None, z: NDArray[Any]) -> list[list[Any]]:
    """Row masks of the rates ``metric`` compares: one list per ratio (DI and equal
    opportunity have one ratio, equalized odds two: FPR and TPR), one mask per group."""
    groups = np.unique(z)
    if metric in LABEL_FREE_METRICS:
        return [[z == g for g in groups]]
    if metric not in LABELLED_METRICS:
        raise ValueError(f"unknown fairness metric {metric!r}")
    if y_true is None:
        raise ValueError(f"{metric} needs labels")
    labels = (True,) if metric == "equal_opportunity" else (False, True)
    return [[(z == g) & (y_true == lab) for g in groups] for lab in labels]


def _ratio_of(rates: NDArray[np.float64]) -> NDArray[np.float64]:
    """min / max over axis 0 of a (groups, ...) rate array; NaN where max is 0."""
    hi = rates.max(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(hi > 0, rates.min(0) / np.where(hi > 0, hi, 1.0), np.nan)


def fairness_estimate(
    metric: str, y_pred: ArrayLike, z: ArrayLike, y_true: ArrayLike | None = None
) -> float:
    """The observed fairness metric (as :func:`trainer.metrics.evaluate` and
    :func:`fairness_of` compute it: DI, the worse equalized-odds ratio, or the TPR ratio)."""
    from trainer import metrics as M

    if metric in LABEL_FREE_METRICS:
        return M.disparate_impact(y_pred, z)
    if y_true is None:
        raise ValueError(f"{metric} needs labels")
    if metric == "equal_opportunity":
        return M.equal_opportunity(y_true, y_pred, z)
    if metric != "equalized_odds":
        raise ValueError(f"unknown fairness metric {metric!r}")
    eo = M.equalized_odds(y_true, y_pred, z)
    vals = [eo[0], eo[1]]
    return float("nan") if any(math.isnan(v) for v in vals) else min(vals)


def fairness_interval(
    metric: str,
    y_pred: ArrayLike,
    z: ArrayLike,
    y_true: ArrayLike | None = None,
    *,
    n_boot: int = N_FAIRNESS_BOOTSTRAP,
    level: float = LEVEL,
    seed: int = 0,
) -> tuple[float, list[float] | None]:
    """The observed fairness and its stratified percentile-bootstrap interval.

    Rows are resampled within each stratum (group for DI, (group, label) cell for equalized
    odds and equal opportunity), so a stratum's resampled positive-prediction rate is
    Binomial(n, r) / n with n its size and r its observed rate: drawn as such. A resample in
    which no group gets a positive prediction counts as 0. ``None`` when the observed metric
    is undefined (an empty stratum, or no positive prediction).
    """
    p = np.asarray(y_pred).reshape(-1) > 0
    za = np.asarray(z).reshape(-1)
    yt = None if y_true is None else np.asarray(y_true).reshape(-1) > 0
    est = fairness_estimate(metric, p, za, yt)
    if math.isnan(est):
        return est, None
    rng = np.random.default_rng([int(seed), 0x5E1EC7])
    ratios = []
    for masks in _strata(metric, yt, za):
        rates = []
        for m in masks:
            n = int(m.sum())
            rates.append(rng.binomial(n, float(p[m].mean()), size=n_boot) / n)
        ratios.append(_ratio_of(np.stack(rates)))
    draws = np.nan_to_num(np.min(np.stack(ratios), axis=0), nan=0.0)
    return est, _percentile_interval(draws, level)


def paired_accuracy_differences(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    z: ArrayLike,
    ref: int,
    *,
    n_boot: int = N_ACCURACY_BOOTSTRAP,
    level: float = LEVEL,
    seed: int = 0,
) -> NDArray[np.float64]:
    """Accuracy of grid point ``ref`` minus each point's, on the same resampled rows.

    ``y_pred`` is (points, rows). Rows are resampled within each group (as
    :func:`bootstrap_intervals`), the same resamples for every point. Returns (points, 3):
    the observed difference and the interval's two ends.
    """
    y = np.asarray(y_true).reshape(-1) > 0
    p = np.asarray(y_pred) > 0
    za = np.asarray(z).reshape(-1)
    correct = (p == y[None, :]).astype(np.int8)
    diff = correct[ref][None, :] - correct  # (M, n), values in {-1, 0, 1}
    rng = np.random.default_rng([int(seed), 0xACC])
    draws = [za_rows[rng.integers(0, len(za_rows), size=(n_boot, len(za_rows)))]
             for za_rows in (np.flatnonzero(za == g) for g in np.unique(za))]  # fmt: skip
    out = np.empty((len(diff), 3))
    for i, d in enumerate(diff):
        boot = sum(d[idx].sum(1, dtype=np.int64) for idx in draws) / len(y)
        out[i] = (d.mean(), *_percentile_interval(np.asarray(boot), level))
    return out


@dataclass
class Choice:
    """What :func:`select` chose and why, with the evidence for every grid point."""

    index: int
    rule: str
    reason: str
    #: per grid point: the fields of docs/SELECTION.md ("What a job records")
    points: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _rows_text(metric: str, n_val: int, n_train: int, n_extra: int = 0) -> str:
    if metric not in LABEL_FREE_METRICS or not (n_train or n_extra):
        return f"validation rows ({n_val}, labelled)"
    parts = [("validation", n_val), ("training-split features", n_train),
             ("extra label-free rows", n_extra)]  # fmt: skip
    named = [(what, n) for what, n in parts if n]
    return (" + ".join(w for w, _ in named) + " (" + " + ".join(str(n) for _, n in named)
            + " rows, labels unused)")  # fmt: skip


def _label_free(
    pred: ArrayLike | None, z: ArrayLike | None, n_points: int, what: str, dtype: Any
) -> tuple[NDArray[Any], NDArray[Any]]:
    """(points, n) predictions and (n,) groups of label-free rows; empty when not given."""
    if (pred is None) != (z is None):
        raise ValueError(f"pass {what}_pred and z_{what} together")
    if pred is None or z is None:
        return np.zeros((n_points, 0)), np.zeros(0, dtype=dtype)
    p = np.atleast_2d(np.asarray(pred))
    zz = np.asarray(z).reshape(-1)
    if p.shape != (n_points, len(zz)):
        raise ValueError(f"{what}_pred must be (points, n_{what}) with z_{what}'s n_{what}")
    return p, zz


def _smoothed_fairness(metric: str, pred: NDArray[Any], z: NDArray[Any], y: NDArray[Any]) -> float:
    """The fairness the ``smoothed`` rule reads before smoothing: DI on the rows given, or on
    the validation rows the worse of the equalized-odds ratios that are defined (the paper
    reproduction's reading), or the TPR ratio."""
    if metric != "equalized_odds":
        return fairness_estimate(metric, pred, z, y)
    from trainer import metrics as M

    vals = [v for v in M.equalized_odds(y, pred, z).values() if not math.isnan(v)]
    return min(vals) if vals else float("nan")


def _fmt_iv(iv: Sequence[float] | None) -> str:
    return "undefined" if iv is None else f"[{iv[0]:.3f}, {iv[1]:.3f}]"


def select(
    y_val: ArrayLike,
    val_pred: ArrayLike,
    z_val: ArrayLike,
    *,
    train_pred: ArrayLike | None = None,
    z_train: ArrayLike | None = None,
    extra_pred: ArrayLike | None = None,
    z_extra: ArrayLike | None = None,
    sweeps: Sequence[Any] | None = None,
    metric: str = "disparate_impact",
    min_fairness: float = MIN_FAIRNESS,
    rule: str = DEFAULT_RULE,
    seed: int = 0,
    n_boot: int = N_FAIRNESS_BOOTSTRAP,
    n_boot_accuracy: int = N_ACCURACY_BOOTSTRAP,
    level: float = LEVEL,
) -> Choice:
    """Choose a grid point by ``rule`` (module docstring; docs/SELECTION.md).

    Args:
        y_val, z_val: the labelled validation rows' labels and groups.
        val_pred: (points, n_val) predictions on the validation rows (> 0 is positive).
        train_pred, z_train: (points, n_train) predictions on the training split's
            features and its groups: label-free rows for DI. Never pass test rows.
        extra_pred, z_extra: (points, n_extra) predictions on further label-free rows that
            no model was fitted on (the synthetic data's unused block [2200, 2700)); they join
            the DI pool of ``interval`` and are the ``smoothed`` rule's extra DI rows, which
            that rule needs.
        sweeps: ``smoothed`` only: each point's sweep label (FR-Train: its lambda_2); the
            rule averages neighbours within a sweep (:func:`smooth_sweeps`), whose points
            must be consecutive and in lambda_1 order. None: one sweep in grid order.
        metric: "disparate_impact", "equalized_odds" or "equal_opportunity".
        rule: "interval", "point" or "smoothed" (:data:`RULES`).
        seed: seeds the resamples (same input and seed, same choice).
    """
    if rule not in RULES:
        raise ValueError(f"unknown selection rule {rule!r}; use one of {RULES}")
    if rule == "smoothed" and extra_pred is None:
        raise ValueError(
            "rule 'smoothed' needs its extra label-free rows (extra_pred, z_extra: the "
            "synthetic data's unused block); use 'interval' or 'point' without them"
        )
    y = np.asarray(y_val).reshape(-1)
    zv = np.asarray(z_val).reshape(-1)
    pv = np.atleast_2d(np.asarray(val_pred))
    if pv.shape[1] != len(y) or len(zv) != len(y):
        raise ValueError("val_pred, y_val and z_val disagree on the number of validation rows")
    pt, zt = _label_free(train_pred, z_train, len(pv), "train", zv.dtype)
    pe, ze = _label_free(extra_pred, z_extra, len(pv), "extra", zv.dtype)
    pool_z = np.concatenate([zv, zt, ze])
    n_val, n_train, n_extra = len(y), len(zt), len(ze)
    from trainer.metrics import accuracy

    acc = np.array([accuracy(y, p) for p in pv])
    points: list[dict[str, Any]] = []
    # The rows each rule checks DI on: ``smoothed`` leaves the training rows out (FR-Train's
    # fairness discriminator was fitted on them), the others check the whole pool.
    checked_train = 0 if rule == "smoothed" else n_train
    rows = _rows_text(metric, n_val, checked_train, n_extra)
    for i in range(len(pv)):
        pool = np.concatenate([pv[i] > 0, pt[i] > 0, pe[i] > 0])
        free, free_iv = fairness_interval(
            "disparate_impact", pool, pool_z, n_boot=n_boot, level=level, seed=seed
        )
        if metric in LABEL_FREE_METRICS and rule == "smoothed":
            est, iv = fairness_interval(metric, np.concatenate([pv[i] > 0, pe[i] > 0]),
                                        np.concatenate([zv, ze]), n_boot=n_boot, level=level,
                                        seed=seed)  # fmt: skip
            n_rows = n_val + n_extra
        elif metric in LABEL_FREE_METRICS:
            est, iv, n_rows = free, free_iv, len(pool_z)
        else:
            est, iv = fairness_interval(metric, pv[i], zv, y, n_boot=n_boot, level=level, seed=seed)
            n_rows = n_val
        points.append(
            {
                "val_accuracy": float(acc[i]),
                "label_free_di": free,
                "label_free_di_interval": free_iv,
                "n_label_free": len(pool_z),
                "checked_metric": metric,
                "checked_rows": rows,
                "checked_estimate": est,
                "checked_interval": iv,
                "checked_n": n_rows,
                "feasible": bool(iv is not None and iv[0] >= min_fairness),
            }
        )
    warnings: list[str] = []
    what = metric.replace("_", " ")
    if rule == "point":
        fair = [fairness_estimate(metric, p, zv, y) for p in pv]
        chosen, crit = choose(acc.tolist(), fair, min_fairness=min_fairness)
        reason = f"rule 'point': {crit['rule']} (validation point estimates)"
    elif rule == "smoothed":
        if metric in LABEL_FREE_METRICS:
            fair = [float(p["checked_estimate"]) for p in points]
        else:
            fair = [_smoothed_fairness(metric, p, zv, y) for p in pv]
        chosen, crit = choose_index(acc.tolist(), fair, min_di=min_fairness, sweeps=sweeps)
        for p, a, f in zip(points, crit["smoothed_val_acc"], crit["smoothed_di"], strict=True):
            p.update(smoothed_val_accuracy=a, smoothed_fairness=f, feasible=f >= min_fairness)
        reason = (f"rule 'smoothed': {crit['rule']} (3-point moving averages along the grid; "
                  f"{what} on {rows})")  # fmt: skip
    else:
        low = [p["checked_interval"][0] if p["checked_interval"] else -math.inf for p in points]
        feasible = [i for i, p in enumerate(points) if p["feasible"]]
        if feasible:
            chosen = max(feasible, key=lambda j: (acc[j], low[j], -j))
            reason = (
                f"rule 'interval': the highest validation accuracy ({acc[chosen]:.3f}) among the "
                f"{len(feasible)} of {len(pv)} grid points whose {what} 95% interval on "
                f"{rows} lies at or above {min_fairness:g}; "
                f"this point's: {_fmt_iv(points[chosen]['checked_interval'])}"
            )
        else:
            chosen = max(range(len(pv)), key=lambda j: (low[j], acc[j], -j))
            msg = (
                f"no grid point's {what} reaches {min_fairness:g} with 95% confidence on {rows}: "
                f"chose the point with the highest lower end, "
                f"{_fmt_iv(points[chosen]['checked_interval'])} (validation accuracy "
                f"{acc[chosen]:.3f})"
            )
            reason = f"rule 'interval': {msg}"
            warnings.append(msg)
    diffs = paired_accuracy_differences(
        y, pv, zv, chosen, n_boot=n_boot_accuracy, level=level, seed=seed
    )
    close = []
    for i, p in enumerate(points):
        d = diffs[i]
        p["accuracy_diff_to_chosen"] = [float(v) for v in d]
        p["accuracy_indistinguishable"] = bool(i != chosen and d[1] <= 0 <= d[2])
        if p["accuracy_indistinguishable"] and p["feasible"]:
            close.append(i)
    if close:
        reason += (
            f"; the validation set ({n_val} rows) cannot separate its accuracy from "
            f"{len(close)} other feasible point(s) (paired 95% interval of the difference "
            "contains 0)"
        )
    if metric in LABELLED_METRICS:
        widths = [iv[1] - iv[0] for p in points if (iv := p["checked_interval"]) is not None]
        if not widths or float(np.median(widths)) > MAX_DI_INTERVAL:
            warnings.append(
                f"{what} needs labels, so only the {n_val} validation rows can check it: "
                + ("it is undefined on them" if not widths else
                   f"the median 95% interval is {float(np.median(widths)):.2f} wide")
            )  # fmt: skip
    return Choice(index=int(chosen), rule=rule, reason=reason, points=points, warnings=warnings)
