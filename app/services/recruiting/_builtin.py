"""What the two built-in providers (``mturk``, ``link``) share: costs by MTurk's fee rules
(``app.services.ledger``; none for a link) and the fee-tier note on a plan, a HIT's reserve in the
ledger once it is published, and a completion code on the end page."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from app.core.config import Settings
from app.models import Hit
from app.services import ledger, recruiting
from app.services.publishing.settings import MAX_PER_HIT_CHEAP
from app.services.recruiting import links
from app.services.recruiting.base import Identity, RecruitingProvider

if TYPE_CHECKING:
    from app.services.publishing import PlannedHit


def mark_published(*, session: Session, row: Hit) -> None:
    """A built-in provider's HIT is live: state ``published``, and its worst-case cost (its
    provider's fee rules) reserved in the ledger, keyed by the HIT's token (committed)."""
    row.state = "published"
    row.published_at = datetime.now(UTC)
    row.error = None
    cost = recruiting.get(row.provider).hit_cost(Decimal(str(row.reward)), row.max_assignments)
    ledger.record(
        session=session,
        project_id=row.project_id,
        hit_id=row.id,
        kind="reserve",
        amount=cost.total,
        key=f"reserve:{row.token}",
        note=f"{row.max_assignments} x (${cost.reward} + ${cost.fee} fee)",
    )
    session.commit()


class BuiltinProvider(RecruitingProvider):
    marketplace = True

    def hit_cost(self, reward: Decimal, assignments: int) -> ledger.HitCost:
        return ledger.hit_cost(reward, assignments, marketplace=self.marketplace)

    def plan_warnings(self, hits: Sequence[PlannedHit]) -> list[str]:
        if any(h.max_assignments >= ledger.FEE_TIER_ASSIGNMENTS for h in hits):
            return [
                "some HITs have 10 or more assignments: MTurk then charges a 40% fee instead of "
                f"20%; pass max_per_hit={MAX_PER_HIT_CHEAP} to publish them as HITs of at most "
                "9 assignments"
            ]
        return []

    def completion_code(self, settings: Settings, ident: Identity) -> str | None:
        return links.completion_code(settings, ident.assignment_id)
