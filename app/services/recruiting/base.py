"""The recruiting-provider interface: what publishing, the task page, sync and review need from
a marketplace (or from a plain link), so none of them has to know which one it is.

Each method receives the database session and settings; a provider keeps its own state in its
own tables. Money amounts are in the project's currency, major units, as :class:`Decimal`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.orm import Session

from app.core.config import Settings

if TYPE_CHECKING:
    from app.models import Assignment, Hit, HitAssignment, Project, Worker
    from app.services.ledger import HitCost
    from app.services.publishing import PublishResult
    from app.services.recruiting.sync import SyncResult
    from app.services.task.page import Identity


class RecruitingProvider(Protocol):
    name: str
    #: The fee rules, in words, printed beside every cost estimate.
    fee_rules: str
    #: True when the page's answers wait for the marketplace to confirm the submission.
    holds_answers: bool

    # -- publishing ----------------------------------------------------------------------------
    def hit_cost(self, reward: Decimal, assignments: int) -> HitCost:
        """Worst-case cost of one question set with ``assignments`` places."""

    def plan_warnings(self, hits: list[tuple[int, Decimal]]) -> list[str]:
        """Notes on a plan of ``(questions, reward)`` per question set (e.g. pay-rate floors)."""

    def preflight(self, settings: Settings, project: Project) -> None:
        """Refuse (before anything is written) a publish the settings do not allow."""

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
        """Publish rows written in state ``intent`` (retry-safe; resumes after a crash)."""

    # -- task page -----------------------------------------------------------------------------
    def identify(
        self, session: Session, settings: Settings, hit: Hit, params: dict[str, str]
    ) -> Identity | None:
        """The worker identity the task page received (None: a preview)."""

    def admit(self, session: Session, hit: Hit, ident: Identity) -> None:
        """Refuse (4xx) a first visit the marketplace did not hand to this worker."""

    def hold(
        self,
        session: Session,
        hit: Hit,
        assignment: Assignment,
        ha: HitAssignment,
        values: dict[int, int],
    ) -> None:
        """Keep a submission's answers until the marketplace confirms it (``holds_answers``)."""

    def finish(self, session: Session, settings: Settings, hit: Hit, ident: Identity) -> str | None:
        """Where the worker goes after submitting (None: the provider's own end page)."""

    # -- sync and review -----------------------------------------------------------------------
    def sync(self, session: Session, settings: Settings, project: Project, out: SyncResult) -> None:
        """Confirm submissions the marketplace lists and store their answers."""

    def place_cost(self, hit: Hit) -> Decimal:
        """What one approved assignment of ``hit`` costs (reward + fees)."""

    def approve(
        self, session: Session, settings: Settings, hit: Hit, assignment_id: str, **kw: Any
    ) -> None: ...

    def reject(
        self, session: Session, settings: Settings, hit: Hit, assignment_id: str, feedback: str
    ) -> None: ...

    def bonus(
        self,
        session: Session,
        settings: Settings,
        hit: Hit,
        assignment_id: str,
        amount: Decimal,
        reason: str,
    ) -> Decimal:
        """Pay once; returns what it cost (bonus + fees) for the ledger."""

    def block(
        self,
        session: Session,
        settings: Settings,
        worker: Worker,
        *,
        blocked: bool,
        reason: str,
        project_id: int | None,
    ) -> None: ...
