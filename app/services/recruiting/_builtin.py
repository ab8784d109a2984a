"""What the two built-in providers (``mturk``, ``link``) share: costs by MTurk's fee rules
(``app.services.ledger``; none for a link), publishing through app.services.publishing, and a
completion code on the end page."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from app.core.config import Settings
from app.services import ledger
from app.services.recruiting import links
from app.services.recruiting.base import Identity, RecruitingProvider

if TYPE_CHECKING:
    from app.models import Hit, Project
    from app.services.publishing import PublishResult


class BuiltinProvider(RecruitingProvider):
    marketplace = True

    def hit_cost(self, reward: Decimal, assignments: int) -> ledger.HitCost:
        return ledger.hit_cost(reward, assignments, marketplace=self.marketplace)

    def publish_rows(
        self,
        session: Session,
        settings: Settings,
        project: Project,
        rows: list[Hit],
        result: PublishResult,
        *,
        reconcile: bool,
    ) -> PublishResult:
        # Imported here: publishing dispatches to the providers, so it loads after them.
        from app.services.publishing.publish import publish_builtin_rows

        return publish_builtin_rows(
            session=session, settings=settings, project=project, rows=rows, reconcile=reconcile
        )

    def completion_code(self, settings: Settings, ident: Identity) -> str | None:
        return links.completion_code(settings, ident.assignment_id)
