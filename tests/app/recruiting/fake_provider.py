"""A third recruiting provider for tests, over an in-memory marketplace: what a new provider is
(docs/ARCHITECTURE.md: one module plus its registration in app/services/recruiting/__init__.py).

The marketplace (:class:`FakeMarket`) lists HITs under a key, lets workers accept one (an
assignment id), takes their submissions and records approvals and rejections. Like MTurk, the
task page's parameters can be typed by anyone, so an assignment opened on the page is stored
``unconfirmed`` until a sync finds it on the marketplace (``confirms_later``); unlike MTurk, the
marketplace charges 10% of the reward (at least one cent) and has no bonuses or blocks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.errors import Forbidden, NotFound
from app.models import Assignment, Hit, HitAssignment, Project
from app.services import ledger
from app.services.crowd import submissions
from app.services.publishing import PlannedHit, PublishResult
from app.services.recruiting.base import Identity, RecruitingProvider
from app.services.recruiting.sync import SyncResult

NAME = "fake"
WORKER_PREFIX = "fake:"
ENDPOINT = "fake://market"
SUBMIT_URL = "https://market.example/submit"
PLAN_NOTE = "fake market: workers see the reward per question set"


class Crash(RuntimeError):
    """The publishing process dies after the marketplace created a HIT, before it is recorded."""


@dataclass
class FakeMarket:
    """The marketplace's own state."""

    hits: dict[str, int] = field(default_factory=dict)  # HIT key -> places
    accepted: dict[str, tuple[str, str]] = field(default_factory=dict)  # aid -> (HIT, worker)
    submitted: set[str] = field(default_factory=set)
    decisions: dict[str, str] = field(default_factory=dict)
    #: create this many HITs, then crash (before the last one is recorded here)
    crash_after: int | None = None

    def create(self, key: str, places: int) -> bool:
        """Create the HIT ``key`` (idempotent: False when it already exists)."""
        if key in self.hits:
            return False
        self.hits[key] = places
        if self.crash_after is not None and len(self.hits) >= self.crash_after:
            self.crash_after = None
            raise Crash(key)
        return True

    def accept(self, key: str, worker: str) -> str:
        aid = f"FA{len(self.accepted) + 1:04d}"
        self.accepted[aid] = (key, worker)
        return aid

    def submit(self, aid: str) -> None:
        self.submitted.add(aid)


class FakeProvider(RecruitingProvider):
    name = NAME
    fee_rules = "fake market: 10% of the reward, at least $0.01 per assignment"
    confirms_later = True

    def __init__(self) -> None:
        self.market = FakeMarket()
        #: every step publishing asked for: (step, details)
        self.calls: list[tuple[str, Any]] = []

    # -- publishing ----------------------------------------------------------------------------
    def hit_cost(self, reward: Decimal, assignments: int) -> ledger.HitCost:
        reward = ledger.money(reward)
        fee = max((reward / 10).quantize(ledger.CENT, rounding=ROUND_HALF_UP), ledger.CENT)
        return ledger.HitCost(reward=reward, fee=fee, assignments=assignments)

    def plan_warnings(self, hits: Sequence[PlannedHit]) -> list[str]:
        self.calls.append(("plan", len(hits)))
        return [PLAN_NOTE]

    def preflight(self, settings: Settings, project: Project, *, client: Any = None) -> Any:
        self.calls.append(("preflight", project.id))
        return client or self.market

    def endpoint(self, client: Any) -> str | None:
        return ENDPOINT

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
        self.calls.append(("publish", [(r.state, r.token, r.endpoint_url) for r in rows]))
        for row in rows:
            if self.market.create(row.token, row.max_assignments):
                result.created += 1
            else:
                result.adopted += 1  # created before a crash: the key finds it
            row.mturk_hit_id = row.token  # the marketplace's HIT id
            row.state = "published"
            row.published_at = datetime.now(UTC)
            cost = self.hit_cost(Decimal(str(row.reward)), row.max_assignments)
            ledger.record(
                session=session,
                project_id=row.project_id,
                hit_id=row.id,
                kind="reserve",
                amount=cost.total,
                key=f"reserve:{row.token}",
                note="fake market",
            )
            session.commit()
        return result

    # -- task page -----------------------------------------------------------------------------
    def identify(
        self, session: Session, settings: Settings, hit: Hit, params: dict[str, str]
    ) -> Identity | None:
        if hit.provider != NAME:
            raise NotFound(f"task {hit.id} is not on the fake market")
        aid = params.get("aid")
        if not aid:
            return None  # a preview
        assert hit.mturk_hit_id is not None
        return Identity(hit.mturk_hit_id, aid, WORKER_PREFIX + params.get("worker", ""), "")

    def admit(self, session: Session, hit: Hit, ident: Identity) -> None:
        worker = ident.worker_id.removeprefix(WORKER_PREFIX)
        if self.market.accepted.get(ident.assignment_id) != (hit.mturk_hit_id, worker):
            raise Forbidden("the fake market did not hand this assignment to this worker")

    def return_form(
        self, ident: Identity, answers: list[tuple[str, str]]
    ) -> tuple[str | None, list[tuple[str, str]]]:
        return SUBMIT_URL, [("aid", ident.assignment_id)]

    # -- sync and review -----------------------------------------------------------------------
    def client(self, settings: Settings, project: Project | None) -> FakeMarket:
        return self.market

    def sync(
        self,
        session: Session,
        settings: Settings,
        project: Project,
        out: SyncResult,
        *,
        client: Any = None,
    ) -> Any:
        hits = {
            h.mturk_hit_id: h
            for h in session.scalars(
                select(Hit).where(Hit.project_id == project.id, Hit.provider == NAME)
            )
        }
        for aid in sorted(self.market.submitted):
            key, worker = self.market.accepted[aid]
            out.assignments_seen += 1
            assignment = session.scalar(select(Assignment).where(Assignment.external_id == aid))
            ha = session.get(HitAssignment, assignment.id) if assignment is not None else None
            was = assignment.confirmation if assignment is not None else None
            verdict = submissions.confirm(
                session=session,
                assignment=assignment,
                bound=(ha.hit_id, ha.worker_external_id) if ha is not None else None,
                listed=submissions.Listed(under=hits[key].id, worker=WORKER_PREFIX + worker),
            )
            if verdict == "confirmed" and was != "confirmed":
                out.assignments_confirmed += 1
            elif verdict == "contradicted":
                out.problems.append(f"{aid} was not opened here for that HIT and worker")
        session.commit()
        return client

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
        self.market.decisions[assignment_id] = "approved"
        return "Approved"

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
        self.market.decisions[assignment_id] = "rejected"
        return "Rejected"
