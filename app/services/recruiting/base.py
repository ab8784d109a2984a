"""The recruiting-provider interface: what publishing, the task page, sync and review need from
a marketplace (or from a plain link), so none of them has to know which one it is. The base
class says what each step means and does what a provider without that step does (no place to
take, no answers held, nothing to sync, nothing to pay a bonus with); a provider overrides the
steps it has.

Each method receives the database session and settings; a provider keeps its own state in its
own tables. Money amounts are in the project's currency, major units, as :class:`Decimal`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.errors import Conflict

if TYPE_CHECKING:
    from app.models import Assignment, Hit, HitAssignment, Project, Worker
    from app.services.ledger import HitCost
    from app.services.publishing import PublishResult
    from app.services.recruiting.sync import SyncResult


@dataclass(frozen=True)
class Identity:
    """Who is on the task page, as the provider's parameters say: the provider's HIT (or study)
    id, the assignment (or session) id, the worker id, and where the worker's browser posts
    afterwards (MTurk's ``turkSubmitTo``; empty elsewhere)."""

    provider_hit_id: str
    assignment_id: str
    worker_id: str
    submit_to: str


class RecruitingProvider:
    name = ""
    #: The fee rules, in words, printed beside every cost estimate.
    fee_rules = ""
    #: True when the page's answers wait for the marketplace to confirm the submission.
    holds_answers = False
    #: True when an assignment opened on the page is stored ``unconfirmed`` until a sync finds
    #: it on the marketplace (MTurk: its parameters arrive in a URL anyone can type).
    confirms_later = False
    #: True when the review policy's bonus for good records is paid through this provider.
    policy_bonus = False

    # -- publishing ----------------------------------------------------------------------------
    def hit_cost(self, reward: Decimal, assignments: int) -> HitCost:
        """Worst-case cost of one question set with ``assignments`` places."""
        raise NotImplementedError

    def place_cost(self, hit: Hit) -> Decimal:
        """What one approved assignment of ``hit`` costs (reward + fees)."""
        return self.hit_cost(Decimal(str(hit.reward)), hit.max_assignments).per_assignment

    def plan_warnings(self, hits: list[tuple[int, Decimal]]) -> list[str]:
        """Notes on a plan of ``(questions, reward)`` per question set (e.g. pay-rate floors)."""
        return []

    def preflight(self, settings: Settings, project: Project) -> None:
        """Refuse (before anything is written) a publish the settings do not allow."""
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
        """Publish rows written in state ``intent`` (retry-safe; resumes after a crash)."""
        raise NotImplementedError

    # -- task page -----------------------------------------------------------------------------
    def identify(
        self, session: Session, settings: Settings, hit: Hit, params: dict[str, str]
    ) -> Identity | None:
        """The worker identity the task page received (None: a preview)."""
        raise NotImplementedError

    def admit(self, session: Session, hit: Hit, ident: Identity) -> None:
        """Refuse (4xx) a first visit the marketplace did not hand to this worker."""
        return None

    def take_place(self, session: Session, hit: Hit) -> None:
        """Claim one of the HIT's places on a worker's first visit (a marketplace counts its own
        places; the link provider keeps a counter)."""
        return None

    def hold(
        self,
        session: Session,
        hit: Hit,
        assignment: Assignment,
        ha: HitAssignment,
        values: dict[int, int],
    ) -> None:
        """Keep a submission's answers until the marketplace confirms it (``holds_answers``)."""
        raise NotImplementedError(f"{self.name} stores answers when they are submitted")

    def finish(self, session: Session, settings: Settings, hit: Hit, ident: Identity) -> str | None:
        """Where the worker goes after submitting (None: the provider's own end page)."""
        return None

    def completion_code(self, settings: Settings, ident: Identity) -> str | None:
        """The code the worker pastes back into the panel (None: the provider needs none)."""
        return None

    def return_form(
        self, ident: Identity, answers: list[tuple[str, str]]
    ) -> tuple[str | None, list[tuple[str, str]]]:
        """Where the worker's browser posts after the page stored the answers, and what (MTurk's
        externalSubmit); ``(None, [])`` when it posts nowhere."""
        return None, []

    # -- sync and review -----------------------------------------------------------------------
    def client(self, settings: Settings, project: Project | None) -> Any:
        """The marketplace client sync and review share (None: the provider opens its own)."""
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
        """Confirm submissions the marketplace lists and store their answers; returns the client
        it used (handed on to the review), or ``client``."""
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
        """Bring the marketplace up to date with the review (e.g. MTurk's exclusions)."""
        return None

    def ready_for_review(self, ha: HitAssignment) -> bool:
        """Whether the marketplace has seen this submission, so it can be decided now."""
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
        """Approve on the marketplace (idempotent); returns the marketplace's status to store."""
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
        """Reject on the marketplace (idempotent); returns the marketplace's status to store."""
        return None

    def bonus_key(self, assignment_id: str, amount: Decimal) -> str:
        """The ledger key of one bonus (409 when the provider pays no bonus)."""
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
        """Pay once; returns what it cost (bonus + fees) and the ledger note."""
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
        """Block (or unblock) the worker on the marketplace (nothing when it has no blocks)."""
        return None
