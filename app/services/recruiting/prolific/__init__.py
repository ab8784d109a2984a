"""The Prolific provider (docs/PROLIFIC.md): one study per batch, participants through one study
URL.

Publishing: the batch's question sets are :class:`~app.models.Hit` rows; a
:class:`~app.models.ProlificStudy` row (state ``intent``) with an ``internal_name`` key is
committed before Prolific is called. The draft is created with one external URL carrying
``{{%PROLIFIC_PID%}}``, ``{{%STUDY_ID%}}`` and ``{{%SESSION_ID%}}``, places = the sets' places,
reward per place = questions × reward per answer, times, one completion code and eligibility
filters excluding participants who already answered, were filtered out or were blocked; then it
is published by its ``PUBLISH`` transition. Prolific has no request tokens, so a lost reply or a
crash is resolved by listing our Prolific project's studies and adopting the draft whose
``internal_name`` (and ``metadata``) is ours (docs/PROLIFIC.md §7 recipe); a publish is retried only
while the study still reads ``UNPUBLISHED``.

Participants: ``/prolific/{study}/start`` binds (participant, study, session) to one question set
on the first visit; the task page then works as for any provider, and its answers are *held*
until Prolific lists the submission as finished (AWAITING REVIEW or APPROVED); only then do they
become answers. A participant cannot take a study twice nor someone else's session.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.config import Settings, get_settings
from app.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.models import (
    Assignment,
    Hit,
    HitAssignment,
    Project,
    ProlificSession,
    ProlificStudy,
    Worker,
)
from app.prolific.client import ProlificRequestError, resolve_target
from app.services import ledger
from app.services.recruiting.base import Identity, RecruitingProvider
from app.services.recruiting.prolific.common import (
    HOURLY_FLOOR,
    REJECTION_CATEGORY,
    REJECTION_TAIL,
    SECONDS_PER_QUESTION,
    WORKER_PREFIX,
    account,
    client_for,
    fees,
    now,
    worker_id,
)
from app.services.recruiting.prolific.participants import (
    check_ids,
    start,
)
from app.services.recruiting.prolific.publish import (
    publish_rows,
)
from app.services.recruiting.prolific.review import (
    apply_submission,
    blocklist_group,
    bulk_approve,
    pay_bonus,
    request_return,
    reviewable,
)

if TYPE_CHECKING:
    from app.services.publishing import PublishResult
    from app.services.recruiting.sync import SyncResult

__all__ = ["ProlificProvider", "bulk_approve", "pay_bonus", "request_return", "start", "worker_id"]


class ProlificProvider(RecruitingProvider):
    """Prolific through its API (app.prolific.client); what it does not have (a place to take,
    a return form, a shared client, a step after the review) is the interface's default."""

    name = "prolific"
    fee_rules = (
        "Prolific: reward per place + a service fee (PROLIFIC_FEE_PERCENT, 33.33% by default) "
        "on rewards and bonuses + VAT on the fee (PROLIFIC_VAT_PERCENT)"
    )
    holds_answers = True
    confirms_later = False
    policy_bonus = False

    def hit_cost(self, reward: Decimal, assignments: int) -> ledger.HitCost:
        settings = get_settings()
        fee, vat = fees(settings, ledger.money(reward))
        return ledger.HitCost(reward=ledger.money(reward), fee=fee + vat, assignments=assignments)

    def plan_warnings(self, hits: list[tuple[int, Decimal]]) -> list[str]:
        out = []
        for n, reward in hits:
            eta = max(1, math.ceil(n * SECONDS_PER_QUESTION / 60))
            hourly = ledger.money(Decimal(reward) * 60 / eta)
            if hourly < HOURLY_FLOOR:
                out.append(
                    f"a {n}-question set pays {reward} for an estimated {eta} min = {hourly}/h, "
                    f"below Prolific's minimum of {HOURLY_FLOOR}/h ($8; £6): raise "
                    "reward_per_answer before a real study"
                )
                break
        return out

    def preflight(self, settings: Settings, project: Project) -> None:
        resolve_target(
            settings, project_allow_live=bool(project.allow_live), spending_cap=project.budget_cap
        )

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
        return publish_rows(
            session=session,
            settings=settings,
            project=project,
            rows=rows,
            result=result,
            reconcile=reconcile,
        )

    def identify(
        self, session: Session, settings: Settings, hit: Hit, params: dict[str, str]
    ) -> Identity:
        pid, prolific_study, sid = check_ids(params)
        study = session.scalar(
            select(ProlificStudy).where(
                ProlificStudy.project_id == hit.project_id, ProlificStudy.batch == hit.batch
            )
        )
        if study is None or study.study_id != prolific_study:
            raise NotFound(f"STUDY_ID {prolific_study} is not task {hit.id}'s study")
        return Identity(prolific_study, sid, worker_id(pid), "")

    def admit(self, session: Session, hit: Hit, ident: Identity) -> None:
        row = session.get(ProlificSession, ident.assignment_id)
        if (
            row is None
            or row.hit_id != hit.id
            or worker_id(row.participant_id) != ident.worker_id
            or row.state == "released"
        ):
            raise Forbidden("open this study from Prolific: this session was not started here")

    def hold(
        self,
        session: Session,
        hit: Hit,
        assignment: Assignment,
        ha: HitAssignment,
        values: dict[int, int],
    ) -> None:
        row = session.get(ProlificSession, assignment.external_id)
        if row is None or row.state != "open":
            raise Conflict("this session was already submitted; nothing was changed")
        row.answers = {str(k): int(v) for k, v in values.items()}
        row.state = "held"
        row.submitted_at = now()

    def finish(self, session: Session, settings: Settings, hit: Hit, ident: Identity) -> str:
        study = session.scalar(
            select(ProlificStudy).where(
                ProlificStudy.project_id == hit.project_id, ProlificStudy.batch == hit.batch
            )
        )
        assert study is not None
        project = session.get(Project, hit.project_id)
        assert project is not None
        target = resolve_target(
            settings, project_allow_live=bool(project.allow_live), spending_cap=project.budget_cap
        )
        return f"{target.app_url}/submissions/complete?cc={study.completion_code}"

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
        self._sync(session, settings, project, out)
        return client

    def _sync(
        self, session: Session, settings: Settings, project: Project, out: SyncResult
    ) -> None:
        studies = list(
            session.scalars(
                select(ProlificStudy)
                .where(ProlificStudy.project_id == project.id, ProlificStudy.state == "published")
                .order_by(ProlificStudy.id)
            )
        )
        if not studies:
            return
        with client_for(settings, project) as client:
            for study in studies:
                assert study.study_id is not None
                live = client.get_study(study.study_id)
                study.status = str(live["status"])
                for sub in client.study_submissions(study.study_id):
                    out.assignments_seen += 1
                    apply_submission(
                        session=session,
                        client=client,
                        project=project,
                        study=study,
                        sub=sub,
                        out=out,
                    )
                study.synced_at = now()
                for hit in session.scalars(
                    select(Hit).where(Hit.project_id == project.id, Hit.batch == study.batch)
                ):
                    hit.mturk_status = study.status
                    hit.synced_at = study.synced_at
                    out.hits += 1
                session.commit()

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
        project = session.get(Project, hit.project_id)
        assert project is not None
        client = client_for(settings, project)
        try:  # idempotent; refused until the completion status has landed
            client.transition_submission(assignment_id, {"action": "APPROVE"})
        except ProlificRequestError:
            if reviewable(client, assignment_id) != "APPROVED":
                client.transition_submission(assignment_id, {"action": "APPROVE"})
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
        message = feedback.strip()
        if len(message) < 100:  # Prolific requires at least 100 characters (docs/PROLIFIC.md §3)
            message = (message + REJECTION_TAIL).strip()
        project = session.get(Project, hit.project_id)
        assert project is not None
        with client_for(settings, project) as client:
            status = reviewable(client, assignment_id)
            if status != "REJECTED":
                client.transition_submission(
                    assignment_id,
                    {
                        "action": "REJECT",
                        "message": message[:2000],
                        "rejection_category": REJECTION_CATEGORY,
                    },
                )
        return None

    def bonus_key(self, assignment_id: str, amount: Decimal) -> str:
        return f"bonus:{self.name}-{assignment_id}-{int(amount * 100)}"

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
        cost = pay_bonus(
            session=session, settings=settings, hit=hit, submission_id=assignment_id, amount=amount
        )
        return cost, f"{amount} bonus + fees on {self.name}"

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
        if project_id is None:
            raise InvalidInput("blocking a Prolific participant needs the project (project_id)")
        project = session.get(Project, project_id)
        if project is None:
            raise NotFound(f"project {project_id} does not exist")
        pid = worker.external_id[len(WORKER_PREFIX) :]
        with client_for(settings, project) as client:
            acct = account(session=session, settings=settings, client=client, project=project)
            group = blocklist_group(session=session, client=client, acct=acct, project=project)
            if blocked:
                client.add_to_group(group, [pid])
            else:
                client.remove_from_group(group, [pid])
