"""Reviewing assignments: approve / reject / bonus / block, each idempotent on retry.

MTurk is called first and the database second; a retried review finds MTurk already in the wanted
state (``ensure_approved`` / ``ensure_rejected`` read it back), bonuses carry a deterministic
``UniqueRequestToken``, and ledger entries are keyed, so a retry never pays twice.

The policy (``publishing.review_policy``, typed in ``app.schemas.review.ReviewPolicy``) decides
on the worker's whole record in the project, never on one HIT's few gold items
(``app.crowd.review_rules``): approve, reject with feedback (+ block), or hold while the
evidence is insufficient and approve before the marketplace's auto-approval delay runs out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.errors import Conflict, InvalidInput, NotFound
from app.crowd import review_rules as rules
from app.models import Answer, Assignment, Hit, HitAssignment, Project, Worker
from app.mturk.client import MTurkClient
from app.schemas.hits import AssignmentPublic
from app.services import ledger, recruiting
from app.services.crowd import submissions
from app.services.crowd.labels import load_project_crowd
from app.services.publishing import get_hit, hit_options, review_policy
from app.services.recruiting.links import completion_code

PENDING_STATUS = "pending"


@dataclass
class ReviewResult:
    approved: int = 0
    rejected: int = 0
    bonuses: int = 0
    blocked: list[str] = field(default_factory=list)
    held: int = 0
    #: one entry per assignment decided (or held), with its reason and evidence
    decisions: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "approved": self.approved,
            "rejected": self.rejected,
            "bonuses": self.bonuses,
            "blocked": self.blocked,
            "held": self.held,
            "decisions": self.decisions,
        }


@dataclass
class _Ctx:
    assignment: Assignment
    ha: HitAssignment
    hit: Hit
    project: Project


def _ctx(session: Session, assignment_id: str) -> _Ctx:
    assignment = session.scalar(select(Assignment).where(Assignment.external_id == assignment_id))
    ha = session.get(HitAssignment, assignment.id) if assignment is not None else None
    if assignment is None or ha is None:
        raise NotFound(f"assignment {assignment_id} is not known here (run a sync first)")
    hit = session.get(Hit, ha.hit_id)
    project = session.get(Project, assignment.project_id)
    assert hit is not None and project is not None
    return _Ctx(assignment, ha, hit, project)


def assignment_views(*, session: Session, hit_id: int) -> list[AssignmentPublic]:
    """The assignments of one HIT (404 if the HIT does not exist), oldest first."""
    get_hit(session=session, hit_id=hit_id)
    rows = session.execute(
        select(HitAssignment, Assignment)
        .join(Assignment, Assignment.id == HitAssignment.assignment_id)
        .where(HitAssignment.hit_id == hit_id)
        .order_by(Assignment.id)
    ).all()
    counts = _answer_counts(session, [a.id for _, a in rows])
    return [_assignment_view(a, ha, counts) for ha, a in rows]


def assignment_view(*, session: Session, assignment_id: str) -> AssignmentPublic:
    """One assignment by its external id, as reviewed so far."""
    assignment = session.scalar(select(Assignment).where(Assignment.external_id == assignment_id))
    if assignment is None:
        raise NotFound(f"assignment {assignment_id} is not known here")
    ha = session.get(HitAssignment, assignment.id)
    assert ha is not None
    counts = _answer_counts(session, [assignment.id])
    return _assignment_view(assignment, ha, counts)


def _answer_counts(session: Session, assignment_ids: list[int]) -> dict[tuple[int, bool], int]:
    """(assignment, confirmed) -> number of stored answers."""
    return {
        (int(a or 0), bool(c)): int(n)
        for a, c, n in session.execute(
            select(Answer.assignment_id, Answer.confirmed, func.count())
            .where(Answer.assignment_id.in_(assignment_ids))
            .group_by(Answer.assignment_id, Answer.confirmed)
        ).all()
    }


def _assignment_view(
    a: Assignment, ha: HitAssignment, counts: dict[tuple[int, bool], int]
) -> AssignmentPublic:
    return AssignmentPublic(
        assignment_id=a.external_id or "",
        worker_id=ha.worker_external_id,
        status=a.status,
        mturk_status=ha.mturk_status,
        review=ha.review,
        feedback=ha.feedback,
        gold_correct=ha.gold_correct,
        gold_total=ha.gold_total,
        bonus=ha.bonus,
        submitted_via=ha.submitted_via,
        confirmation=a.confirmation,
        n_answers=counts.get((a.id, True), 0),
        n_unconfirmed_answers=counts.get((a.id, False), 0),
        submitted_at=a.submitted_at,
        review_evidence=ha.review_evidence,
    )


def find_completion(
    *, session: Session, settings: Settings, project_id: int, code: str
) -> tuple[str, str]:
    """The submitted link assignment (and its worker) that a completion code belongs to."""
    rows = session.execute(
        select(Assignment.external_id, HitAssignment.worker_external_id)
        .join(HitAssignment, HitAssignment.assignment_id == Assignment.id)
        .where(
            Assignment.project_id == project_id,
            Assignment.source == "link",
            Assignment.status != "accepted",
        )
    ).all()
    for aid, worker in rows:
        if aid and completion_code(settings, aid) == code:
            return aid, worker
    raise NotFound("no submitted assignment of this project has that completion code")


def _require_submitted(c: _Ctx) -> None:
    if c.assignment.confirmation != "confirmed":
        raise Conflict(
            f"assignment {c.assignment.external_id} is {c.assignment.confirmation}: the "
            "marketplace has not confirmed it for this HIT and worker, so it cannot be reviewed "
            "or paid (run a sync)"
        )
    if c.assignment.status == "accepted":
        raise Conflict(
            f"assignment {c.assignment.external_id} is still in progress; it can be reviewed "
            "once it is Submitted"
        )


def approve(
    *,
    session: Session,
    settings: Settings,
    assignment_id: str,
    feedback: str | None = None,
    override_rejection: bool = False,
    mt: MTurkClient | None = None,
) -> Assignment:
    """Approve (pays reward + fee). Already approved: nothing happens (idempotent)."""
    c = _ctx(session, assignment_id)
    _require_submitted(c)
    if c.assignment.status == "approved":
        return c.assignment
    if c.assignment.status == "rejected" and not override_rejection:
        raise Conflict(
            f"assignment {assignment_id} was rejected; pass override_rejection=true to approve it "
            "(MTurk allows this within 30 days of submission)",
            allowed_when="Rejected assignments can be approved with override_rejection=true",
        )
    c.ha.mturk_status = _recruiter(c.hit).approve(
        session,
        settings,
        c.hit,
        assignment_id,
        feedback=feedback,
        override_rejection=override_rejection and c.assignment.status == "rejected",
        client=mt,
    )
    submissions.record_decision(
        session=session,
        hit=c.hit,
        assignment=c.assignment,
        ha=c.ha,
        verdict="approved",
        note="reward + fee",
        feedback=feedback,
    )
    session.commit()
    return c.assignment


def reject(
    *,
    session: Session,
    settings: Settings,
    assignment_id: str,
    feedback: str,
    mt: MTurkClient | None = None,
) -> Assignment:
    """Reject with feedback (the worker is not paid). Already rejected: nothing happens."""
    if not feedback or not feedback.strip():
        raise InvalidInput("a rejection needs feedback telling the worker why")
    c = _ctx(session, assignment_id)
    _require_submitted(c)
    if c.assignment.status == "rejected":
        return c.assignment
    if c.assignment.status == "approved":
        raise Conflict(
            f"assignment {assignment_id} is already approved; it cannot be rejected",
            allowed_when="an assignment can be rejected only while Submitted",
        )
    c.ha.mturk_status = _recruiter(c.hit).reject(
        session, settings, c.hit, assignment_id, feedback, client=mt
    )
    submissions.record_decision(
        session=session,
        hit=c.hit,
        assignment=c.assignment,
        ha=c.ha,
        verdict="rejected",
        note="rejected: not paid",
        feedback=feedback,
    )
    session.commit()
    return c.assignment


def bonus(
    *,
    session: Session,
    settings: Settings,
    assignment_id: str,
    amount: str,
    reason: str,
    mt: MTurkClient | None = None,
) -> Assignment:
    """Pay a bonus once per assignment and amount (retries add nothing)."""
    try:
        value = ledger.money(amount)
    except ArithmeticError:
        raise InvalidInput(f"bonus amount {amount!r} is not a dollar amount") from None
    if value < ledger.CENT or value > Decimal("100"):
        raise InvalidInput("a bonus must be between $0.01 and $100.00")
    if not reason.strip():
        raise InvalidInput("a bonus needs a reason the worker will read")
    c = _ctx(session, assignment_id)
    _require_submitted(c)
    recruiter = _recruiter(c.hit)
    assert c.assignment.external_id is not None
    key = recruiter.bonus_key(c.assignment.external_id, value)
    if ledger.record_exists(session=session, key=key):
        return c.assignment
    estimate = recruiter.hit_cost(value, 1).per_assignment
    ledger.check_budget(
        session=session,
        project_id=c.project.id,
        cap=c.project.budget_cap,
        extra=estimate,
        what="this bonus",
    )
    cost, note = recruiter.bonus(
        session,
        settings,
        c.hit,
        c.assignment.external_id,
        value,
        reason,
        worker_id=c.ha.worker_external_id,
        client=mt,
    )
    c.ha.bonus = float(value + Decimal(str(c.ha.bonus or 0)))
    ledger.record(
        session=session,
        project_id=c.project.id,
        hit_id=c.hit.id,
        kind="bonus",
        amount=cost,
        key=key,
        note=note,
    )
    session.commit()
    return c.assignment


def _recruiter(hit: Hit) -> recruiting.RecruitingProvider:
    return recruiting.get(hit.provider)


def set_block(
    *,
    session: Session,
    settings: Settings,
    worker_id: str,
    blocked: bool,
    reason: str = "",
    project_id: int | None = None,
    mt: MTurkClient | None = None,
) -> Worker:
    """Block (MTurk CreateWorkerBlock + excluded from aggregation) or unblock a worker."""
    worker = session.scalar(select(Worker).where(Worker.external_id == worker_id))
    if worker is None:
        raise NotFound(f"worker {worker_id} is not known here")
    if blocked and not reason.strip():
        raise InvalidInput("a block needs a reason")
    recruiting.for_worker(worker_id).block(
        session,
        settings,
        worker,
        blocked=blocked,
        reason=reason,
        project_id=project_id,
        client=mt,
    )
    worker.blocked = blocked
    worker.blocked_reason = reason if blocked else None
    session.commit()
    return worker


def _records(session: Session, project_id: int) -> tuple[dict[str, rules.WorkerRecord], bool]:
    """Every worker's whole record in the project (status from the project-wide scores, gold
    answers summed over submitted assignments, distinct HITs), and whether it has gold."""
    data = load_project_crowd(session=session, project_id=project_id)
    scores = data.scores
    by_id = {int(r["worker_id"]): r for r in scores.to_dict("records")}
    names = dict(
        session.execute(
            select(Worker.id, Worker.external_id).where(Worker.id.in_(list(by_id) or [-1]))
        ).all()
    )
    status = {
        names[k]: (str(v["status"]), str(v["reason"])) for k, v in by_id.items() if k in names
    }
    rows = session.execute(
        select(
            HitAssignment.worker_external_id,
            HitAssignment.hit_id,
            HitAssignment.gold_correct,
            HitAssignment.gold_total,
        )
        .join(Hit, Hit.id == HitAssignment.hit_id)
        .where(Hit.project_id == project_id, HitAssignment.submitted_via.is_not(None))
    ).all()
    acc: dict[str, list[Any]] = {}
    for worker, hit_id, correct, total in rows:
        entry = acc.setdefault(worker, [0, 0, set(), 0])
        entry[0] += int(correct or 0)
        entry[1] += int(total or 0)
        if total:
            entry[2].add(hit_id)
        entry[3] += 1
    blocked = set(session.scalars(select(Worker.external_id).where(Worker.blocked.is_(True))))
    out: dict[str, rules.WorkerRecord] = {}
    for worker, (correct, total, hits, n) in acc.items():
        st, why = status.get(worker, (PENDING_STATUS, "no answers scored yet"))
        if worker in blocked:
            st, why = "blocked", "blocked by an admin"
        out[worker] = rules.WorkerRecord(worker, st, why, correct, total, len(hits), n)
    return out, bool(data.gold)


def record_policy(policy: dict[str, Any]) -> rules.RecordPolicy:
    """The decision keys of a stored review policy (``app.schemas.review.ReviewPolicy``)."""
    keys = {f for f in rules.RecordPolicy.__dataclass_fields__}
    return rules.RecordPolicy(**{k: v for k, v in policy.items() if k in keys})


def apply_policy(
    *,
    session: Session,
    settings: Settings,
    project_id: int,
    mt: MTurkClient | None = None,
    now: datetime | None = None,
) -> ReviewResult:
    """Review every submitted, unreviewed assignment of the project on its worker's whole
    record (``app.crowd.review_rules``): approve, reject (+ block), or hold while the evidence is
    insufficient, approving before the auto-approval deadline; each decision's evidence is
    stored on the assignment (``review_evidence``) and returned."""
    policy = review_policy(session=session, project_id=project_id)
    rule = record_policy(policy)
    project = session.get(Project, project_id)
    if project is None:
        raise NotFound(f"project {project_id} does not exist")
    now = now or datetime.now(UTC)
    delay = int(hit_options(session=session, project_id=project_id)["auto_approval_delay_seconds"])
    rows = session.execute(
        select(HitAssignment, Hit.provider)
        .join(Hit, Hit.id == HitAssignment.hit_id)
        .join(Assignment, Assignment.id == HitAssignment.assignment_id)
        .where(
            Hit.project_id == project_id,
            HitAssignment.review == "pending",
            HitAssignment.submitted_via.is_not(None),
            Assignment.confirmation == "confirmed",
        )
        .order_by(HitAssignment.assignment_id)
    ).all()
    out = ReviewResult()
    if not rows:
        return out
    records, has_gold = _records(session, project_id)
    client = mt
    for ha, provider in rows:
        recruiter = recruiting.get(provider)
        if not recruiter.ready_for_review(ha):
            continue  # the marketplace has not seen the submission yet (sync again later)
        if client is None:
            client = recruiter.client(settings, project)
        assignment = session.get(Assignment, ha.assignment_id)
        assert assignment is not None and assignment.external_id is not None
        aid = assignment.external_id
        record = records.get(ha.worker_external_id) or rules.WorkerRecord(
            ha.worker_external_id, PENDING_STATUS, "no record", 0, 0, 0, 1
        )
        submitted = assignment.submitted_at or ha.created_at or now
        if submitted.tzinfo is None:
            submitted = submitted.replace(tzinfo=UTC)
        decision = rules.decide(
            record,
            rule,
            submitted_at=submitted,
            auto_approval_delay_seconds=delay,
            now=now,
            project_has_gold=has_gold,
        )
        ha.review_evidence = {
            "decision": decision.action,
            "reason": decision.reason,
            "decided_at": now.isoformat(),
            **decision.evidence,
        }
        out.decisions.append({"assignment_id": aid, **ha.review_evidence})
        if decision.action == rules.HOLD:
            out.held += 1
            session.commit()
            continue
        if decision.action == rules.REJECT:
            reject(
                session=session,
                settings=settings,
                assignment_id=aid,
                feedback=str(policy["reject_feedback"]),
                mt=client,
            )
            out.rejected += 1
        else:
            approve(session=session, settings=settings, assignment_id=aid, mt=client)
            out.approved += 1
            if decision.bonus and recruiter.policy_bonus:
                bonus(
                    session=session,
                    settings=settings,
                    assignment_id=aid,
                    amount=str(policy["bonus_amount"]),
                    reason=str(policy["bonus_reason"]),
                    mt=client,
                )
                out.bonuses += 1
        if decision.block:
            worker = session.get(Worker, assignment.worker_id)
            if worker is not None and not worker.blocked:
                set_block(
                    session=session,
                    settings=settings,
                    worker_id=worker.external_id,
                    blocked=True,
                    reason=f"whole-record review: {decision.reason}"[:1000],
                    project_id=project_id,
                    mt=client,
                )
                out.blocked.append(worker.external_id)
    return out
