"""HIT management and views: list, refresh, expire, extend, delete; the admin's view of a HIT."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.errors import Conflict, InvalidInput, NotFound
from app.models import (
    Assignment,
    Hit,
    HitAssignment,
)
from app.mturk.client import MTurkClient
from app.mturk.rules import explain_mturk
from app.schemas.hits import HitPublic
from app.services import ledger
from app.services.projects import get_project
from app.services.publishing.plan import _aware
from app.services.publishing.publish import _apply_mturk_hit
from app.services.recruiting import exclusion
from app.services.recruiting.links import invite_url, mturk_client, panel_url, task_url


# -- HIT management ----------------------------------------------------------------------
def get_hit(*, session: Session, hit_id: int) -> Hit:
    row = session.get(Hit, hit_id)
    if row is None:
        raise NotFound(f"HIT {hit_id} does not exist", hit_id=hit_id)
    return row


def list_hits(*, session: Session, project_id: int) -> list[Hit]:
    get_project(session=session, project_id=project_id)
    return list(session.scalars(select(Hit).where(Hit.project_id == project_id).order_by(Hit.id)))


def hit_views(*, session: Session, settings: Settings, hits: list[Hit]) -> list[HitPublic]:
    """The public view of each HIT: its row, item counts by role, links, and how many of its
    assignments were submitted (counted, and on the page but not yet confirmed by MTurk) and,
    of the counted ones, approved and rejected as recorded here (MTurk's own counts are as of
    the last GetHIT)."""
    counts: dict[int, dict[tuple[str, str], int]] = defaultdict(dict)
    if hits:
        for h, c, r, n in session.execute(
            select(
                HitAssignment.hit_id, Assignment.confirmation, HitAssignment.review, func.count()
            )
            .join(Assignment, Assignment.id == HitAssignment.assignment_id)
            .where(
                HitAssignment.hit_id.in_([h.id for h in hits]),
                HitAssignment.submitted_via.is_not(None),
            )
            .group_by(HitAssignment.hit_id, Assignment.confirmation, HitAssignment.review)
        ).all():
            counts[int(h)][(str(c), str(r))] = int(n)

    def count(hit_id: int, confirmation: str, review: str | None = None) -> int:
        return sum(
            n for (c, r), n in counts[hit_id].items() if c == confirmation and review in (None, r)
        )

    return [
        _hit_view(
            settings,
            h,
            count(h.id, "confirmed"),
            count(h.id, "unconfirmed"),
            approved=count(h.id, "confirmed", "approved"),
            rejected=count(h.id, "confirmed", "rejected"),
        )
        for h in hits
    ]


def _hit_view(
    settings: Settings,
    hit: Hit,
    n_submitted: int,
    n_unconfirmed: int,
    *,
    approved: int = 0,
    rejected: int = 0,
) -> HitPublic:
    roles = [i["role"] for i in hit.items]
    return HitPublic(
        id=hit.id,
        project_id=hit.project_id,
        batch=hit.batch,
        seq=hit.seq,
        provider=hit.provider,
        state=hit.state,
        endpoint_url=hit.endpoint_url,
        mturk_hit_id=hit.mturk_hit_id,
        hit_type_id=hit.hit_type_id,
        annotation=hit.annotation,
        max_assignments=hit.max_assignments,
        reward=hit.reward,
        n_questions=hit.n_questions,
        n_task=roles.count("task"),
        n_gold=roles.count("gold"),
        n_quiz=roles.count("quiz"),
        expires_at=hit.expires_at,
        mturk_status=hit.mturk_status,
        n_pending=hit.n_pending,
        n_available=hit.n_available,
        n_completed=hit.n_completed,
        n_submitted=n_submitted,
        n_unconfirmed=n_unconfirmed,
        n_approved=approved,
        n_rejected=rejected,
        synced_at=hit.synced_at,
        task_url=task_url(settings, hit.id),
        panel_url=panel_url(settings, hit) if hit.provider == "link" else None,
        error=hit.error,
        created_at=hit.created_at,
        published_at=hit.published_at,
    )


def link_invites(
    *, session: Session, settings: Settings, hit_id: int, workers: list[str]
) -> dict[str, Any]:
    """Signed per-worker task links (and the panel link) for a published link-provider HIT."""
    hit = get_hit(session=session, hit_id=hit_id)
    if hit.provider != "link" or hit.state != "published":
        raise Conflict(f"HIT {hit_id} is not a published link-provider task")
    # No invitation for a worker who must not take the task (the page would refuse them).
    refused = exclusion.excluded_for_link(session=session, hit=hit, workers=workers)
    invites = {
        w: invite_url(session=session, settings=settings, hit=hit, worker=w)
        for w in workers
        if w not in refused
    }
    session.commit()
    return {
        "hit_id": hit_id,
        "invites": invites,
        "refused": refused,
        "panel_url": panel_url(settings, hit),
    }


def _published_mturk(row: Hit) -> str:
    if row.provider != "mturk":
        raise Conflict(f"HIT {row.id} is a link-provider task; MTurk operations do not apply")
    if row.state != "published" or not row.mturk_hit_id:
        raise Conflict(
            f"HIT {row.id} is {row.state}, not published on MTurk; run `frtrain hits publish` "
            "to finish publishing"
        )
    return row.mturk_hit_id


def refresh_hit(
    *, session: Session, settings: Settings, row: Hit, mt: MTurkClient | None = None
) -> Hit:
    """Update a HIT row from GetHIT (status and assignment counts)."""
    if row.provider != "mturk" or row.state != "published" or not row.mturk_hit_id:
        return row
    project = get_project(session=session, project_id=row.project_id)
    mt = mt or mturk_client(settings, project)
    with explain_mturk("GetHIT"):
        hit = mt.get_hit(row.mturk_hit_id)
    _apply_mturk_hit(row, hit)
    row.synced_at = datetime.now(UTC)
    session.commit()
    return row


def expire_hit(
    *, session: Session, settings: Settings, hit_id: int, mt: MTurkClient | None = None
) -> Hit:
    row = get_hit(session=session, hit_id=hit_id)
    if row.provider == "link":
        row.expires_at = datetime.now(UTC)
        session.commit()
        return row
    mturk_id = _published_mturk(row)
    project = get_project(session=session, project_id=row.project_id)
    mt = mt or mturk_client(settings, project)
    with explain_mturk("UpdateExpirationForHIT"):
        mt.expire_hit(mturk_id)
    row.expires_at = datetime.now(UTC)
    return refresh_hit(session=session, settings=settings, row=row, mt=mt)


def extend_hit(
    *,
    session: Session,
    settings: Settings,
    hit_id: int,
    assignments: int | None = None,
    seconds: int | None = None,
    mt: MTurkClient | None = None,
) -> Hit:
    """Add assignments (idempotent: one token per resulting total) and/or push the expiry."""
    if not assignments and not seconds:
        raise InvalidInput("give assignments > 0 and/or seconds > 0")
    row = get_hit(session=session, hit_id=hit_id)
    project = get_project(session=session, project_id=row.project_id)
    cost = Decimal(0)
    if assignments:
        cost = (
            ledger.hit_cost(
                Decimal(str(row.reward)),
                row.max_assignments + assignments,
                marketplace=row.provider == "mturk",
            ).per_assignment
            * assignments
        )
        ledger.check_budget(
            session=session,
            project_id=project.id,
            cap=project.budget_cap,
            extra=cost,
            what=f"{assignments} more assignments",
        )
    if row.provider == "link":
        if assignments:
            row.max_assignments += assignments
        if seconds:
            base = max(_aware(row.expires_at or datetime.now(UTC)), datetime.now(UTC))
            row.expires_at = base + timedelta(seconds=seconds)
        session.commit()
        return row
    mturk_id = _published_mturk(row)
    mt = mt or mturk_client(settings, project)
    if assignments:
        total = row.max_assignments + assignments
        token = f"{row.token[:40]}-add{total}"
        with explain_mturk("CreateAdditionalAssignmentsForHIT"):
            mt.create_additional_assignments(mturk_id, assignments, unique_request_token=token)
        row.max_assignments = total
        ledger.record(
            session=session,
            project_id=project.id,
            hit_id=row.id,
            kind="extend",
            amount=cost,
            key=f"extend:{token}",
            note=f"+{assignments} assignments",
        )
        session.commit()
    if seconds:
        current = _aware(row.expires_at or datetime.now(UTC))
        new = max(current, datetime.now(UTC)) + timedelta(seconds=seconds)
        with explain_mturk("UpdateExpirationForHIT"):
            mt.update_expiration(mturk_id, new.replace(microsecond=0))
    return refresh_hit(session=session, settings=settings, row=row, mt=mt)


def delete_hit(
    *, session: Session, settings: Settings, hit_id: int, mt: MTurkClient | None = None
) -> Hit:
    row = get_hit(session=session, hit_id=hit_id)
    if row.provider == "mturk":
        mturk_id = _published_mturk(row)
        project = get_project(session=session, project_id=row.project_id)
        mt = mt or mturk_client(settings, project)
        with explain_mturk("DeleteHIT"):
            mt.delete_hit(mturk_id)
        row.mturk_status = "Disposed"
    row.state = "disposed"
    session.commit()
    return row
