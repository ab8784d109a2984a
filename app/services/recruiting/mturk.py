"""The MTurk provider: HITs through boto3 (app.mturk), published and managed by
:mod:`.mturk_publish` (creation and adoption from intent rows, fee rules, GetHIT, expire, extend,
delete), MTurk's identity parameters on the task page, its externalSubmit completion step, sync
(:mod:`.mturk_sync`), and approve / reject / bonus / block through the requester API, each
idempotent on retry (``ensure_approved`` / ``ensure_rejected`` read MTurk back; a bonus carries a
deterministic ``UniqueRequestToken``). MTurk's refusals carry the state that would have allowed
the call (app.mturk.rules)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.errors import InvalidInput, NotFound
from app.models import Hit, HitAssignment, Project, Worker
from app.mturk.client import MTurkClient
from app.mturk.errors import INVALID_ASSIGNMENT_STATE, MTurkRequestError
from app.mturk.rules import WORKER_ID, explain_mturk
from app.services import ledger
from app.services.recruiting import exclusion, links, mturk_publish, mturk_sync
from app.services.recruiting._builtin import BuiltinProvider
from app.services.recruiting.base import Identity
from app.services.recruiting.mturk_publish import project_of

if TYPE_CHECKING:
    from app.services.publishing import PlannedHit, PublishResult
    from app.services.recruiting.sync import SyncResult

BLOCKABLE_WORKER_ID = re.compile(r"A[A-Z0-9]+")
_ASSIGNMENT_ID = re.compile(r"^[A-Za-z0-9]{1,64}$")
#: MTurk's longest feedback, bonus reason or block reason.
MAX_TEXT = 1024
#: UniqueRequestToken's longest value.
MAX_TOKEN = 64


def client_for(settings: Settings, project: Project | None) -> MTurkClient:
    return links.mturk_client(settings, project)


def identify(settings: Settings, hit: Hit, params: dict[str, str]) -> Identity | None:
    """None in preview; else the checked MTurk identity."""
    if hit.provider != "mturk":
        raise NotFound(f"task {hit.id} is not an MTurk HIT")
    hit_param = params.get("hitId")
    if hit_param is not None and hit_param != hit.mturk_hit_id:
        raise NotFound(f"hitId {hit_param!r} is not task {hit.id}")
    aid = params.get("assignmentId") or links.PREVIEW_ASSIGNMENT_ID
    if aid == links.PREVIEW_ASSIGNMENT_ID:
        return None
    if not _ASSIGNMENT_ID.match(aid):
        raise InvalidInput("assignmentId is malformed")
    worker = params.get("workerId") or ""
    if not WORKER_ID.match(worker):
        raise InvalidInput("workerId is missing or is not an MTurk WorkerId (^A[A-Z0-9]+$)")
    submit_to = links.check_submit_to(hit, params.get("turkSubmitTo") or "")
    assert hit.mturk_hit_id is not None
    return Identity(hit.mturk_hit_id, aid, worker, submit_to)


def external_submit(
    ident: Identity, answers: list[tuple[str, str]]
) -> tuple[str, list[tuple[str, str]]]:
    """MTurk's completion step (docs/MTURK.md §4): where the worker's browser posts the answers
    after the task page stored them (``turkSubmitTo``/mturk/externalSubmit) and what it posts."""
    post_to = f"{ident.submit_to}/mturk/externalSubmit"
    return post_to, [("assignmentId", ident.assignment_id), *answers]


def _override(client: MTurkClient, assignment_id: str, feedback: str | None) -> None:
    try:
        client.approve_assignment(assignment_id, feedback=feedback, override_rejection=True)
    except MTurkRequestError as exc:  # a retry after the override went through
        status = client.get_assignment(assignment_id)["Assignment"]["AssignmentStatus"]
        if exc.turk_error_code != INVALID_ASSIGNMENT_STATE or status != "Approved":
            raise


class MTurkProvider(BuiltinProvider):
    name = "mturk"
    fee_rules = "20% of reward, +20% when MaxAssignments >= 10, min $0.01 per assignment"
    marketplace = True
    confirms_later = True
    policy_bonus = True

    # -- publishing and HIT management (app.services.recruiting.mturk_publish) ------------------
    def plan_warnings(self, hits: Sequence[PlannedHit]) -> list[str]:
        warnings = super().plan_warnings(hits)
        if any(h.reward < ledger.CENT for h in hits):
            raise InvalidInput("a HIT's reward would be $0.00; MTurk needs at least $0.01")
        return warnings

    def preflight(self, settings: Settings, project: Project, *, client: Any = None) -> MTurkClient:
        mt = client or client_for(settings, project)
        mturk_publish.check_task_url(settings, mt)
        return mt

    def endpoint(self, client: Any) -> str | None:
        return str(client.endpoint_url)

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
        return mturk_publish.publish_rows(
            session=session,
            settings=settings,
            project=project,
            rows=rows,
            result=result,
            reconcile=reconcile,
            mt=client,
        )

    def refresh_hit(
        self, session: Session, settings: Settings, hit: Hit, *, client: Any = None
    ) -> None:
        mturk_publish.refresh(session=session, settings=settings, row=hit, mt=client)

    def expire_hit(
        self, session: Session, settings: Settings, hit: Hit, *, client: Any = None
    ) -> None:
        mturk_publish.expire(session=session, settings=settings, row=hit, mt=client)

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
        mturk_publish.extend(
            session=session,
            settings=settings,
            row=hit,
            assignments=assignments,
            seconds=seconds,
            cost=cost,
            mt=client,
        )

    def delete_hit(
        self, session: Session, settings: Settings, hit: Hit, *, client: Any = None
    ) -> None:
        mturk_publish.delete(session=session, settings=settings, row=hit, mt=client)

    # -- task page -----------------------------------------------------------------------------
    def identify(
        self, session: Session, settings: Settings, hit: Hit, params: dict[str, str]
    ) -> Identity | None:
        return identify(settings, hit, params)

    def completion_code(self, settings: Settings, ident: Identity) -> str | None:
        return None

    def return_form(
        self, ident: Identity, answers: list[tuple[str, str]]
    ) -> tuple[str | None, list[tuple[str, str]]]:
        return external_submit(ident, answers)

    def client(self, settings: Settings, project: Project | None) -> MTurkClient:
        return client_for(settings, project)

    # -- sync ----------------------------------------------------------------------------------
    def sync(
        self,
        session: Session,
        settings: Settings,
        project: Project,
        out: SyncResult,
        *,
        client: Any = None,
    ) -> Any:
        return mturk_sync.sync_hits(
            session=session, settings=settings, project=project, out=out, mt=client
        )

    def after_review(
        self,
        session: Session,
        settings: Settings,
        project: Project,
        out: SyncResult,
        *,
        client: Any = None,
    ) -> None:
        if not mturk_sync.has_hits(session=session, project=project):
            return  # nothing on MTurk to exclude anyone from
        with explain_mturk("AssociateQualificationWithWorker"):
            out.exclusions_changed = exclusion.refresh(session=session, mt=client, project=project)

    def ready_for_review(self, ha: HitAssignment) -> bool:
        return ha.mturk_status == "Submitted"  # else MTurk has not seen it yet (sync later)

    # -- review --------------------------------------------------------------------------------
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
        mt = client or client_for(settings, project_of(session, hit))
        with explain_mturk("ApproveAssignment"):
            if override_rejection:
                _override(mt, assignment_id, feedback)
            else:
                mt.ensure_approved(assignment_id, feedback=feedback)
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
        mt = client or client_for(settings, project_of(session, hit))
        with explain_mturk("RejectAssignment"):
            mt.ensure_rejected(assignment_id, feedback=feedback[:MAX_TEXT])
        return "Rejected"

    def bonus_key(self, assignment_id: str, amount: Decimal) -> str:
        return f"bonus:{_bonus_token(assignment_id, amount)}"

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
        mt = client or client_for(settings, project_of(session, hit))
        with explain_mturk("SendBonus"):
            mt.send_bonus(
                worker_id=worker_id,
                assignment_id=assignment_id,
                amount=str(amount),
                reason=reason[:MAX_TEXT],
                unique_request_token=_bonus_token(assignment_id, amount),
            )
        fee = ledger.fee(amount)
        return amount + fee, f"${amount} bonus + ${fee} fee"

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
        # Only MTurk-shaped ids are MTurk workers; imported workers (ids from a released CSV)
        # are blocked here alone.
        worker_id = worker.external_id
        if not BLOCKABLE_WORKER_ID.fullmatch(worker_id):
            return
        project = session.get(Project, project_id) if project_id is not None else None
        mt = client or client_for(settings, project)
        with explain_mturk("CreateWorkerBlock" if blocked else "DeleteWorkerBlock"):
            if blocked:
                mt.create_worker_block(worker_id, reason[:MAX_TEXT])
            else:
                mt.delete_worker_block(worker_id, reason[:MAX_TEXT] or None)


def _bonus_token(assignment_id: str, amount: Decimal) -> str:
    return f"bonus-{assignment_id}-{int(amount * 100)}"[:MAX_TOKEN]
