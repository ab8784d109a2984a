"""Table 6 of the paper (Section 4.4): accuracy of crowdsourced labels against N.

For each seed a random ``gold_fraction`` of the examples becomes hidden gold (their true labels
known), workers are scored on it and filtered (``app.crowd.score_workers``), and every method
labels the examples from the first N = 1..11 answers of the remaining workers; accuracy is
measured against ``true_label`` on the *non-gold* examples only (the gold labels were seen).
Alongside: the paper's unfiltered mean rule over all examples (deterministic: no gold, no seed)
and the unfiltered mean rule on the same non-gold examples (the baseline filtering must match).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from app.crowd import (
    METHODS,
    WorkerFilterRule,
    accuracy_weights,
    aggregate,
    as_rule,
    excluded_workers,
    parse_wide,
    score_workers,
)
from app.crowd._table import DEFAULT_THRESHOLD

#: Table 6 of the paper: crowd label accuracy at N = 1 / 5 / 11 answers per example.
PAPER_TABLE6: dict[str, dict[int, float]] = {
    "COMPAS": {1: 0.609, 5: 0.656, 11: 0.667},
    "AdultCensus": {1: 0.645, 5: 0.721, 11: 0.743},
}
DEFAULT_N_VALUES = tuple(range(1, 12))
DEFAULT_SEEDS = (0, 1, 2, 3, 4)

ERR_GOLD_FRACTION = "gold fraction must be in (0, 1); got {value!r}"
ERR_GOLD_SIZE = (
    "gold fraction {fraction} of {n} examples leaves {n_gold} gold and {n_rest} evaluated examples;"
    " both must be at least 1"
)
ERR_NO_SEEDS = "give at least one seed"
ERR_N_VALUES = "N values must be positive integers; got {values!r}"
ERR_NO_TRUTH = "the crowd table has no true_label column, so label accuracy cannot be measured"
ERR_TRUTH_MISSING = "{count} example(s) with answers have no true label (first: {example!r})"


@dataclass(frozen=True)
class Table6Config:
    """What to compute. ``rule`` defaults to ``WorkerFilterRule()`` (credibly-below-chance)."""

    gold_fraction: float = 0.2
    seeds: tuple[int, ...] = DEFAULT_SEEDS
    n_values: tuple[int, ...] = DEFAULT_N_VALUES
    methods: tuple[str, ...] = METHODS
    rule: WorkerFilterRule = field(default_factory=WorkerFilterRule)
    threshold: float = DEFAULT_THRESHOLD

    def __post_init__(self) -> None:
        if not 0.0 < float(self.gold_fraction) < 1.0:
            raise ValueError(ERR_GOLD_FRACTION.format(value=self.gold_fraction))
        if not self.seeds:
            raise ValueError(ERR_NO_SEEDS)
        if not self.n_values or any(
            isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in self.n_values
        ):
            raise ValueError(ERR_N_VALUES.format(values=self.n_values))
        object.__setattr__(self, "rule", as_rule(self.rule))


@dataclass
class Table6Result:
    """Accuracies per seed; ``summary`` gives mean and sample std (ddof=1) over seeds."""

    config: Table6Config
    n_examples: int
    n_gold: int
    #: mean rule, every example, no gold and no filtering (deterministic)
    unfiltered_all: dict[int, float]
    #: mean rule without filtering on each seed's non-gold examples
    unfiltered_non_gold: dict[int, list[float]]
    #: method -> N -> accuracy per seed on the non-gold examples, after filtering
    methods: dict[str, dict[int, list[float]]]
    #: per seed: workers filtered or blocked, and workers scored
    excluded_per_seed: list[int]
    n_workers: int

    @staticmethod
    def _stats(values: Sequence[float]) -> tuple[float, float]:
        array = np.asarray(values, dtype=np.float64)
        std = float(array.std(ddof=1)) if len(array) > 1 else 0.0
        return float(array.mean()), std

    def summary(self, method: str, n: int) -> tuple[float, float]:
        """(mean, std) over seeds of ``method`` at N = ``n``."""
        return self._stats(self.methods[method][n])

    def baseline_summary(self, n: int) -> tuple[float, float]:
        """(mean, std) over seeds of the unfiltered mean rule on the non-gold examples."""
        return self._stats(self.unfiltered_non_gold[n])

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict: per method and N ``accuracy_mean``/``accuracy_std`` (+ per seed)."""

        def block(per_n: Mapping[int, list[float]]) -> dict[str, Any]:
            out: dict[str, Any] = {}
            for n, values in per_n.items():
                mean, std = self._stats(values)
                out[str(n)] = {"accuracy_mean": mean, "accuracy_std": std, "per_seed": values}
            return out

        return {
            "paper_table6": {k: {str(n): v for n, v in t.items()} for k, t in PAPER_TABLE6.items()},
            "config": {
                "gold_fraction": self.config.gold_fraction,
                "seeds": list(self.config.seeds),
                "n_values": list(self.config.n_values),
                "threshold": self.config.threshold,
                "rule": self.config.rule.to_dict(),
            },
            "n_examples": self.n_examples,
            "n_gold": self.n_gold,
            "n_evaluated": self.n_examples - self.n_gold,
            "n_workers": self.n_workers,
            "excluded_workers_per_seed": self.excluded_per_seed,
            "unfiltered_mean_all_examples": {
                str(n): {"accuracy": acc} for n, acc in self.unfiltered_all.items()
            },
            "unfiltered_mean_non_gold": block(self.unfiltered_non_gold),
            "methods": {method: block(per_n) for method, per_n in self.methods.items()},
        }


