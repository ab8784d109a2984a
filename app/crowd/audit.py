"""Crowd bias audit: are the "clean" crowd labels themselves skewed against a group?

For each value of a sensitive attribute of the examples (pure; no I/O):

* ``label_accuracy``: share of the group's examples whose crowd label equals the known label
  (only examples with a known label count; ``None`` when the group has none);
* ``crowd_positive_rate`` vs ``known_positive_rate``: share of crowd labels +1 against the share
  of known labels +1 on the same examples, and their difference ``positive_rate_gap`` (crowd
  minus known: > 0 means the crowd labels the group positive more often than the truth does);
* ``false_positive_rate`` / ``false_negative_rate`` of the crowd labels on the group;
* per worker and group: answers, mean answer and the share of positive answers (> threshold),
  and the worker's gap in positive share between the most and least positively answered group
  (only groups where the worker gave at least ``min_answers`` answers).

A fairness tool trains on these labels as if they were clean; a crowd that over-labels one
group positive would pass its bias on as "ground truth".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from app.crowd._table import DEFAULT_THRESHOLD, validate_answers

MIN_WORKER_ANSWERS = 5


@dataclass
class GroupAudit:
    group: str
    n_examples: int
    n_known: int
    label_accuracy: float | None
    crowd_positive_rate: float | None
    known_positive_rate: float | None
    positive_rate_gap: float | None
    false_positive_rate: float | None
    false_negative_rate: float | None
    mean_answer: float | None


@dataclass
class WorkerGroupAudit:
    worker_id: Any
    group: str
    n_answers: int
    mean_answer: float
    positive_share: float


@dataclass
class AuditResult:
    column: str
    groups: list[GroupAudit]
    workers: list[WorkerGroupAudit]
    worker_gaps: dict[Any, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        gaps = np.asarray(list(self.worker_gaps.values()), dtype=np.float64)
        return {
            "column": self.column,
            "groups": [g.__dict__ for g in self.groups],
            "workers": [{**w.__dict__, "worker_id": _plain(w.worker_id)} for w in self.workers],
            "worker_positive_share_gap": {
                "n_workers": len(gaps),
                "median": float(np.median(gaps)) if len(gaps) else None,
                "max": float(gaps.max()) if len(gaps) else None,
                "per_worker": {str(_plain(k)): v for k, v in self.worker_gaps.items()},
            },
        }


def _plain(value: Any) -> Any:
    item = getattr(value, "item", None)
    return item() if callable(item) else value


def _rate(mask: np.ndarray) -> float | None:
    return float(mask.mean()) if len(mask) else None


def audit(
    answers: pd.DataFrame,
    labels: pd.DataFrame,
    groups: Mapping[Any, Any],
    known: Mapping[Any, int] | None = None,
    *,
    column: str = "group",
    threshold: float = DEFAULT_THRESHOLD,
    min_answers: int = MIN_WORKER_ANSWERS,
) -> AuditResult:
    """Audit crowd ``labels`` (an ``aggregate`` result) per group of the examples.

    Args:
        answers: the long answer table the labels came from.
        labels: ``example_id, label`` (+1 / -1) per example.
        groups: example id -> the example's sensitive value (examples without one are skipped).
        known: example id -> known label (+1 / -1), where known.
        column: the sensitive attribute's name, for the report.
    """
    table = validate_answers(answers)
    known = dict(known or {})
    group_of = pd.Series({k: str(v) for k, v in groups.items() if v is not None}, dtype=object)
    lab = labels.set_index("example_id")["label"]
    out_groups: list[GroupAudit] = []
    value_by_example = table.groupby("example_id")["value"].mean()
    for name in sorted(group_of.unique()):
        ids = group_of.index[group_of == name]
        have = [e for e in ids if e in lab.index]
        crowd = np.array([lab[e] for e in have], dtype=np.int64)
        truth_ids = [e for e in have if known.get(e) in (1, -1)]
        c = np.array([lab[e] for e in truth_ids], dtype=np.int64)
        t = np.array([known[e] for e in truth_ids], dtype=np.int64)
        means = value_by_example.reindex(have).dropna()
        crowd_rate = _rate(c > 0) if len(t) else _rate(crowd > 0)
        known_rate = _rate(t > 0)
        out_groups.append(
            GroupAudit(
                group=name,
                n_examples=len(have),
                n_known=len(t),
                label_accuracy=_rate(c == t),
                crowd_positive_rate=crowd_rate,
                known_positive_rate=known_rate,
                positive_rate_gap=(
                    None if known_rate is None or crowd_rate is None else crowd_rate - known_rate
                ),
                false_positive_rate=_rate(c[t < 0] > 0) if (t < 0).any() else None,
                false_negative_rate=_rate(c[t > 0] < 0) if (t > 0).any() else None,
                mean_answer=float(means.mean()) if len(means) else None,
            )
        )
    ex_group = group_of.reindex(pd.Index(table["example_id"].to_numpy(), dtype=object))
    frame = pd.DataFrame(
        {
            "worker_id": table["worker_id"].to_numpy(),
            "group": ex_group.to_numpy(),
            "value": table["value"].to_numpy(dtype=np.float64),
        }
    ).dropna(subset=["group"])
    frame["positive"] = frame["value"] > threshold
    stats = frame.groupby(["worker_id", "group"], sort=True).agg(
        n_answers=("value", "size"),
        mean_answer=("value", "mean"),
        positive_share=("positive", "mean"),
    )
    flat = stats.reset_index()
    workers = [
        WorkerGroupAudit(
            worker_id=rec["worker_id"],
            group=str(rec["group"]),
            n_answers=int(rec["n_answers"]),
            mean_answer=float(rec["mean_answer"]),
            positive_share=float(rec["positive_share"]),
        )
        for rec in flat.to_dict("records")
    ]
    enough = stats[stats["n_answers"] >= min_answers]
    gaps: dict[Any, float] = {}
    for worker, sub in enough.groupby(level=0):
        if len(sub) >= 2:
            gaps[worker] = float(sub["positive_share"].max() - sub["positive_share"].min())
    return AuditResult(column=column, groups=out_groups, workers=workers, worker_gaps=gaps)
