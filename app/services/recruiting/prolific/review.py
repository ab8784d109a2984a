"""Sync, confirmation and review through Prolific (docs/PROLIFIC.md §3-§5, §7): submissions listed,
held answers stored once Prolific confirms, approve / reject, bonuses created and paid once, the
blocklist group, return requests."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.errors import Conflict, NotFound
from app.models import (
    Assignment,
    Hit,
    HitAssignment,
    Project,
    ProlificAccount,
    ProlificPayment,
    ProlificSession,
    ProlificStudy,
)
from app.prolific.client import (
    ProlificClient,
    ProlificUnavailable,
)
from app.services import ledger
from app.services.crowd import submissions

if TYPE_CHECKING:
    from app.services.recruiting.sync import SyncResult

from app.services.recruiting.prolific.common import (
    ATTEMPTS,
    FINISHED,
    GONE,
    RETURN_REASON,
    client_for,
    fees,
    minor,
    now,
)


def reviewable(client: ProlificClient, submission_id: str) -> str:
    """The submission's status once it reads as finished (the completion status may land a
    moment after the redirect, docs/PROLIFIC.md §3: approve only after AWAITING REVIEW)."""
    status = ""
    for attempt in range(ATTEMPTS):
        status = str(client.get_submission(submission_id)["status"])
        if status in (*FINISHED, "REJECTED"):
            return status
        time.sleep(0.05 * 2**attempt)
    raise Conflict(
        f"Prolific submission {submission_id} is {status}; it can be reviewed once it is "
        "AWAITING REVIEW"
    )


def blocklist_group(
    *, session: Session, client: ProlificClient, acct: ProlificAccount, project: Project
) -> str:
    """The project's "blocked" participant group, used as a blocklist filter on new studies."""
    if acct.blocklist_group_id:
        return acct.blocklist_group_id
    name = f"frtrain project {project.id} blocked"
    found = next((g for g in client.groups(acct.workspace_id) if g.get("name") == name), None)
    if found is None:
        found = client.create_group(acct.workspace_id, name)
    acct.blocklist_group_id = str(found["id"])
    session.commit()
    return acct.blocklist_group_id


def apply_submission(
    *,
    session: Session,
    client: ProlificClient,
    project: Project,
    study: ProlificStudy,
    sub: dict[str, Any],
    out: SyncResult,
) -> None:
    sid = str(sub["id"])
    pid = str(sub.get("participant_id", ""))
    status = str(sub.get("status", ""))
    row = session.get(ProlificSession, sid)
    assignment = (
        session.scalar(select(Assignment).where(Assignment.external_id == sid))
        if row is not None
        else None
    )
    # Prolific lists a session under its study and participant; finished: AWAITING REVIEW or
    # APPROVED (docs/PROLIFIC.md §3).
    verdict = submissions.confirm(
        session=session,
        assignment=assignment,
        bound=(row.study_row_id, row.participant_id) if row is not None else None,
        listed=submissions.Listed(under=study.id, worker=pid, finished=status in FINISHED),
    )
    if verdict == "contradicted":
        if status == "AWAITING REVIEW" and not sub.get("return_requested"):
            # Finished on Prolific without answers reaching us: ask for a return, never pay.
            client.request_return(sid, [RETURN_REASON])
            out.problems.append(f"Prolific submission {sid} has no answers here; return requested")
        return
    assert row is not None  # bound
    row.prolific_status = status
    if row.state in ("open", "held") and status in GONE:
        row.state = "released"  # the place was given up; held answers never count
        return
    if verdict == "confirmed" and row.state == "held":
        store_held(
            session=session,
            project=project,
            row=row,
            assignment=assignment,
            status=status,
            out=out,
        )
    if row.state == "confirmed":
        ha = session.get(HitAssignment, assignment.id) if assignment is not None else None
        if assignment is None or ha is None:
            return
        ha.mturk_status = status
        if status in ("APPROVED", "REJECTED") and ha.review == "pending":
            hit = session.get(Hit, ha.hit_id)
            assert hit is not None
            verdict_here: submissions.Verdict = "approved" if status == "APPROVED" else "rejected"
            submissions.record_decision(
                session=session,
                hit=hit,
                assignment=assignment,
                ha=ha,
                verdict=verdict_here,
                note=f"{verdict_here} on Prolific",
            )


def store_held(
    *,
    session: Session,
    project: Project,
    row: ProlificSession,
    assignment: Assignment | None,
    status: str,
    out: SyncResult,
) -> None:
    """Prolific confirmed the submission (app.services.crowd.submissions ``confirm``): the held
    answers become answers."""
    ha = session.get(HitAssignment, assignment.id) if assignment is not None else None
    if assignment is None or ha is None or not row.answers:
        out.problems.append(f"Prolific session {row.session_id} has no held answers; skipped")
        return
    values = {int(k): int(v) for k, v in row.answers.items()}
    when = row.submitted_at or now()
    hit = session.get(Hit, ha.hit_id)
    assert hit is not None
    n_new = submissions.record_submission(
        session=session,
        project=project,
        hit=hit,
        assignment=assignment,
        ha=ha,
        values=values,
        submitted_at=when,
        via="page",
    )
    ha.mturk_status = status
    assignment.submitted_at = when
    row.state = "confirmed"
    row.confirmed_at = now()
    out.assignments_new += 1
    out.answers_new += n_new


