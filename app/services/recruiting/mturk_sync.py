"""MTurk's side of a sync: pull each published HIT's assignments (paginated), confirm or discard
what the task page stored, and record answers and decisions through app.services.crowd.submissions.

The same answers may arrive twice, from the task page and from MTurk's ``QuestionFormAnswers``:
answers are keyed by (assignment, example) and only missing ones are inserted, with MTurk's
``SubmitTime``, so a sync after the page stored everything adds nothing and a sync after a lost
page write restores the answers.

Confirmation (docs/MTURK.md §4 "Trust"): an assignment the task page stored unconfirmed is
confirmed when ``ListAssignmentsForHIT`` returns it for the same HIT and worker; then its answers
count (the rule is app.services.crowd.submissions ``confirm``; this module reads MTurk's listing
into ``submissions.Listed``). It is discarded (answers deleted, the id refused from then on) when
MTurk contradicts it (another worker or HIT), or does not list it although it cannot be in
progress there: the HIT had no pending assignment when sync asked (``GetHIT`` before
``ListAssignmentsForHIT``), or the assignment is older than the HIT's assignment duration (MTurk
would have abandoned it). Otherwise it stays unconfirmed (a worker between our submit and MTurk's
externalSubmit) until a later sync.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.models import Answer, Assignment, Hit, HitAssignment, Project
from app.mturk.client import MTurkClient
from app.mturk.rules import explain_mturk
from app.mturk.xml import QuestionXMLError, parse_answers
from app.services import publishing
from app.services.crowd import submissions
from app.services.recruiting import exclusion, links, mturk_publish
from app.services.task.page import worker_row
from app.services.task.questions import answer_fields

if TYPE_CHECKING:
    from app.services.recruiting.sync import SyncResult


def sync_hits(
    *,
    session: Session,
    settings: Settings,
    project: Project,
    out: SyncResult,
    mt: MTurkClient | None = None,
) -> MTurkClient | None:
    """Sync every published MTurk HIT of the project; returns the client used (or ``mt``)."""
    hits = list(
        session.scalars(
            select(Hit)
            .where(Hit.project_id == project.id, Hit.state == "published", Hit.provider == "mturk")
            .order_by(Hit.id)
        )
    )
    if hits:
        mt = mt or links.mturk_client(settings, project)
    duration_s = int(
        publishing.hit_options(session=session, project_id=project.id)[
            "assignment_duration_seconds"
        ]
    )
    for hit in hits:
        assert hit.mturk_hit_id is not None and mt is not None
        asked_at = datetime.now(UTC)
        with explain_mturk("ListAssignmentsForHIT"):
            mturk_publish.refresh(session=session, settings=settings, row=hit, mt=mt)
            assignments = list(mt.iter_assignments(hit.mturk_hit_id))
        for a in assignments:
            out.assignments_seen += 1
            _upsert(session, settings, hit, project, a, out)
        session.flush()
        listed = {str(a["AssignmentId"]) for a in assignments}
        _settle_unconfirmed(session, hit, listed, asked_at, duration_s, out)
        hit.synced_at = datetime.now(UTC)
        session.commit()
        out.hits += 1
    return mt


def has_hits(*, session: Session, project: Project) -> bool:
    """Whether the project has published MTurk HITs (then a sync talks to MTurk)."""
    return (
        session.scalar(
            select(Hit.id)
            .where(Hit.project_id == project.id, Hit.state == "published", Hit.provider == "mturk")
            .limit(1)
        )
        is not None
    )


def _values(answer_xml: str | None, allowed: dict[str, int], out: SyncResult) -> dict[int, int]:
    if not answer_xml:
        return {}
    try:
        fields = parse_answers(answer_xml).multi()
    except QuestionXMLError as exc:
        out.answers_invalid += 1
        out.problems.append(f"unreadable answer XML: {exc}")
        return {}
    values: dict[int, int] = {}
    for name, ex in allowed.items():
        given = fields.get(name)
        if not given:
            continue
        if given[0] in ("1", "2", "3", "4"):
            values[ex] = int(given[0])
        else:
            out.answers_invalid += 1
    return values


def _discard(session: Session, assignment: Assignment, why: str, out: SyncResult) -> None:
    """Never counted, never paid: the answers go, the row stays so the id is refused later."""
    assignment.confirmation = "discarded"
    session.execute(delete(Answer).where(Answer.assignment_id == assignment.id))
    out.assignments_discarded += 1
    out.problems.append(f"assignment {assignment.external_id} discarded: {why}")


def _settle_unconfirmed(
    session: Session,
    hit: Hit,
    listed: set[str],
    asked_at: datetime,
    duration_s: int,
    out: SyncResult,
) -> None:
    """Discard this HIT's unconfirmed assignments that MTurk cannot have issued (module doc)."""
    rows = session.scalars(
        select(Assignment)
        .join(HitAssignment, HitAssignment.assignment_id == Assignment.id)
        .where(HitAssignment.hit_id == hit.id, Assignment.confirmation == "unconfirmed")
        .order_by(Assignment.id)
    ).all()
    now = datetime.now(UTC)
    answered = set(
        session.scalars(
            select(Answer.assignment_id).where(Answer.assignment_id.in_([a.id for a in rows]))
        )
    )
    returned: list[int] = []
    for assignment in rows:
        if assignment.external_id in listed:
            continue
        created = assignment.created_at
        created = created if created.tzinfo else created.replace(tzinfo=UTC)
        if created < asked_at and hit.n_pending == 0:
            if assignment.status == "accepted" and assignment.id not in answered:
                # Opened, never answered, and MTurk holds no pending assignment: returned or
                # abandoned (docs/MTURK.md §3). MTurk has already re-offered the slot if the
                # HIT is unexpired; forget it here too, so nothing holds the worker or slot.
                returned.append(assignment.id)
                continue
            _discard(session, assignment, "MTurk has no such assignment for this HIT", out)
        elif (now - created).total_seconds() > duration_s:
            _discard(
                session,
                assignment,
                "MTurk never received it within the HIT's assignment duration",
                out,
            )
        else:
            out.assignments_unconfirmed += 1
    if returned:
        exclusion.forget_assignments(session=session, ids=returned)
        out.abandoned_released += len(returned)
    # Accepted + submitted + reviewed never exceeds MaxAssignments; a slot that is none of
    # those and not available either was returned or abandoned after the HIT expired.
    out.slots_lost += max(0, hit.max_assignments - hit.n_available - hit.n_pending - len(listed))


