"""What the two built-in providers (``mturk``, ``link``) share: costs by MTurk's fee rules
(``app.services.ledger``; none for a link), publishing through app.services.publishing, answers
stored when submitted, a completion code on the end page, nothing to pay a bonus with."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.errors import Conflict
from app.services import ledger
from app.services.recruiting import links
from app.services.recruiting.base import Identity

if TYPE_CHECKING:
    from app.models import Assignment, Hit, HitAssignment, Project, Worker
    from app.services.publishing import PublishResult
    from app.services.recruiting.sync import SyncResult


class BuiltinProvider:
    name = ""
    fee_rules = ""
    holds_answers = False
    confirms_later = False
    policy_bonus = False
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
        # Imported here: publishing dispatches to the providers, so it loads after them.
        from app.services.publishing.publish import publish_builtin_rows

        return publish_builtin_rows(
            session=session, settings=settings, project=project, rows=rows, reconcile=reconcile
        )

    def admit(self, session: Session, hit: Hit, ident: Identity) -> None:
        return None

    def take_place(self, session: Session, hit: Hit) -> None:
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

    def completion_code(self, settings: Settings, ident: Identity) -> str | None:
        return links.completion_code(settings, ident.assignment_id)

    def return_form(
        self, ident: Identity, answers: list[tuple[str, str]]
    ) -> tuple[str | None, list[tuple[str, str]]]:
        return None, []

    def client(self, settings: Settings, project: Project | None) -> Any:
        return None

    def sync(
        self,
        session: Session,
        settings: Settings,
        project: Project,
        out: SyncResult,
        *,
        client: Any = None,
    ) -> Any:
        return client

    def after_review(
        self,
        session: Session,
        settings: Settings,
        project: Project,
        out: SyncResult,
        *,
        client: Any = None,
    ) -> None:
        return None

    def ready_for_review(self, ha: HitAssignment) -> bool:
        return True

    def approve(
        self,
        session: Session,
        settings: Settings,
        hit: Hit,
        assignment_id: str,
        *,
        feedback: str | None = None,
        override_rejection: bool = False,
        client: Any = None,
    ) -> str | None:
        return None

    def reject(
        self,
        session: Session,
        settings: Settings,
        hit: Hit,
        assignment_id: str,
        feedback: str,
        *,
        client: Any = None,
    ) -> str | None:
        return None

    def bonus_key(self, assignment_id: str, amount: Decimal) -> str:
        raise Conflict(f"{self.name} pays no bonus")

    def bonus(
        self,
        session: Session,
        settings: Settings,
        hit: Hit,
        assignment_id: str,
        amount: Decimal,
        reason: str,
        *,
        worker_id: str,
        client: Any = None,
    ) -> tuple[Decimal, str]:
        raise Conflict(f"{self.name} pays no bonus")

    def block(
        self,
        session: Session,
        settings: Settings,
        worker: Worker,
        *,
        blocked: bool,
        reason: str,
        project_id: int | None,
        client: Any = None,
    ) -> None:
        return None