# -- money -----------------------------------------------------------------------------------
def pay_bonus(
    *, session: Session, settings: Settings, hit: Hit, submission_id: str, amount: Decimal
) -> Decimal:
    """Create the bonus once (its id kept before paying), pay once; a retry after a lost pay
    reply reads the submission's ``bonus_payments`` instead of paying again (docs/PROLIFIC.md
    §7)."""
    key = f"bonus:prolific-{submission_id}-{minor(amount)}"
    project = session.get(Project, hit.project_id)
    assert project is not None
    row = session.get(ProlificPayment, key)
    fee, vat = fees(settings, amount)
    cost = ledger.money(amount) + fee + vat
    if row is not None and row.state == "paid":
        return cost
    study = session.scalar(
        select(ProlificStudy).where(
            ProlificStudy.project_id == hit.project_id, ProlificStudy.batch == hit.batch
        )
    )
    assert study is not None and study.study_id is not None
    with client_for(settings, project) as client:
        if row is None:
            created = client.create_bonus(
                study.study_id, f"{submission_id},{ledger.money(amount)}\n"
            )
            row = ProlificPayment(
                key=key,
                project_id=project.id,
                session_id=submission_id,
                bonus_id=str(created["id"]),
                state="created",
                amount_minor=int(created["amount"]),
                fees_minor=int(created.get("fees", 0)),
                vat_minor=int(created.get("vat", 0)),
            )
            session.add(row)
            session.commit()
        if row.state == "created":
            row.state = "paying"
            session.commit()
            try:
                assert row.bonus_id is not None
                client.pay_bonus(row.bonus_id)
            except ProlificUnavailable:
                if not bonus_landed(client=client, session=session, row=row):
                    raise
        elif not bonus_landed(
            client=client, session=session, row=row
        ):  # "paying": a crash or lost reply before
            raise Conflict(
                f"bonus {row.bonus_id} was sent to Prolific but does not show yet; it is never "
                "paid twice: sync again later"
            )
        row.state = "paid"
        session.commit()
    return ledger.money(Decimal(row.amount_minor + row.fees_minor + row.vat_minor) / 100)


def bonus_landed(*, client: ProlificClient, session: Session, row: ProlificPayment) -> bool:
    """Pay is asynchronous: poll the submission's ``bonus_payments`` for a while."""
    paid = session.scalar(
        select(func.count())
        .select_from(ProlificPayment)
        .where(ProlificPayment.session_id == row.session_id, ProlificPayment.state != "created")
    )
    for attempt in range(ATTEMPTS):
        shown = len(client.get_submission(row.session_id).get("bonus_payments") or [])
        if shown >= int(paid or 0):
            return True
        time.sleep(0.05 * 2**attempt)
    return False


def bulk_approve(*, session: Session, settings: Settings, project_id: int) -> int:
    """Approve every confirmed, unreviewed submission of the project in bulk calls of 1,000
    (Prolific skips those already approved, so a retry is harmless); records the ledger."""
    project = session.get(Project, project_id)
    if project is None:
        raise NotFound(f"project {project_id} does not exist")
    rows = session.execute(
        select(HitAssignment, Assignment, Hit)
        .join(Assignment, Assignment.id == HitAssignment.assignment_id)
        .join(Hit, Hit.id == HitAssignment.hit_id)
        .where(
            Hit.project_id == project_id,
            Hit.provider == "prolific",
            HitAssignment.review == "pending",
            HitAssignment.submitted_via.is_not(None),
        )
    ).all()
    if not rows:
        return 0
    ids = [str(a.external_id) for _, a, _ in rows]
    with client_for(settings, project) as client:
        for start_at in range(0, len(ids), 1000):
            client.bulk_approve(ids[start_at : start_at + 1000])
    for ha, assignment, hit in rows:
        ha.mturk_status = "APPROVED"
        submissions.record_decision(
            session=session,
            hit=hit,
            assignment=assignment,
            ha=ha,
            verdict="approved",
            note="reward + Prolific fee (bulk approve)",
        )
    session.commit()
    return len(rows)


def request_return(
    *, session: Session, settings: Settings, submission_id: str, reason: str
) -> None:
    """Ask a participant to return an abandoned place (Prolific's request-return)."""
    row = session.get(ProlificSession, submission_id)
    if row is None:
        raise NotFound(f"Prolific session {submission_id} is not known here")
    study = session.get(ProlificStudy, row.study_row_id)
    project = session.get(Project, study.project_id) if study is not None else None
    assert project is not None
    with client_for(settings, project) as client:
        current = client.get_submission(submission_id)
        if not current.get("return_requested"):
            client.request_return(submission_id, [reason or RETURN_REASON])
