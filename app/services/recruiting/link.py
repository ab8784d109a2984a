"""The link provider as an adapter: signed invite or panel links, no marketplace fee, a
completion code on the end page; nothing to sync and nothing to pay."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.errors import Conflict
from app.services.recruiting._builtin import BuiltinProvider

if TYPE_CHECKING:
    from app.models import Hit
    from app.services.task.page import Identity


class LinkProvider(BuiltinProvider):
    name = "link"
    fee_rules = "no marketplace fee: workers are paid through their panel"
    marketplace = False

    def identify(
        self, session: Session, settings: Settings, hit: Hit, params: dict[str, str]
    ) -> Identity | None:
        from app.services.task.page import _identity_link

        return _identity_link(session, settings, hit, params)

    def bonus(
        self,
        session: Session,
        settings: Settings,
        hit: Hit,
        assignment_id: str,
        amount: Decimal,
        reason: str,
    ) -> Decimal:
        raise Conflict("link-provider workers are paid through their panel; no bonus here")
