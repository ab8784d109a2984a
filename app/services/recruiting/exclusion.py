"""No wasted accepts: exclude workers who must not take a HIT *before* they accept it.

The task page refuses a worker who already answered one of a HIT's examples ("please return
it") or who is blocked, but on MTurk that happens after the accept: the worker has spent an
accept and the HIT an assignment slot until it is returned. So the service maintains MTurk
qualifications (docs/MTURK.md §2, ``QualificationRequirement`` with ``Comparator = DoesNotExist``,
``ActionsGuarded = DiscoverPreviewAndAccept``), which MTurk (and our emulator) enforce at
preview and accept:

* one ``excluded`` qualification per project and endpoint, granted to workers whose status is
  ``filtered`` or ``blocked`` (revoked when that changes); required by every HIT;
* one ``hit`` qualification per HIT that shares a task example with answers already given or
  with another HIT (top-ups), granted to every
  worker who answered one of its examples or holds an assignment of another HIT with one of
  them. HITs that share nothing share one HIT type and group as usual.

``refresh`` (run by every sync, after the new answers are stored) grants and revokes only the
changes. On the link provider the invitation does the same job (``excluded_for_link``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.crowd import EXCLUDED_STATUSES
from app.models import (
    Answer,
    Assignment,
    ExclusionQualification,
    Hit,
    HitAssignment,
    Project,
    Worker,
)
from app.mturk.client import MTurkClient
from app.mturk.errors import MTurkRequestError
from app.mturk.rules import WORKER_ID
from app.services.crowd.labels import load_project_crowd
from app.services.publishing.settings import hit_options

GUARD = "DiscoverPreviewAndAccept"


def _name(project: Project, endpoint: str, what: str) -> str:
    tag = hashlib.sha256(endpoint.encode()).hexdigest()[:8]
    return f"frtrain p{project.id} {what} [{tag}]"


def _get_or_create(
    session: Session,
    mt: MTurkClient,
    project: Project,
    *,
    purpose: str,
    hit: Hit | None,
    description: str,
) -> ExclusionQualification:
    same_hit = (
        ExclusionQualification.hit_id == hit.id
        if hit is not None
        else ExclusionQualification.hit_id.is_(None)
    )
    row = session.scalar(
        select(ExclusionQualification).where(
            ExclusionQualification.project_id == project.id,
            ExclusionQualification.endpoint_url == mt.endpoint_url,
            ExclusionQualification.purpose == purpose,
            same_hit,
        )
    )
    if row is not None:
        return row
    name = _name(project, mt.endpoint_url, purpose if hit is None else f"{purpose} {hit.token}")
    try:
        qtid = mt.create_qualification_type(
            Name=name[:128], Description=description[:2000], QualificationTypeStatus="Active"
        )["QualificationTypeId"]
    except MTurkRequestError as exc:  # created before a crash lost our row: find it by name
        if "already created a QualificationType with this name" not in str(exc.detail):
            raise
        found = mt.call(
            "ListQualificationTypes",
            Query=name[:128],
            MustBeRequestable=False,
            MustBeOwnedByCaller=True,
            MaxResults=100,
        )["QualificationTypes"]
        qtid = next(q["QualificationTypeId"] for q in found if q["Name"] == name[:128])
    row = ExclusionQualification(
        project_id=project.id,
        endpoint_url=mt.endpoint_url,
        purpose=purpose,
        hit_id=hit.id if hit is not None else None,
        qualification_type_id=qtid,
        workers=[],
    )
    session.add(row)
    session.commit()
    return row


def _sync_grants(mt: MTurkClient, row: ExclusionQualification, wanted: Iterable[str]) -> int:
    """Grant to the new workers, revoke from the ones no longer wanted; returns the changes.

    Only MTurk WorkerIds can hold a qualification: answers imported from a file or given
    through another provider carry ids MTurk refuses (and those ids never accept a HIT)."""
    want = {w for w in wanted if WORKER_ID.fullmatch(w)}
    have = set(row.workers or [])
    for worker in sorted(want - have):
        mt.associate_qualification(row.qualification_type_id, worker, 1, notify=False)
    for worker in sorted(have - want):
        mt.call(
            "DisassociateQualificationFromWorker",
            QualificationTypeId=row.qualification_type_id,
            WorkerId=worker,
            Reason="no longer excluded",
        )
    row.workers = sorted(want)
    return len(want ^ have)


def _excluded_workers(session: Session, project_id: int) -> set[str]:
    data = load_project_crowd(session=session, project_id=project_id)
    scores = data.scores
    ids = [int(w) for w in scores.loc[scores["status"].isin(list(EXCLUDED_STATUSES)), "worker_id"]]
    names = set(session.scalars(select(Worker.external_id).where(Worker.id.in_(ids or [-1]))))
    return names | set(session.scalars(select(Worker.external_id).where(Worker.blocked.is_(True))))


def _task_examples(hit: Hit) -> set[int]:
    """The examples the task page refuses a worker for having answered already (the task
    questions, as ``app.services.task.page`` checks; hidden gold is chosen per worker)."""
    return {int(i["example_id"]) for i in hit.items if i["role"] == "task"}


def _done_workers(session: Session, project_id: int, hit: Hit) -> set[str]:
    """Workers who answered one of ``hit``'s examples, or hold an assignment of another HIT
    with one of them (they will have answered it by the time they could take this one)."""
    examples = _task_examples(hit)
    if not examples:
        return set()
    answered = set(
        session.scalars(
            select(Worker.external_id)
            .join(Answer, Answer.worker_id == Worker.id)
            .where(Answer.project_id == project_id, Answer.example_id.in_(examples))
        )
    )
    holding: set[str] = set()
    for other in session.scalars(select(Hit).where(Hit.project_id == project_id, Hit.id != hit.id)):
        if _task_examples(other) & examples:
            holding |= set(
                session.scalars(
                    select(HitAssignment.worker_external_id).where(HitAssignment.hit_id == other.id)
                )
            )
    mine = set(
        session.scalars(
            select(HitAssignment.worker_external_id).where(HitAssignment.hit_id == hit.id)
        )
    )
    return (answered | holding) - mine


def _is_top_up(session: Session, project_id: int, hit: Hit) -> bool:
    examples = _task_examples(hit)
    if not examples:
        return False
    if session.scalar(
        select(Answer.id)
        .where(Answer.project_id == project_id, Answer.example_id.in_(examples))
        .limit(1)
    ):
        return True
    return any(
        _task_examples(other) & examples
        for other in session.scalars(
            select(Hit).where(Hit.project_id == project_id, Hit.id != hit.id)
        )
    )


def requirements_for(
    *, session: Session, mt: MTurkClient, project: Project, hit: Hit
) -> list[dict[str, Any]]:
    """The qualification requirements ``hit`` is published with (granting them first)."""
    excluded = _get_or_create(
        session,
        mt,
        project,
        purpose="excluded",
        hit=None,
        description="Workers whose answers this project no longer uses.",
    )
    _sync_grants(mt, excluded, _excluded_workers(session, project.id))
    reqs = [
        {
            "QualificationTypeId": excluded.qualification_type_id,
            "Comparator": "DoesNotExist",
            "ActionsGuarded": GUARD,
        }
    ]
    if _is_top_up(session, project.id, hit):
        done = _get_or_create(
            session,
            mt,
            project,
            purpose="hit",
            hit=hit,
            description="Workers who already answered questions of this task.",
        )
        _sync_grants(mt, done, _done_workers(session, project.id, hit))
        reqs.append(
            {
                "QualificationTypeId": done.qualification_type_id,
                "Comparator": "DoesNotExist",
                "ActionsGuarded": GUARD,
            }
        )
    session.commit()
    return reqs


def refresh(*, session: Session, mt: MTurkClient, project: Project) -> int:
    """Bring every qualification of the project up to date; returns the grants changed."""
    changed = 0
    for row in session.scalars(
        select(ExclusionQualification).where(
            ExclusionQualification.project_id == project.id,
            ExclusionQualification.endpoint_url == mt.endpoint_url,
        )
    ):
        if row.purpose == "excluded":
            changed += _sync_grants(mt, row, _excluded_workers(session, project.id))
            continue
        hit = session.get(Hit, row.hit_id) if row.hit_id is not None else None
        if hit is None or hit.state != "published":
            continue
        changed += _sync_grants(
            mt, row, set(row.workers or []) | _done_workers(session, project.id, hit)
        )
    session.commit()
    return changed


def excluded_for_link(*, session: Session, hit: Hit, workers: Iterable[str]) -> dict[str, str]:
    """Link provider: the invitees who must not get an invitation to ``hit``, with why."""
    excluded = _excluded_workers(session, hit.project_id)
    done = _done_workers(session, hit.project_id, hit)
    out: dict[str, str] = {}
    for w in workers:
        key = w if w.startswith("link:") else f"link:{w}"
        if key in excluded or w in excluded:
            out[w] = "filtered or blocked in this project"
        elif key in done or w in done:
            out[w] = "already answered questions of this task"
    return out


def release_abandoned(*, session: Session, project_id: int, now: datetime | None = None) -> int:
    """Forget assignments a worker opened but never submitted once their time is up
    (``assignment_duration_seconds``): on the link provider the slot is offered again at once
    (the task page counts taken slots), and no stale hold keeps the worker out of a top-up HIT.
    MTurk re-offers its own slots at the same moment. Returns the assignments released."""
    now = now or datetime.now(UTC)
    duration = int(
        hit_options(session=session, project_id=project_id)["assignment_duration_seconds"]
    )
    cutoff = now - timedelta(seconds=duration)
    rows = session.execute(
        select(HitAssignment, Assignment)
        .join(Assignment, Assignment.id == HitAssignment.assignment_id)
        .join(Hit, Hit.id == HitAssignment.hit_id)
        .where(
            Hit.project_id == project_id,
            HitAssignment.submitted_via.is_(None),
            Assignment.status == "accepted",
        )
    ).all()
    stale = []
    for _, assignment in rows:
        created = assignment.created_at
        if created.tzinfo is None:
            created = created.replace(tzinfo=UTC)
        if created <= cutoff:
            stale.append(assignment.id)
    if stale:
        answered = set(
            session.scalars(select(Answer.assignment_id).where(Answer.assignment_id.in_(stale)))
        )
        stale = [a for a in stale if a not in answered]
    forget_assignments(session=session, ids=stale)
    session.commit()
    return len(stale)


def forget_assignments(*, session: Session, ids: list[int]) -> None:
    """Delete opened-but-never-answered assignments (and their HIT links), so the slot and the
    worker's hold on the HIT's examples are free again. The caller commits."""
    if ids:
        session.execute(delete(HitAssignment).where(HitAssignment.assignment_id.in_(ids)))
        session.execute(delete(Assignment).where(Assignment.id.in_(ids)))
