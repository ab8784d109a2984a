"""HIT management and views: list, refresh, expire, extend, delete; the admin's view of a HIT.
What a marketplace does for each operation is the HIT's recruiting provider's
(app.services.recruiting); here are the checks every provider shares (arguments, the budget)."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.errors import InvalidInput, NotFound
from app.models import (
    Assignment,
    Hit,
    HitAssignment,
)
from app.schemas.hits import HitPublic
from app.services import ledger, recruiting
from app.services.projects import get_project
from app.services.recruiting.links import task_url


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
        panel_url=recruiting.get(hit.provider).panel_url(settings, hit),
        error=hit.error,
        created_at=hit.created_at,
        published_at=hit.published_at,
    )


def link_invites(
    *, session: Session, settings: Settings, hit_id: int, workers: list[str]
) -> dict[str, Any]:
    """Signed per-worker task links (and the panel link) for a published link-provider HIT."""
    hit = get_hit(session=session, hit_id=hit_id)
    return recruiting.get(hit.provider).invites(session, settings, hit, workers)


def refresh_hit(*, session: Session, settings: Settings, row: Hit, mt: Any = None) -> Hit:
    """Update a HIT row from the marketplace (status and assignment counts)."""
    recruiting.get(row.provider).refresh_hit(session, settings, row, client=mt)
    return row


def expire_hit(*, session: Session, settings: Settings, hit_id: int, mt: Any = None) -> Hit:
    row = get_hit(session=session, hit_id=hit_id)
    recruiting.get(row.provider).expire_hit(session, settings, row, client=mt)
    return row


def extend_hit(
    *,
    session: Session,
    settings: Settings,
    hit_id: int,
    assignments: int | None = None,
    seconds: int | None = None,
    mt: Any = None,
) -> Hit:
    """Add assignments (idempotent: one token per resulting total) and/or push the expiry."""
    if not assignments and not seconds:
        raise InvalidInput("give assignments > 0 and/or seconds > 0")
    row = get_hit(session=session, hit_id=hit_id)
    project = get_project(session=session, project_id=row.project_id)
    provider = recruiting.get(row.provider)
    cost = Decimal(0)
    if assignments:
        cost = (
            provider.hit_cost(
                Decimal(str(row.reward)), row.max_assignments + assignments
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
    provider.extend_hit(
        session, settings, row, assignments=assignments, seconds=seconds, cost=cost, client=mt
    )
    return row


def delete_hit(*, session: Session, settings: Settings, hit_id: int, mt: Any = None) -> Hit:
    row = get_hit(session=session, hit_id=hit_id)
    recruiting.get(row.provider).delete_hit(session, settings, row, client=mt)
    row.state = "disposed"
    session.commit()
    return row
