"""The evidence an admin decides on: per-worker gold right/wrong by class, answer distribution and
the reason for each quality status, plus the project's crowd-quality summary (admin pages).

One small adapter (:func:`quality_summary`) sits between the pages and the worker-quality
service (``labels.worker_quality``, the scores of app/crowd/quality.py), so the pages show what
that service reports: its per-class counts, scores and status reasons where it gives them;
otherwise they are computed here from the stored answers and gold labels with the same rule (a
gold answer is right when ``value > threshold`` matches a +1 label).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Worker
from app.schemas.crowd import WorkerQuality
from app.services.crowd import labels
from app.services.crowd.reports import audit_block

SCALE = (1, 2, 3, 4)
STATUSES = ("trusted", "pending", "filtered", "blocked")  # the order the summary lists them
CLASSES = (1, -1)


@dataclass(frozen=True)
class ClassTally:
    """Gold answers of one true class: how many were answered, how many right, and (when the
    quality service scores classes) the posterior mean accuracy on that class with its interval:
    sensitivity for +1, specificity for -1."""

    label: int
    right: int
    total: int
    posterior: float | None = None
    low: float | None = None
    high: float | None = None

    @property
    def wrong(self) -> int:
        return self.total - self.right

    @property
    def accuracy(self) -> float | None:
        return self.right / self.total if self.total else None


@dataclass(frozen=True)
class WorkerEvidence:
    worker_id: str
    status: str
    reason: str
    n_answers: int
    n_gold: int
    n_correct: int
    accuracy: float | None
    gold_by_class: tuple[ClassTally, ...]
    answer_counts: tuple[int, ...]  # answers of value 1, 2, 3, 4

    @property
    def answer_shares(self) -> tuple[float, ...]:
        total = sum(self.answer_counts)
        return tuple(c / total if total else 0.0 for c in self.answer_counts)


@dataclass(frozen=True)
class QualitySummary:
    workers: list[WorkerEvidence]
    by_status: dict[str, int]
    gold_by_class: tuple[ClassTally, ...]  # the whole crowd's gold answers
    rule: str
    extra: dict[str, Any] = field(default_factory=dict)

    def worker(self, worker_id: str) -> WorkerEvidence | None:
        return next((w for w in self.workers if w.worker_id == worker_id), None)


def _rule_text(rule: dict[str, Any]) -> str:
    prior = f"Beta({rule['prior_alpha']:g}, {rule['prior_beta']:g}) prior"
    if rule.get("credible_level") is None:
        test = f"posterior mean accuracy below {rule['min_accuracy']:g}"
    else:
        test = (
            f"P(accuracy < {rule['min_accuracy']:g}) ≥ {rule['credible_level']:g} "
            "(credibly worse than that)"
        )
    return f"judged after {rule['min_gold']} gold answers; filtered when {test}; {prior}"


def _reason(q: WorkerQuality, rule: dict[str, Any], blocked_reason: str | None) -> str:
    if q.status == "blocked":
        return f"blocked: {blocked_reason}" if blocked_reason else "blocked by an admin"
    if q.status == "pending":
        return f"{q.n_gold} of {rule['min_gold']} gold answers needed to be judged"
    acc = f"{q.n_correct}/{q.n_gold} gold right"
    if q.status == "filtered":
        if rule.get("credible_level") is None:
            return f"{acc}: posterior mean below {rule['min_accuracy']:g}"
        return f"{acc}: credibly below {rule['min_accuracy']:g} accuracy"
    return f"{acc}: not credibly below {rule['min_accuracy']:g} accuracy"


def _service_tallies(q: WorkerQuality) -> tuple[ClassTally, ...] | None:
    """The quality service's own per-class counts and scores, when it reports them."""
    if getattr(q, "n_gold_pos", None) is None:
        return None
    out = []
    for label, side, score in ((1, "pos", "sensitivity"), (-1, "neg", "specificity")):
        out.append(
            ClassTally(
                label=label,
                right=int(getattr(q, f"n_correct_{side}")),
                total=int(getattr(q, f"n_gold_{side}")),
                posterior=getattr(q, score, None),
                low=getattr(q, f"{score}_low", None),
                high=getattr(q, f"{score}_high", None),
            )
        )
    return tuple(out)


def _tallies(frame: pd.DataFrame) -> tuple[ClassTally, ...]:
    return tuple(
        ClassTally(
            label=c,
            right=int(frame.loc[frame["gold"] == c, "right"].sum()),
            total=int((frame["gold"] == c).sum()),
        )
        for c in CLASSES
    )


def quality_summary(*, session: Session, project_id: int) -> QualitySummary:
    """Every worker of the project with status, reason, gold by class and answer distribution."""
    crowd = labels.load_project_crowd(session=session, project_id=project_id)
    project = crowd.project
    rule = project.worker_filter if isinstance(project.worker_filter, dict) else {}
    rule = {
        "min_gold": 5,
        "min_accuracy": 0.5,
        "prior_alpha": 1.0,
        "prior_beta": 1.0,
        "credible_level": 0.95,
        **rule,
    }
    quality = labels.worker_quality(session=session, project_id=project_id)
    answers = crowd.answers
    names = labels._worker_names(session, [int(w) for w in pd.unique(answers["worker_id"])])
    ext = answers["worker_id"].map(names)
    counts = (
        pd.crosstab(ext, answers["value"]).reindex(columns=list(SCALE), fill_value=0)
        if len(answers)
        else pd.DataFrame(columns=list(SCALE))
    )
    dist = {
        str(w): tuple(int(x) for x in row)
        for w, row in zip(counts.index, counts.to_numpy(), strict=True)
    }
    gold = pd.Series(crowd.gold, dtype=np.int64)
    on_gold = answers.loc[answers["example_id"].isin(gold.index)].copy()
    on_gold["worker"] = ext.loc[on_gold.index]
    on_gold["gold"] = on_gold["example_id"].map(gold).astype(np.int64)
    on_gold["right"] = (on_gold["value"] > project.threshold) == (on_gold["gold"] == 1)
    per_worker = {w: _tallies(g) for w, g in on_gold.groupby("worker")}
    blocked = dict(
        session.execute(
            select(Worker.external_id, Worker.blocked_reason).where(
                Worker.external_id.in_([q.worker_id for q in quality if q.status == "blocked"])
            )
        ).all()
    )
    empty = tuple(ClassTally(c, 0, 0) for c in CLASSES)
    workers = [
        WorkerEvidence(
            worker_id=q.worker_id,
            status=q.status,
            reason=getattr(q, "reason", "") or _reason(q, rule, blocked.get(q.worker_id)),
            n_answers=q.n_answers,
            n_gold=q.n_gold,
            n_correct=q.n_correct,
            accuracy=q.accuracy,
            gold_by_class=_service_tallies(q) or per_worker.get(q.worker_id, empty),
            answer_counts=dist.get(q.worker_id, (0,) * len(SCALE)),
        )
        for q in quality
    ]
    by_status = {s: sum(w.status == s for w in workers) for s in STATUSES}
    return QualitySummary(
        workers=workers,
        by_status=by_status,
        gold_by_class=_tallies(on_gold) if len(on_gold) else empty,
        rule=_rule_text(rule),
    )


def bias_audit(*, session: Session, project_id: int) -> dict[str, Any] | None:
    """The crowd bias audit block of the project (``app.services.crowd.reports.audit_block``)."""
    return audit_block(session=session, project_id=project_id)
