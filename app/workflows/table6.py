"""Table 6 of the paper (Section 4.4): accuracy of crowdsourced labels against N.

For each seed a random ``gold_fraction`` of the examples becomes hidden gold (their true labels
known), workers are scored on it and filtered (``app.crowd.score_workers``), and every method
labels the examples from the first N = 1..11 answers of the remaining workers; accuracy is
measured against ``true_label`` on the *non-gold* examples only (the gold labels were seen).
Alongside: the paper's unfiltered mean rule over all examples (deterministic: no gold, no seed)
and the unfiltered mean rule on the same non-gold examples (the baseline filtering must match).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from app.core.db import make_engine, make_session_factory
from app.core.migrate import upgrade
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
from app.schemas.crowd import GoldCreate, ProjectCreate
from app.schemas.crowd import WorkerFilterRule as FilterRuleSchema
from app.services.crowd.answers import import_answers
from app.services.crowd.examples import add_gold
from app.services.crowd.labels import load_project_crowd
from app.services.crowd.truth import (
    DEFAULT_SEEDS,
    ERR_NO_TRUTH,
    ERR_READ_CSV,
    choose_gold,
    known_labels,
    read_crowd_csv,
)
from app.services.projects import create_project

#: Table 6 of the paper: crowd label accuracy at N = 1 / 5 / 11 answers per example.
PAPER_TABLE6: dict[str, dict[int, float]] = {
    "COMPAS": {1: 0.609, 5: 0.656, 11: 0.667},
    "AdultCensus": {1: 0.645, 5: 0.721, 11: 0.743},
}
DEFAULT_N_VALUES = tuple(range(1, 12))

ERR_GOLD_FRACTION = "gold fraction must be in (0, 1); got {value!r}"
ERR_NO_SEEDS = "give at least one seed"
ERR_N_VALUES = "N values must be positive integers; got {values!r}"
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


def label_accuracy(labels: pd.DataFrame, truth: pd.Series) -> float:
    """Share of ``truth``'s examples whose label matches; an example without a label is wrong."""
    predicted = labels.set_index("example_id")["label"]
    predicted = predicted.reindex(truth.index)
    return float((predicted.to_numpy() == truth.to_numpy()).mean())


@dataclass(frozen=True)
class GoldSplit:
    """One seed's data: the answers, every example's true label, the gold ids, worker scores."""

    answers: pd.DataFrame
    truth: pd.Series
    gold_ids: list[Any]
    scores: pd.DataFrame


class _Collector:
    """Accumulates per-seed accuracies into a ``Table6Result``."""

    def __init__(self, config: Table6Config, on_step: Callable[[], None] | None) -> None:
        self.config = config
        self.on_step = on_step
        self.baseline: dict[int, list[float]] = {n: [] for n in config.n_values}
        self.methods: dict[str, dict[int, list[float]]] = {
            m: {n: [] for n in config.n_values} for m in config.methods
        }
        self.excluded: list[int] = []
        self.n_gold = 0

    def add(self, split: GoldSplit) -> None:
        config = self.config
        evaluated = split.truth.drop(index=split.gold_ids)
        self.n_gold = len(split.gold_ids)
        excluded = excluded_workers(split.scores)
        self.excluded.append(len(excluded))
        weights = accuracy_weights(split.scores)
        for n in config.n_values:
            plain = aggregate(split.answers, method="mean", n_max=n, threshold=config.threshold)
            self.baseline[n].append(label_accuracy(plain, evaluated))
        for method in config.methods:
            for n in config.n_values:
                labels = aggregate(
                    split.answers,
                    method=method,
                    n_max=n,
                    threshold=config.threshold,
                    worker_weights=weights,
                    exclude_workers=excluded,
                )
                self.methods[method][n].append(label_accuracy(labels, evaluated))
            if self.on_step is not None:
                self.on_step()

    def result(self, answers: pd.DataFrame, truth: pd.Series) -> Table6Result:
        unfiltered_all = {
            n: label_accuracy(aggregate(answers, n_max=n, threshold=self.config.threshold), truth)
            for n in self.config.n_values
        }
        return Table6Result(
            config=self.config,
            n_examples=len(truth),
            n_gold=self.n_gold,
            unfiltered_all=unfiltered_all,
            unfiltered_non_gold=self.baseline,
            methods=self.methods,
            excluded_per_seed=self.excluded,
            n_workers=int(answers["worker_id"].nunique()),
        )


