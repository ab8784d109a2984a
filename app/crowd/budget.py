"""Adaptive answer budgets: stop asking for answers once an example's label is settled.

The rule (a sequential t-type test of "the mean answer equals the threshold"): after ``n``
answers with mean ``m`` and sample standard deviation ``s`` (taken as at least ``min_sd``; with
one answer, ``s = 1``), the example is **settled** when ``n >= n_min`` and

    |m - threshold| * sqrt(n) / max(s, min_sd) >= c

and otherwise gets one more answer, up to ``n_max``. Its label is the mean rule on the answers
it got (positive iff ``m > threshold``). Larger ``c`` asks for more answers; ``c = inf`` is the
fixed-N design.

``replay`` evaluates the rule offline on a released-format file: each example's real answers
are replayed in submission order (``submitted_at``), so "one more answer" is the next answer the
crowd actually gave, and the accuracy is measured against the true labels.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from app.crowd._table import DEFAULT_THRESHOLD, TIME_COLUMN, validate_answers

#: The settings ``frtrain crowd budget`` replays, fixed before looking at any result.
DEFAULT_SETTINGS: tuple[tuple[int, float], ...] = ((2, 1.0), (2, 1.5), (3, 1.5), (3, 2.0))
#: The setting publishing uses unless the project says otherwise.
DEFAULT_N_MIN, DEFAULT_C = 2, 1.5
MIN_SD = 0.5
RULE = (
    "an example is settled after n answers (mean m, sample sd s >= 0.5; s = 1 for one answer) "
    "when n >= n_min and |m - threshold| * sqrt(n) / s >= c; otherwise it gets one more answer "
    "(its next real answer in submission order), up to N; label: mean rule on its answers"
)


@dataclass(frozen=True)
class SequentialRule:
    """The stopping rule of the module docstring."""

    n_min: int = DEFAULT_N_MIN
    c: float = DEFAULT_C
    min_sd: float = MIN_SD
    threshold: float = DEFAULT_THRESHOLD

    def settled(self, values: Sequence[float]) -> bool:
        """True when an example with these answers needs no more."""
        n = len(values)
        if n == 0 or n < self.n_min:
            return False
        mean = float(np.mean(values))
        sd = float(np.std(values, ddof=1)) if n > 1 else 1.0
        return abs(mean - self.threshold) * math.sqrt(n) / max(sd, self.min_sd) >= self.c


def answer_matrix(answers: pd.DataFrame) -> tuple[pd.Index, np.ndarray]:
    """Examples (sorted) and an (examples x max answers) array in submission order, NaN-padded."""
    table = validate_answers(answers)
    order = ["example_id", TIME_COLUMN] if TIME_COLUMN in table.columns else ["example_id"]
    table = table.sort_values(order, kind="stable")
    codes, examples = pd.factorize(table["example_id"], sort=True)
    rank = table.groupby(codes, sort=False).cumcount().to_numpy()
    out = np.full((len(examples), int(rank.max()) + 1 if len(rank) else 0), np.nan)
    out[codes, rank] = table["value"].to_numpy(dtype=np.float64)
    return pd.Index(examples), out


def run_policy(
    matrix: np.ndarray, rule: SequentialRule, n_max: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per example: answers used and label (+1 / -1) under ``rule`` capped at ``n_max``."""
    k = min(n_max, matrix.shape[1])
    a = matrix[:, :k]
    avail = np.sum(~np.isnan(a), axis=1)
    x = np.nan_to_num(a)
    n = np.arange(1, k + 1, dtype=np.float64)
    s1, s2 = np.cumsum(x, axis=1), np.cumsum(x * x, axis=1)
    mean = s1 / n
    with np.errstate(invalid="ignore", divide="ignore"):
        var = np.where(n > 1, (s2 - n * mean**2) / np.maximum(n - 1, 1), 1.0)
    sd = np.maximum(np.sqrt(np.clip(var, 0.0, None)), rule.min_sd)
    stat = np.abs(mean - rule.threshold) * np.sqrt(n) / sd
    stop = (n >= rule.n_min) & (stat >= rule.c)
    stop |= n[None, :] >= avail[:, None]  # no more answers to ask for
    used = np.argmax(stop, axis=1) + 1
    used = np.minimum(used, np.maximum(avail, 1))
    final_mean = mean[np.arange(len(a)), used - 1]
    label = np.where(final_mean > rule.threshold, 1, -1)
    return used, label


