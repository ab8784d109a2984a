"""The link provider: plain task URLs for any panel or in-house annotators (docs/MTURK.md §4).
The worker is identified by a signed per-worker invite token (``?invite=``) or by the panel's id
parameter (``?pid=``, allowed only on a link carrying the HIT's signature ``k``); each HIT has
``max_assignments`` places, taken on first visits; no marketplace fee, a completion code on the
end page, nothing to sync and nothing to pay (workers are paid through their panel).

Publishing a link HIT marks it published with its lifetime as expiry (no marketplace to call);
expiring, extending and deleting change the row alone."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.core.security import verify_plain
from app.models import Hit, Project
from app.services.publishing.plan import aware
from app.services.recruiting import exclusion, links
from app.services.recruiting._builtin import BuiltinProvider, mark_published
from app.services.recruiting.base import Identity

if TYPE_CHECKING:
    from app.services.publishing import PublishResult

_WORKER_ID = re.compile(r"^[A-Za-z0-9_.:@-]{1,120}$")
NO_BONUS = "link-provider workers are paid through their panel; no bonus here"


def identify(
    *, session: Session, settings: Settings, hit: Hit, params: dict[str, str]
) -> Identity | None:
    """The invited or panel worker of a link HIT (None: a panel link without a worker id yet)."""
    if hit.provider != "link":
        raise NotFound(f"task {hit.id} is not a link task")
    if params.get("invite"):
        if params.get("pid"):
            raise InvalidInput("a task link carries an invite or a panel id, not both")
        name = links.read_invite(session=session, project_id=hit.project_id, token=params["invite"])
        if name is None:
            raise Forbidden("this invite link is not valid (altered or for another project)")
        ext_worker = links.invite_worker_id(name)
    else:
        if not verify_plain(params.get("k"), links.link_key(settings, hit.id)):
            raise Forbidden("open this task through your invite or panel link")
        pid = params.get("pid") or None
        if pid is None:
            return None  # a panel link without a worker id yet: preview
        if not _WORKER_ID.match(pid):
            raise InvalidInput("the worker id is malformed")
        ext_worker = links.panel_worker_id(pid)
    aid = links.link_assignment_id(settings, hit.id, ext_worker)
    return Identity(str(hit.id), aid, ext_worker, "")


def take_slot(*, session: Session, hit: Hit) -> None:
    """Claim one of a link HIT's ``max_assignments`` slots: a single conditional UPDATE, so
    concurrent first visits can never bind more (the row lock serialises them)."""
    taken = session.execute(
        update(Hit)
        .where(Hit.id == hit.id, Hit.n_bound < Hit.max_assignments)
        .values(n_bound=Hit.n_bound + 1)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("this task has all the answers it needs; thank you")


def invites(
    *, session: Session, settings: Settings, hit: Hit, workers: list[str]
) -> dict[str, Any]:
    """Signed per-worker task links (and the panel link) for a published link HIT."""
    if hit.state != "published":
        raise Conflict(f"HIT {hit.id} is not a published link-provider task")
    # No invitation for a worker who must not take the task (the page would refuse them).
    refused = exclusion.excluded_for_link(session=session, hit=hit, workers=workers)
    urls = {
        w: links.invite_url(session=session, settings=settings, hit=hit, worker=w)
        for w in workers
        if w not in refused
    }
    session.commit()
    return {
        "hit_id": hit.id,
        "invites": urls,
        "refused": refused,
        "panel_url": links.panel_url(settings, hit),
    }


class LinkProvider(BuiltinProvider):
    name = "link"
    fee_rules = "no marketplace fee: workers are paid through their panel"
    marketplace = False

    def identify(
        self, session: Session, settings: Settings, hit: Hit, params: dict[str, str]
    ) -> Identity | None:
        return identify(session=session, settings=settings, hit=hit, params=params)

    def take_place(self, session: Session, hit: Hit) -> None:
        take_slot(session=session, hit=hit)

    # -- publishing and HIT management ---------------------------------------------------------
    def publish_rows(
        self,
        session: Session,
        settings: Settings,
        project: Project,
        rows: list[Hit],
        result: PublishResult,
        *,
        reconcile: bool,
        client: Any = None,
    ) -> PublishResult:
        for row in rows:
            row.expires_at = datetime.now(UTC) + timedelta(seconds=row.lifetime_seconds)
            mark_published(session=session, row=row)
            result.created += 1
        return result

    def expire_hit(
        self, session: Session, settings: Settings, hit: Hit, *, client: Any = None
    ) -> None:
        hit.expires_at = datetime.now(UTC)
        session.commit()

    def extend_hit(
        self,
        session: Session,
        settings: Settings,
        hit: Hit,
        *,
        assignments: int | None,
        seconds: int | None,
        cost: Decimal,
        client: Any = None,
    ) -> None:
        if assignments:
            hit.max_assignments += assignments
        if seconds:
            base = max(aware(hit.expires_at or datetime.now(UTC)), datetime.now(UTC))
            hit.expires_at = base + timedelta(seconds=seconds)
        session.commit()

    def panel_url(self, settings: Settings, hit: Hit) -> str | None:
        return links.panel_url(settings, hit)

    def invites(
        self, session: Session, settings: Settings, hit: Hit, workers: list[str]
    ) -> dict[str, Any]:
        return invites(session=session, settings=settings, hit=hit, workers=workers)

    def bonus_key(self, assignment_id: str, amount: Decimal) -> str:
        raise Conflict(NO_BONUS)