def _check_truth(answers: pd.DataFrame, truth: pd.Series) -> None:
    missing = pd.Index(pd.unique(answers["example_id"])).difference(list(truth.index))
    if len(missing):
        raise ValueError(ERR_TRUTH_MISSING.format(count=len(missing), example=missing[0]))


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
        truth: true label (+1/-1) per example id, in file order (the gold draw uses it); must
            cover every answered example.
        config: gold fraction, seeds, N values, methods, filter rule.
        on_step: called once per (seed, method) pair, for a progress bar.
    """
    config = config or Table6Config()
    truth = truth.astype(np.int64)
    _check_truth(answers, truth)
    collector = _Collector(config, on_step)
    for seed in config.seeds:
        gold_ids = choose_gold(list(truth.index), config.gold_fraction, seed)
        gold = {example: int(truth[example]) for example in gold_ids}
        scores = score_workers(answers, gold, config.rule, threshold=config.threshold)
        collector.add(GoldSplit(answers=answers, truth=truth, gold_ids=gold_ids, scores=scores))
    return collector.result(answers, truth)


QUESTION = "Table 6 replay: how likely is the positive outcome for this example?"


def compute_table6_from_csv(
    csv_path: Path,
    *,
    config: Table6Config | None = None,
    on_step: Callable[[], None] | None = None,
) -> Table6Result:
    """The pure path for a released-format CSV: parse it in memory, no database."""
    wide = parse_wide(read_crowd_csv(csv_path))
    truth = wide.true_labels
    if truth is None:
        raise ValueError(ERR_NO_TRUTH)
    return compute_table6(wide.answers, truth, config=config, on_step=on_step)


def _load_split(
    session: Session, *, csv_bytes: bytes, csv_name: str, config: Table6Config, seed: int
) -> GoldSplit:
    """One project per seed: import the CSV, mark the seed's hidden gold, read everything back."""
    rule = config.rule
    project = create_project(
        session=session,
        data=ProjectCreate(
            name=f"table6 {csv_name} seed {seed}"[:200],
            question=QUESTION,
            threshold=config.threshold,
            max_answers=max(config.n_values),
            visible_columns=None,
            worker_filter=FilterRuleSchema(
                prior_alpha=rule.prior_a,
                prior_beta=rule.prior_b,
                min_gold=rule.min_gold,
                min_accuracy=rule.min_accuracy,
                credible_level=rule.credible_level,
                trust_level=rule.trust_level,
                decide_after=rule.decide_after,
                min_pattern_answers=rule.min_pattern_answers,
                interval_level=rule.interval_level,
                min_skill=rule.min_skill,
            ),
        ),
    )
    import_answers(
        session=session, project_id=project.id, data=csv_bytes, filename=csv_name, layout="wide"
    )
    truth, external = known_labels(session=session, project_id=project.id)
    gold_ids = choose_gold(list(truth.index), config.gold_fraction, seed)
    add_gold(
        session=session,
        project_id=project.id,
        items=[
            GoldCreate(example_id=external[pk], label=1 if truth[pk] > 0 else -1) for pk in gold_ids
        ],
    )
    # Answers, hidden gold and worker scores (the project's rule) as the service reads them.
    crowd = load_project_crowd(session=session, project_id=project.id)
    _check_truth(crowd.answers, truth)
    return GoldSplit(
        answers=crowd.answers, truth=truth, gold_ids=sorted(crowd.gold), scores=crowd.scores
    )


def run_table6(
    *,
    csv_path: Path,
    config: Table6Config | None = None,
    on_step: Callable[[], None] | None = None,
) -> Table6Result:
    """Table 6 for a released-format crowd CSV, loaded through the service layer.

    A temporary SQLite database is migrated to head; for each seed a project is created, the
    CSV is imported as wide answers (examples, workers and answers; ``true_label`` becomes the
    examples' known label), the seed's hidden gold is added, and the answers, gold and worker
    scores are read back through ``app.services.crowd.labels`` before aggregation. The database is
    deleted afterwards.

    Raises:
        ValueError: unreadable CSV, no ``true_label``, bad gold fraction.
        DomainError: the service rejected the file (the message names row and column).
    """
    config = config or Table6Config()
    csv_bytes = Path(csv_path).read_bytes()
    if not csv_bytes.strip():
        raise ValueError(ERR_READ_CSV.format(error="the file is empty"))
    collector = _Collector(config, on_step)
    with tempfile.TemporaryDirectory(prefix="frtrain-table6-") as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'table6.db'}")
        try:
            with engine.begin() as connection:
                upgrade(connection)
            factory = make_session_factory(engine)
            split: GoldSplit | None = None
            for seed in config.seeds:
                with factory() as session:
                    split = _load_split(
                        session,
                        csv_bytes=csv_bytes,
                        csv_name=Path(csv_path).name,
                        config=config,
                        seed=seed,
                    )
                collector.add(split)
        finally:
            engine.dispose()
    assert split is not None  # config guarantees at least one seed
    return collector.result(split.answers, split.truth)