@dataclass
class BudgetResult:
    """Accuracy and answers per example, per seed, for fixed N and each adaptive setting."""

    n_examples: int
    n_evaluated: int
    seeds: tuple[int, ...]
    fixed: dict[int, dict[str, list[float]]]
    adaptive: dict[str, dict[str, list[float]]]

    @staticmethod
    def stats(values: Sequence[float]) -> tuple[float, float]:
        arr = np.asarray(values, dtype=np.float64)
        return float(arr.mean()), float(arr.std(ddof=1)) if len(arr) > 1 else 0.0

    def to_json(self) -> dict[str, object]:
        def block(d: dict[str, list[float]]) -> dict[str, object]:
            out: dict[str, object] = {}
            for key, values in d.items():
                mean, std = self.stats(values)
                out[key] = {"mean": mean, "std": std, "per_seed": values}
            return out

        return {
            "rule": RULE,
            "n_examples": self.n_examples,
            "n_evaluated": self.n_evaluated,
            "seeds": list(self.seeds),
            "fixed": {str(n): block(v) for n, v in self.fixed.items()},
            "adaptive": {k: block(v) for k, v in self.adaptive.items()},
        }


def setting_name(n_min: int, c: float) -> str:
    return f"n_min={n_min},c={c:g}"


def replay(
    answers: pd.DataFrame,
    truth: pd.Series,
    evaluated_per_seed: Iterable[tuple[int, Sequence[object]]],
    *,
    n_max: int = 11,
    settings: Sequence[tuple[int, float]] = DEFAULT_SETTINGS,
    threshold: float = DEFAULT_THRESHOLD,
) -> BudgetResult:
    """Replay fixed N = 1..n_max and each (n_min, c) setting; score each seed's ``evaluated``
    examples (e.g. the non-gold ones of a hidden-gold split) against ``truth``."""
    examples, matrix = answer_matrix(answers)
    y = truth.reindex(examples).to_numpy()
    fixed: dict[int, dict[str, list[float]]] = {
        n: {"accuracy": [], "answers_per_example": []} for n in range(1, n_max + 1)
    }
    adaptive: dict[str, dict[str, list[float]]] = {
        setting_name(m, c): {"accuracy": [], "answers_per_example": []} for m, c in settings
    }
    runs = {
        n: run_policy(matrix, SequentialRule(n_min=n, c=math.inf, threshold=threshold), n)
        for n in fixed
    }
    runs_a = {
        setting_name(m, c): run_policy(
            matrix, SequentialRule(n_min=m, c=c, threshold=threshold), n_max
        )
        for m, c in settings
    }
    seeds: list[int] = []
    n_eval = 0
    position = pd.Series(np.arange(len(examples)), index=examples)
    for seed, evaluated in evaluated_per_seed:
        seeds.append(seed)
        rows = position.reindex(list(evaluated)).dropna().to_numpy(dtype=np.int64)
        n_eval = len(rows)
        for target, source in ((fixed, runs), (adaptive, runs_a)):
            for key, (used, label) in source.items():
                target[key]["accuracy"].append(float(np.mean(label[rows] == y[rows])))  # type: ignore[index]
                target[key]["answers_per_example"].append(float(np.mean(used[rows])))  # type: ignore[index]
    return BudgetResult(
        n_examples=len(examples),
        n_evaluated=n_eval,
        seeds=tuple(seeds),
        fixed=fixed,
        adaptive=adaptive,
    )
