"""The link provider: plain task URLs for any panel or in-house annotators (docs/MTURK.md §4).
The worker is identified by a signed per-worker invite token (``?invite=``) or by the panel's id
parameter (``?pid=``, allowed only on a link carrying the HIT's signature ``k``); each HIT has
``max_assignments`` places, taken on first visits; no marketplace fee, a completion code on the
end page, nothing to sync and nothing to pay (workers are paid through their panel)."""

from __future__ import annotations

import re
from decimal import Decimal

from sqlalchemy import update
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.core.security import verify_plain
from app.models import Hit
from app.services.recruiting import links
from app.services.recruiting._builtin import BuiltinProvider
from app.services.recruiting.base import Identity

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

    def bonus_key(self, assignment_id: str, amount: Decimal) -> str:
        raise Conflict(NO_BONUS)
