"""Sync (issue 4 §5): pull submitted assignments from MTurk, upsert their answers, score workers,
then apply the review policy.

The same answers may arrive twice, from the task page and from MTurk's ``QuestionFormAnswers``:
answers are keyed by (assignment, example) and only missing ones are inserted, with MTurk's
``SubmitTime``, so a sync after the page stored everything adds nothing and a sync after a lost
page write restores the answers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.errors import NotFound
from app.models import Answer, Assignment, GoldQuestion, Hit, HitAssignment, Project
from app.services import ledger, publishing, review
from app.services.providers import mturk_client
from app.services.task_page import ANSWER_FIELD, worker_row

log = logging.getLogger(__name__)
_STATUS = {"Submitted": "submitted", "Approved": "approved", "Rejected": "rejected"}


@dataclass
class SyncResult:
    hits: int = 0
    assignments_seen: int = 0
    assignments_new: int = 0
    answers_new: int = 0
    answers_invalid: int = 0
    workers: int = 0
    workers_excluded: int = 0
    review: review.ReviewResult | None = None
    problems: list[str] = field(default_factory=list)
    #: qualification grants changed (app.services.exclusion)
    exclusions_changed: int = 0
    #: opened-but-abandoned assignments released after their duration
    abandoned_released: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "hits": self.hits,
            "assignments_seen": self.assignments_seen,
            "assignments_new": self.assignments_new,
            "answers_new": self.answers_new,
            "answers_invalid": self.answers_invalid,
            "workers": self.workers,
            "workers_excluded": self.workers_excluded,
            "review": self.review.to_json() if self.review else None,
            "problems": self.problems,
            "exclusions_changed": self.exclusions_changed,
            "abandoned_released": self.abandoned_released,
        }


def _values(answer_xml: str | None, allowed: set[int], out: SyncResult) -> dict[int, int]:
    from app.mturk.xml import QuestionXMLError, parse_answers

    if not answer_xml:
        return {}
    try:
        fields = parse_answers(answer_xml).multi()
    except QuestionXMLError as exc:
        out.answers_invalid += 1
        out.problems.append(f"unreadable answer XML: {exc}")
        return {}
    values: dict[int, int] = {}
    for ex in allowed:
        given = fields.get(ANSWER_FIELD.format(ex))
        if not given:
            continue
        if given[0] in ("1", "2", "3", "4"):
            values[ex] = int(given[0])
        else:
            out.answers_invalid += 1
    return values


def _upsert(
    session: Session, hit: Hit, project: Project, a: dict[str, Any], out: SyncResult
) -> None:
    aid = str(a["AssignmentId"])
    worker_ext = str(a["WorkerId"])
    status = str(a.get("AssignmentStatus", "Submitted"))
    submit_time = a.get("SubmitTime")
    when = submit_time if isinstance(submit_time, datetime) else datetime.now(UTC)
    assignment = session.scalar(select(Assignment).where(Assignment.external_id == aid))
    if assignment is None:
        worker = worker_row(session, worker_ext)
        assignment = Assignment(
            project_id=hit.project_id,
            worker_id=worker.id,
            external_id=aid,
            status="accepted",
            source="mturk",
        )
        session.add(assignment)
        session.flush()
        session.add(
            HitAssignment(assignment_id=assignment.id, hit_id=hit.id, worker_external_id=worker_ext)
        )
        session.flush()
        out.assignments_new += 1
    ha = session.get(HitAssignment, assignment.id)
    if ha is None or ha.hit_id != hit.id or ha.worker_external_id != worker_ext:
        out.problems.append(f"assignment {aid} does not match its HIT or worker; skipped")
        return
    ids = {int(i["example_id"]) for i in hit.items if i["role"] in ("task", "gold")}
    values = _values(a.get("Answer"), ids, out)
    have = set(
        session.scalars(
            select(Answer.example_id).where(
                Answer.project_id == hit.project_id,
                Answer.worker_id == assignment.worker_id,
                Answer.example_id.in_(list(ids)),
            )
        )
    )
    new = [
        Answer(
            project_id=hit.project_id,
            example_id=e,
            worker_id=assignment.worker_id,
            assignment_id=assignment.id,
            value=v,
            source="mturk",
            submitted_at=when,
        )
        for e, v in values.items()
        if e not in have
    ]
    session.add_all(new)
    out.answers_new += len(new)
    if assignment.status == "accepted":
        assignment.status = "submitted"
        assignment.submitted_at = when
        ha.submitted_via = "sync"
        gold = dict(
            session.execute(
                select(GoldQuestion.example_id, GoldQuestion.label).where(
                    GoldQuestion.project_id == project.id,
                    GoldQuestion.kind == "hidden_check",
                    GoldQuestion.example_id.in_(list(ids)),
                )
            ).all()
        )
        scored = {e: lbl for e, lbl in gold.items() if e in values}
        ha.gold_total = len(scored)
        ha.gold_correct = sum(
            (values[e] > project.threshold) == (int(lbl) == 1) for e, lbl in scored.items()
        )
    ha.mturk_status = status
    if status in ("Approved", "Rejected") and ha.review == "pending":
        # Decided on MTurk (auto-approval, or the requester website): record it here too.
        assignment.status = _STATUS[status]
        ha.review = _STATUS[status]
        ha.reviewed_at = datetime.now(UTC)
        cost = review.assignment_cost(hit)
        kind, amount = ("paid", cost) if status == "Approved" else ("release", -cost)
        ledger.record(
            session,
            project_id=project.id,
            hit_id=hit.id,
            kind=kind,
            amount=amount,
            key=f"{kind}:{aid}",
            note=f"{status.lower()} on MTurk",
        )


def sync_project(
    session: Session,
    settings: Settings,
    project_id: int,
    *,
    apply_review: bool = True,
    mt: Any = None,
) -> SyncResult:
    """Pull every published MTurk HIT's assignments (paginated), upsert, score, review."""
    from app.crowd import excluded_workers
    from app.services.labels import load_project_crowd

    project = session.get(Project, project_id)
    if project is None:
        raise NotFound(f"project {project_id} does not exist")
    out = SyncResult()
    from app.services import exclusion

    out.abandoned_released = exclusion.release_abandoned(session, project.id)
    hits = list(
        session.scalars(
            select(Hit)
            .where(Hit.project_id == project.id, Hit.state == "published", Hit.provider == "mturk")
            .order_by(Hit.id)
        )
    )
    if hits:
        mt = mt or mturk_client(settings, project)
    for hit in hits:
        assert hit.mturk_hit_id is not None
        with publishing.explain_mturk("ListAssignmentsForHIT"):
            publishing.refresh_hit(session, settings, hit, mt=mt)
            assignments = list(mt.iter_assignments(hit.mturk_hit_id))
        for a in assignments:
            out.assignments_seen += 1
            _upsert(session, hit, project, a, out)
        hit.synced_at = datetime.now(UTC)
        session.commit()
        out.hits += 1
    crowd = load_project_crowd(session, project.id)
    out.workers = len(crowd.scores)
    out.workers_excluded = len(excluded_workers(crowd.scores))
    if apply_review:
        out.review = review.apply_policy(session, settings, project.id, mt=mt)
    if hits:
        with publishing.explain_mturk("AssociateQualificationWithWorker"):
            out.exclusions_changed = exclusion.refresh(session, mt, project)
    for problem in out.problems:
        log.warning("sync project %s: %s", project.id, problem)
    return out
