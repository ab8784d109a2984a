"""Accuracy and group-fairness metrics (paper Sections 3.1 and A.2; docs/ALGORITHMS.md §5).

All functions take labels and predictions in ``{-1, +1}`` (or ``{0, 1}``; anything > 0 is
positive) and integer group codes. A ratio whose rates are both zero (0/0) is NaN,
as in fairlearn; a ratio with max rate > 0 and min rate 0 is 0; a ratio over a group whose
conditional rate is undefined (no rows with that label in the group) is NaN.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray


def _pos(a: ArrayLike) -> NDArray[np.bool_]:
    return np.asarray(a).reshape(-1) > 0


def _groups(z: ArrayLike) -> NDArray[Any]:
    return np.asarray(z).reshape(-1)


def _ratio(rates: list[float]) -> float:
    """min over max of a list of rates; NaN for no groups, 0/0, or an undefined group rate.

    A group whose conditional rate is undefined (e.g. no Y = 1 rows for a TPR) makes the
    ratio NaN rather than being skipped: skipping it would report a two-group data set as
    perfectly fair (1.0) from one group alone. fairlearn instead counts such a rate as 0.
    """
    r = list(rates)
    if not r or any(np.isnan(x) for x in r):
        return float("nan")
    hi = max(r)
    if hi == 0:
        return float("nan")
    return float(min(r) / hi)


def accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Fraction of rows where the predicted sign equals the true sign."""
    t, p = _pos(y_true), _pos(y_pred)
    if len(t) == 0:
        return float("nan")
    return float(np.mean(t == p))


def positive_rates(y_pred: ArrayLike, z: ArrayLike) -> dict[Any, float]:
    """P(ŷ = 1 | z = g) for every group g present."""
    p, g = _pos(y_pred), _groups(z)
    return {k.item(): float(p[g == k].mean()) for k in np.unique(g)}


def disparate_impact(y_pred: ArrayLike, z: ArrayLike) -> float:
    """DI = min_g P(ŷ=1|z=g) / max_g P(ŷ=1|z=g) (paper Eq. in §3.1; 1 is perfectly fair)."""
    return _ratio(list(positive_rates(y_pred, z).values()))


def _conditional_rates(
    y_true: ArrayLike, y_pred: ArrayLike, z: ArrayLike, label: bool
) -> list[float]:
    t, p, g = _pos(y_true), _pos(y_pred), _groups(z)
    out = []
    for k in np.unique(g):
        m = (g == k) & (t == label)
        out.append(float(p[m].mean()) if m.any() else float("nan"))
    return out


def equalized_odds(y_true: ArrayLike, y_pred: ArrayLike, z: ArrayLike) -> dict[int, float]:
    """Equalized odds per label, as Table 9 reports it.

    ``{0: FPR ratio, 1: TPR ratio}``, each min over max across groups of P(ŷ=1 | Y=y, z).
    """
    return {
        0: _ratio(_conditional_rates(y_true, y_pred, z, False)),
        1: _ratio(_conditional_rates(y_true, y_pred, z, True)),
    }


def equal_opportunity(y_true: ArrayLike, y_pred: ArrayLike, z: ArrayLike) -> float:
    """Equal opportunity: the TPR ratio across groups (= equalized odds for Y = 1)."""
    return _ratio(_conditional_rates(y_true, y_pred, z, True))


def group_confusion_matrices(
    y_true: ArrayLike, y_pred: ArrayLike, z: ArrayLike
) -> dict[Any, dict[str, int]]:
    """Per-group confusion matrix as counts ``{tp, fp, tn, fn}`` (cf. paper Table 4)."""
    t, p, g = _pos(y_true), _pos(y_pred), _groups(z)
    out: dict[Any, dict[str, int]] = {}
    for k in np.unique(g):
        m = g == k
        out[k.item()] = {
            "tp": int(np.sum(m & t & p)),
            "fp": int(np.sum(m & ~t & p)),
            "tn": int(np.sum(m & ~t & ~p)),
            "fn": int(np.sum(m & t & ~p)),
        }
    return out


def evaluate(y_true: ArrayLike, y_pred: ArrayLike, z: ArrayLike) -> dict[str, Any]:
    """Every metric at once, as a JSON-friendly dict."""
    eo = equalized_odds(y_true, y_pred, z)
    return {
        "accuracy": accuracy(y_true, y_pred),
        "disparate_impact": disparate_impact(y_pred, z),
        "equalized_odds_y0": eo[0],
        "equalized_odds_y1": eo[1],
        "equal_opportunity": eo[1],
        "positive_rates": {str(k): v for k, v in positive_rates(y_pred, z).items()},
        "confusion": {str(k): v for k, v in group_confusion_matrices(y_true, y_pred, z).items()},
        "n": len(np.asarray(y_true).reshape(-1)),
    }


def json_safe(value: Any) -> Any:
    """``value`` with numpy scalars as Python numbers and NaN / inf as None (JSON null)."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
