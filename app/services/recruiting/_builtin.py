"""What the two built-in providers share as adapters: their publishing, sync and review stay in
app.services.publishing / sync / review unchanged (their behaviour is pinned by the tests), and
these adapters expose them through the interface."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from app.core.config import Settings
from app.services import ledger

if TYPE_CHECKING:
    from app.models import Assignment, Hit, HitAssignment, Project, Worker
    from app.services.publishing import PublishResult
    from app.services.recruiting.sync import SyncResult
    from app.services.task.page import Identity


class BuiltinProvider:
    name = ""
    fee_rules = ""
    holds_answers = False
    marketplace = True

    def hit_cost(self, reward: Decimal, assignments: int) -> ledger.HitCost:
        return ledger.hit_cost(reward, assignments, marketplace=self.marketplace)

    def place_cost(self, hit: Hit) -> Decimal:
        return self.hit_cost(Decimal(str(hit.reward)), hit.max_assignments).per_assignment

    def plan_warnings(self, hits: list[tuple[int, Decimal]]) -> list[str]:
        return []

    def preflight(self, settings: Settings, project: Project) -> None:
        return None

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
        from app.services.publishing.publish import _publish_rows

        return _publish_rows(session, settings, project, rows, mt=None, reconcile=reconcile)

    def admit(self, session: Session, hit: Hit, ident: Identity) -> None:
        return None

    def hold(
        self,
        session: Session,
        hit: Hit,
        assignment: Assignment,
        ha: HitAssignment,
        values: dict[int, int],
    ) -> None:
        raise NotImplementedError(f"{self.name} stores answers when they are submitted")

    def finish(self, session: Session, settings: Settings, hit: Hit, ident: Identity) -> str | None:
        return None

    def sync(self, session: Session, settings: Settings, project: Project, out: SyncResult) -> None:
        return None  # MTurk: app.services.recruiting.sync.sync_project; link: nothing to pull

    def approve(
        self, session: Session, settings: Settings, hit: Hit, assignment_id: str, **kw: Any
    ) -> None:
        return None

    def reject(
        self, session: Session, settings: Settings, hit: Hit, assignment_id: str, feedback: str
    ) -> None:
        return None

    def bonus(
        self,
        session: Session,
        settings: Settings,
        hit: Hit,
        assignment_id: str,
        amount: Decimal,
        reason: str,
    ) -> Decimal:
        raise NotImplementedError

    def block(
        self,
        session: Session,
        settings: Settings,
        worker: Worker,
        *,
        blocked: bool,
        reason: str,
        project_id: int | None,
    ) -> None:
        return None