def choose_gold(example_ids: Sequence[Any], fraction: float, seed: int) -> list[Any]:
    """A seeded random ``round(fraction * n)`` of ``example_ids`` (sorted first, so the choice
    depends only on the set of ids and the seed, not on file order)."""
    ids = sorted(example_ids)
    n_gold = round(fraction * len(ids))
    if n_gold < 1 or n_gold >= len(ids):
        raise ValueError(
            ERR_GOLD_SIZE.format(
                fraction=fraction, n=len(ids), n_gold=n_gold, n_rest=len(ids) - n_gold
            )
        )
    picked = np.random.default_rng(seed).choice(len(ids), size=n_gold, replace=False)
    return [ids[i] for i in sorted(picked.tolist())]


def label_accuracy(labels: pd.DataFrame, truth: pd.Series) -> float:
    """Share of ``truth``'s examples whose label matches; an example without a label is wrong."""
    predicted = labels.set_index("example_id")["label"]
    predicted = predicted.reindex(truth.index)
    return float((predicted.to_numpy() == truth.to_numpy()).mean())


def compute_table6(
    answers: pd.DataFrame,
    truth: pd.Series,
    *,
    config: Table6Config | None = None,
    on_step: Callable[[], None] | None = None,
) -> Table6Result:
    """Compute Table 6 from a long answer table and the true labels (pure; no database).

    Args:
        answers: long table ``example_id, worker_id, value, submitted_at``.
        truth: true label (+1/-1) indexed by example id; must cover every answered example.
        config: gold fraction, seeds, N values, methods, filter rule.
        on_step: called once per (seed, method) pair, for a progress bar.
    """
    config = config or Table6Config()
    truth = truth.astype(np.int64)
    answered = pd.unique(answers["example_id"])
    missing = pd.Index(answered).difference(list(truth.index))
    if len(missing):
        raise ValueError(ERR_TRUTH_MISSING.format(count=len(missing), example=missing[0]))
    truth = truth.reindex(answered)

    unfiltered_all = {
        n: label_accuracy(aggregate(answers, n_max=n, threshold=config.threshold), truth)
        for n in config.n_values
    }
    unfiltered_non_gold: dict[int, list[float]] = {n: [] for n in config.n_values}
    methods: dict[str, dict[int, list[float]]] = {
        m: {n: [] for n in config.n_values} for m in config.methods
    }
    excluded_counts: list[int] = []
    n_gold = 0
    n_workers = int(answers["worker_id"].nunique())
    for seed in config.seeds:
        gold_ids = choose_gold(list(truth.index), config.gold_fraction, seed)
        n_gold = len(gold_ids)
        gold = {example: int(truth[example]) for example in gold_ids}
        evaluated = truth.drop(index=gold_ids)
        scores = score_workers(answers, gold, config.rule, threshold=config.threshold)
        excluded = excluded_workers(scores)
        excluded_counts.append(len(excluded))
        weights = accuracy_weights(scores)
        for n in config.n_values:
            plain = aggregate(answers, method="mean", n_max=n, threshold=config.threshold)
            unfiltered_non_gold[n].append(label_accuracy(plain, evaluated))
        for method in config.methods:
            for n in config.n_values:
                labels = aggregate(
                    answers,
                    method=method,
                    n_max=n,
                    threshold=config.threshold,
                    worker_weights=weights,
                    exclude_workers=excluded,
                )
                methods[method][n].append(label_accuracy(labels, evaluated))
            if on_step is not None:
                on_step()
    return Table6Result(
        config=config,
        n_examples=len(truth),
        n_gold=n_gold,
        unfiltered_all=unfiltered_all,
        unfiltered_non_gold=unfiltered_non_gold,
        methods=methods,
        excluded_per_seed=excluded_counts,
        n_workers=n_workers,
    )


ERR_READ_CSV = "cannot read the crowd CSV: {error}"


def read_crowd_csv(csv_path: Path) -> pd.DataFrame:
    """Read a released-format crowd CSV, turning pandas' parse errors into a clear ValueError."""
    try:
        return pd.read_csv(csv_path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as error:
        raise ValueError(ERR_READ_CSV.format(error=error)) from None


def run_table6(
    *,
    csv_path: Path,
    config: Table6Config | None = None,
    on_step: Callable[[], None] | None = None,
) -> Table6Result:
    """Table 6 for a released-format crowd CSV (see ``compute_table6``)."""
    wide = parse_wide(read_crowd_csv(csv_path))
    truth = wide.true_labels
    if truth is None:
        raise ValueError(ERR_NO_TRUTH)
    return compute_table6(wide.answers, truth, config=config, on_step=on_step)
