"""The review queue of a project (admin pages): submitted assignments grouped by worker, each
group with the worker's evidence (app.services.crowd.summary) and each assignment with its gold
score, answer count and time taken on the task page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Assignment, Hit, HitAssignment
from app.services.crowd import summary as crowd_summary
from app.services.projects import get_project
from app.services.recruiting import review

#: Groups needing a decision first: filtered and pending workers before trusted ones.
_STATUS_ORDER = {"filtered": 0, "pending": 1, "trusted": 2, "blocked": 3}


@dataclass(frozen=True)
class QueueItem:
    assignment_id: str
    hit_id: int
    hit_label: str
    provider: str
    status: str
    confirmation: str  # confirmed by the marketplace, or unconfirmed / discarded (see sync)
    review: str
    mturk_status: str | None
    gold_correct: int | None
    gold_total: int | None
    n_answers: int
    seconds: float | None
    submitted_at: datetime | None
    feedback: str | None
    bonus: float | None

    @property
    def awaiting(self) -> bool:
        return (
            self.review == "pending"
            and self.status == "submitted"
            and self.confirmation == "confirmed"
        )


@dataclass(frozen=True)
class QueueGroup:
    worker_id: str
    evidence: crowd_summary.WorkerEvidence | None
    items: list[QueueItem]

    @property
    def n_awaiting(self) -> int:
        return sum(i.awaiting for i in self.items)

    @property
    def median_seconds(self) -> float | None:
        times = sorted(i.seconds for i in self.items if i.seconds is not None)
        return times[len(times) // 2] if times else None


def hit_label(batch: int, seq: int) -> str:
    """How a HIT is named to people: its batch and its 1-based place in the batch."""
    return f"Batch {batch}, HIT {seq + 1}"


def _aware(ts: datetime | None) -> datetime | None:
    return ts if ts is None or ts.tzinfo is not None else ts.replace(tzinfo=UTC)


def _seconds(opened: datetime | None, submitted: datetime | None) -> float | None:
    # The row is written when the worker opens the task page; assignments first seen by a sync
    # were created after their submit time and have no measured duration.
    start, end = _aware(opened), _aware(submitted)
    if start is None or end is None or end < start:
        return None
    return (end - start).total_seconds()


def review_queue(
    *,
    session: Session,
    project_id: int,
    include_reviewed: bool = False,
    summary: crowd_summary.QualitySummary | None = None,
) -> list[QueueGroup]:
    """Submitted assignments of the project by worker (awaiting review only, unless
    ``include_reviewed``); groups needing decisions first."""
    get_project(session=session, project_id=project_id)
    rows = session.execute(
        select(HitAssignment, Assignment, Hit)
        .join(Assignment, Assignment.id == HitAssignment.assignment_id)
        .join(Hit, Hit.id == HitAssignment.hit_id)
        .where(Hit.project_id == project_id, Assignment.status != "accepted")
        .order_by(Assignment.id)
    ).all()
    counts = review._answer_counts(session, [a.id for _, a, _ in rows])
    items: dict[str, list[QueueItem]] = {}
    for ha, a, hit in rows:
        item = QueueItem(
            assignment_id=a.external_id or "",
            hit_id=hit.id,
            hit_label=hit_label(hit.batch, hit.seq),
            provider=hit.provider,
            status=a.status,
            confirmation=a.confirmation,
            review=ha.review,
            mturk_status=ha.mturk_status,
            gold_correct=ha.gold_correct,
            gold_total=ha.gold_total,
            n_answers=counts.get((a.id, True), 0),
            seconds=_seconds(ha.created_at, a.submitted_at),
            submitted_at=_aware(a.submitted_at),
            feedback=ha.feedback,
            bonus=ha.bonus,
        )
        # By default: what can be decided now, plus submissions the marketplace has yet to
        # confirm (shown so they are not missed; a sync confirms or discards them).
        if include_reviewed or item.awaiting or item.confirmation == "unconfirmed":
            items.setdefault(ha.worker_external_id, []).append(item)
    if summary is None:
        summary = crowd_summary.quality_summary(session=session, project_id=project_id)
    groups = [QueueGroup(w, summary.worker(w), its) for w, its in items.items()]
    groups.sort(
        key=lambda g: (
            g.n_awaiting == 0,
            _STATUS_ORDER.get(g.evidence.status if g.evidence else "pending", 1),
            g.worker_id,
        )
    )
    return groups


def submitted_ids(
    *, session: Session, project_id: int, worker: str | None = None, awaiting: bool = False
) -> list[str]:
    """External ids of the project's submitted assignments (of one worker; awaiting review)."""
    query = (
        select(Assignment.external_id)
        .join(HitAssignment, HitAssignment.assignment_id == Assignment.id)
        .where(Assignment.project_id == project_id, Assignment.status != "accepted")
        .where(Assignment.external_id.is_not(None))
        .order_by(Assignment.id)
    )
    if worker is not None:
        query = query.where(HitAssignment.worker_external_id == worker)
    if awaiting:
        query = query.where(
            HitAssignment.review == "pending",
            Assignment.status == "submitted",
            Assignment.confirmation == "confirmed",
        )
    return [str(a) for a in session.scalars(query)]