def _forged(session: Session, assignment: Assignment, out: SyncResult) -> None:
    """Ours was opened with this id for another HIT or worker than MTurk lists: it was forged;
    its rows go (MTurk's own assignment is then recorded in their place)."""
    out.problems.append(
        f"assignment {assignment.external_id} was opened here for another HIT or worker than "
        "MTurk's; its answers were discarded"
    )
    out.assignments_discarded += 1
    known = session.get(HitAssignment, assignment.id)
    for table, column in (
        (Answer, Answer.assignment_id),
        (HitAssignment, HitAssignment.assignment_id),
        (Assignment, Assignment.id),
    ):
        session.execute(
            delete(table)
            .where(column == assignment.id)
            .execution_options(synchronize_session=False)
        )
    for obj in (known, assignment):
        if obj is not None:
            session.expunge(obj)


def _listed_assignment(session: Session, hit: Hit, aid: str, worker_ext: str) -> Assignment:
    """A row for an assignment MTurk lists that the task page never opened (or forged)."""
    worker = worker_row(session=session, external_id=worker_ext)
    assignment = Assignment(
        project_id=hit.project_id,
        worker_id=worker.id,
        external_id=aid,
        status="accepted",
        source="mturk",
        confirmation="unconfirmed",  # until MTurk's listing confirms it, just below
    )
    session.add(assignment)
    session.flush()
    session.add(
        HitAssignment(assignment_id=assignment.id, hit_id=hit.id, worker_external_id=worker_ext)
    )
    session.flush()
    return assignment


def _upsert(
    session: Session,
    settings: Settings,
    hit: Hit,
    project: Project,
    a: dict[str, Any],
    out: SyncResult,
) -> None:
    aid = str(a["AssignmentId"])
    worker_ext = str(a["WorkerId"])
    status = str(a.get("AssignmentStatus", "Submitted"))
    submit_time = a.get("SubmitTime")
    when = submit_time if isinstance(submit_time, datetime) else datetime.now(UTC)
    # ListAssignmentsForHIT lists submitted assignments only, each under its HIT and worker.
    listed = submissions.Listed(under=hit.id, worker=worker_ext)
    assignment = session.scalar(select(Assignment).where(Assignment.external_id == aid))
    known = session.get(HitAssignment, assignment.id) if assignment is not None else None
    bound = (known.hit_id, known.worker_external_id) if known is not None else None
    was = assignment.confirmation if assignment is not None else None
    verdict = submissions.confirm(
        session=session, assignment=assignment, bound=bound, listed=listed
    )
    if verdict == "contradicted":
        if assignment is not None:
            _forged(session, assignment, out)
        assignment = _listed_assignment(session, hit, aid, worker_ext)
        submissions.confirm(
            session=session, assignment=assignment, bound=(hit.id, worker_ext), listed=listed
        )
        out.assignments_new += 1
    elif was != "confirmed":
        out.assignments_confirmed += 1
    assert assignment is not None  # bound here (not contradicted), or recorded just above
    ha = session.get(HitAssignment, assignment.id)
    assert ha is not None  # created above, or checked against MTurk's HIT and worker
    fields = answer_fields(settings, hit, aid, ha)
    values = _values(a.get("Answer"), fields, out)
    first = assignment.status == "accepted"
    if first:
        assignment.status = "submitted"
        assignment.submitted_at = when
    # Scored on what is stored for this assignment (answers from the page or from MTurk).
    n_new = submissions.record_submission(
        session=session,
        project=project,
        hit=hit,
        assignment=assignment,
        ha=ha,
        values=values,
        submitted_at=when,
        via="sync" if first else None,
        score=first,
    )
    out.answers_new += n_new
    ha.mturk_status = status
    if status in ("Approved", "Rejected") and ha.review == "pending":
        # Decided on MTurk (auto-approval, or the requester website): record it here too.
        submissions.record_decision(
            session=session,
            hit=hit,
            assignment=assignment,
            ha=ha,
            verdict="approved" if status == "Approved" else "rejected",
            note=f"{status.lower()} on MTurk",
        )
