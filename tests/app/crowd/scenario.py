"""The 25-worker requester scenario: good, medium and weak honest workers, random clickers, a
worker who answers "1" to everything and an adversarial one; 40 gold items, 75% negative."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: kind -> (number of workers, probability of a right binary answer; None = not honest)
KINDS: dict[str, tuple[int, float | None]] = {
    "good": (10, 0.85),
    "medium": (9, 0.7),
    "weak": (2, 0.6),
    "random": (2, None),
    "constant": (1, None),
    "adversarial": (1, 0.2),
}
#: Honest workers the filter must keep; "weak" (60% right) is honest but nearly uninformative.
HONEST = ("good", "medium")
BAD = ("random", "constant", "adversarial")


@dataclass(frozen=True)
class Scenario:
    answers: pd.DataFrame  # example_id, worker_id, value, submitted_at, hit
    gold: dict[str, int]
    truth: dict[str, int]
    kind: dict[str, str]


def make_scenario(
    seed: int = 0,
    *,
    n_tasks: int = 300,
    n_gold: int = 40,
    gold_negative: float = 0.75,
    per_hit: int = 10,
    gold_per_hit: int = 3,
    workers_per_hit: int = 7,
) -> Scenario:
    """HITs of ``per_hit`` task items plus ``gold_per_hit`` gold items, each answered by
    ``workers_per_hit`` workers drawn at random; answers are submitted HIT by HIT."""
    rng = np.random.default_rng(seed)
    n_neg = round(n_gold * gold_negative)
    gold = {f"g{i}": (-1 if i < n_neg else 1) for i in range(n_gold)}
    tasks = {f"t{i}": int(rng.choice([-1, 1])) for i in range(n_tasks)}
    truth = {**tasks, **gold}
    kind: dict[str, str] = {}
    accuracy: dict[str, float | None] = {}
    for name, (count, p) in KINDS.items():
        for j in range(count):
            worker = f"{name}{j}"
            kind[worker], accuracy[worker] = name, p
    workers = list(kind)
    task_ids, gold_ids = list(tasks), list(gold)
    rows = []
    t = 0
    for h, start in enumerate(range(0, n_tasks, per_hit)):
        items = task_ids[start : start + per_hit]
        items += list(rng.choice(gold_ids, size=gold_per_hit, replace=False))
        for worker in rng.choice(workers, size=workers_per_hit, replace=False):
            for example in items:
                rows.append(
                    {
                        "example_id": example,
                        "worker_id": str(worker),
                        "value": _answer(rng, kind[worker], accuracy[worker], truth[example]),
                        "submitted_at": t,
                        "hit": h,
                    }
                )
                t += 1
    return Scenario(answers=pd.DataFrame(rows), gold=gold, truth=truth, kind=kind)


def _answer(rng: np.random.Generator, kind: str, p: float | None, label: int) -> int:
    if kind == "random":
        return int(rng.integers(1, 5))
    if kind == "constant":
        return 1
    assert p is not None
    positive = (label > 0) == (rng.random() < p)
    return int(rng.choice([3, 4]) if positive else rng.choice([1, 2]))
