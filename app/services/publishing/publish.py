"""Publishing a planned batch idempotently: intent rows, HIT types, resume after a crash."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.errors import InvalidInput
from app.models import (
    Hit,
    HitType,
    Project,
)
from app.mturk.client import MTurkClient
from app.mturk.errors import MTurkRequestError
from app.mturk.xml import QuestionXMLError, external_question_xml
from app.services import ledger, recruiting
from app.services.projects import get_project
from app.services.publishing.plan import PublishPlan, _aware, annotation_for, hit_token, plan_batch
from app.services.publishing.settings import BUILTIN_PROVIDERS, hit_options
from app.services.recruiting import exclusion
from app.services.recruiting.links import mturk_client, task_url


# -- publishing --------------------------------------------------------------------------
@dataclass
class PublishResult:
    plan: PublishPlan | None
    dry_run: bool
    hits: list[Hit]
    resumed: int = 0
    adopted: int = 0
    created: int = 0
    failed: list[str] = field(default_factory=list)


def publish_batch(
    *,
    session: Session,
    settings: Settings,
    project_id: int,
    dry_run: bool = False,
    max_assignments: int | None = None,
    max_per_hit: int | None = None,
    groups: Sequence[tuple[Sequence[int], int]] | None = None,
    mt: MTurkClient | None = None,
    max_hits: int | None = None,
) -> PublishResult:
    """Plan a batch and publish it; first finishes any batch a crash left half-published.

    A dry run returns the plan and its cost estimate and writes nothing. The budget cap is
    checked against the whole batch before anything is written. At most `max_hits` (default
    Settings.max_hits_per_publish) HITs are created; the plan says how many remain.
    """
    project = get_project(session=session, project_id=project_id)
    pending = _pending(session, project.id)
    if pending:
        if dry_run:
            return PublishResult(plan=None, dry_run=True, hits=pending)
        return _publish_rows(session, settings, project, pending, mt=mt, reconcile=True)
    plan = plan_batch(
        session=session,
        project_id=project.id,
        max_assignments=max_assignments,
        max_per_hit=max_per_hit,
        groups=groups,
    )
    if groups is None:  # an explicit replay is published whole, as given
        plan.bound(max_hits or settings.max_hits_per_publish)
    if dry_run:
        session.rollback()  # publish_settings defaults may have been flushed
        return PublishResult(plan=plan, dry_run=True, hits=[])
    if not plan.hits:
        return PublishResult(plan=plan, dry_run=False, hits=[])
    ledger.check_budget(
        session=session,
        project_id=project.id,
        cap=project.budget_cap,
        extra=plan.total_cost,
        what="this batch",
    )
    if project.provider not in BUILTIN_PROVIDERS:
        # The live-mode switches are checked before any intent is written.
        recruiting.get(project.provider).preflight(settings, project)
    options = hit_options(session=session, project_id=project.id)
    endpoint = None
    if project.provider == "mturk":
        mt = mt or mturk_client(settings, project)
        endpoint = mt.endpoint_url
        _check_task_url(settings, mt)
    rows = []
    for planned in plan.hits:
        token = hit_token(
            project.id, plan.batch, planned.seq, planned.items, planned.max_assignments
        )
        rows.append(
            Hit(
                project_id=project.id,
                batch=plan.batch,
                seq=planned.seq,
                provider=project.provider,
                token=token,
                annotation=annotation_for(project.id, plan.batch, planned.seq, token),
                state="intent",
                endpoint_url=endpoint,
                max_assignments=planned.max_assignments,
                reward=float(planned.reward),
                n_questions=len(planned.items),
                items=planned.items,
                lifetime_seconds=int(options["lifetime_seconds"]),
                n_pending=0,
                n_available=0,
                n_completed=0,
            )
        )
    session.add_all(rows)
    session.commit()  # the intent is durable before MTurk hears of it
    result = _publish_rows(session, settings, project, rows, mt=mt, reconcile=False)
    result.plan = plan
    result.resumed = 0
    return result


def _check_task_url(settings: Settings, mt: MTurkClient) -> None:
    """MTurk only frames https task pages (the local emulator may allow http)."""
    try:
        external_question_xml(task_url(settings, 1), 0, require_https=mt.mode != "custom")
    except QuestionXMLError as exc:
        raise InvalidInput(
            f"the task page URL cannot be used by MTurk ({exc}); set PUBLIC_BASE_URL to the "
            "service's public https:// address"
        ) from None


def resume(
    *, session: Session, settings: Settings, project_id: int, mt: MTurkClient | None = None
) -> PublishResult:
    """Publish whatever a crashed run left in state ``intent`` (nothing else)."""
    project = get_project(session=session, project_id=project_id)
    return _publish_rows(
        session, settings, project, _pending(session, project.id), mt=mt, reconcile=True
    )


def _pending(session: Session, project_id: int) -> list[Hit]:
    return list(
        session.scalars(
            select(Hit).where(Hit.project_id == project_id, Hit.state == "intent").order_by(Hit.id)
        )
    )


def _ensure_hit_type(
    session: Session,
    mt: MTurkClient,
    project: Project,
    reward: Decimal,
    options: dict[str, Any],
    qualifications: list[dict[str, Any]] | None = None,
) -> str:
    title = options["title"] or f"{project.name}: answer questions about examples"
    description = options["description"] or project.question
    if qualifications and len(qualifications) > 1:
        # A top-up HIT's own requirement: not cached (MTurk returns the same HITTypeId for
        # identical properties anyway). The project-wide requirement alone is cached below.
        return str(
            mt.create_hit_type(
                Title=title[:128],
                Description=description[:2000],
                Keywords=str(options["keywords"])[:1000],
                Reward=str(reward),
                AssignmentDurationInSeconds=int(options["assignment_duration_seconds"]),
                AutoApprovalDelayInSeconds=int(options["auto_approval_delay_seconds"]),
                QualificationRequirements=qualifications,
            )
        )
    row = session.scalar(
        select(HitType).where(
            HitType.project_id == project.id,
            HitType.endpoint_url == mt.endpoint_url,
            HitType.reward == float(reward),
        )
    )
    if row is not None:
        return row.hit_type_id
    type_id = mt.create_hit_type(
        Title=title[:128],
        Description=description[:2000],
        Keywords=str(options["keywords"])[:1000],
        Reward=str(reward),
        AssignmentDurationInSeconds=int(options["assignment_duration_seconds"]),
        AutoApprovalDelayInSeconds=int(options["auto_approval_delay_seconds"]),
        **({"QualificationRequirements": qualifications} if qualifications else {}),
    )
    session.add(
        HitType(
            project_id=project.id,
            endpoint_url=mt.endpoint_url,
            reward=float(reward),
            hit_type_id=type_id,
        )
    )
    session.commit()
    return str(type_id)


def _apply_mturk_hit(row: Hit, hit: dict[str, Any]) -> None:
    row.mturk_hit_id = hit["HITId"]
    row.hit_type_id = hit.get("HITTypeId", row.hit_type_id)
    expiration = hit.get("Expiration")
    if isinstance(expiration, datetime):
        row.expires_at = _aware(expiration)
    row.mturk_status = hit.get("HITStatus")
    row.n_pending = int(hit.get("NumberOfAssignmentsPending", 0))
    row.n_available = int(hit.get("NumberOfAssignmentsAvailable", 0))
    row.n_completed = int(hit.get("NumberOfAssignmentsCompleted", 0))


def _mark_published(session: Session, row: Hit) -> None:
    row.state = "published"
    row.published_at = datetime.now(UTC)
    row.error = None
    cost = ledger.hit_cost(
        Decimal(str(row.reward)), row.max_assignments, marketplace=row.provider == "mturk"
    )
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


def _publish_rows(
    session: Session,
    settings: Settings,
    project: Project,
    rows: list[Hit],
    *,
    mt: MTurkClient | None,
    reconcile: bool,
) -> PublishResult:
    result = PublishResult(
        plan=None, dry_run=False, hits=rows, resumed=len(rows) if reconcile else 0
    )
    if not rows:
        return result
    if project.provider not in BUILTIN_PROVIDERS:
        return recruiting.get(project.provider).publish_rows(
            session, settings, project, rows, result, reconcile=reconcile
        )
    if project.provider == "link":
        for row in rows:
            row.expires_at = datetime.now(UTC) + timedelta(seconds=row.lifetime_seconds)
            _mark_published(session, row)
            result.created += 1
        return result
    mt = mt or mturk_client(settings, project)
    options = hit_options(session=session, project_id=project.id)
    found: dict[str, dict[str, Any]] = {}
    if reconcile:
        wanted = {row.annotation for row in rows}
        for hit in mt.iter_hits():
            if hit.get("RequesterAnnotation") in wanted:
                found[hit["RequesterAnnotation"]] = hit
    for row in rows:
        if row.endpoint_url and row.endpoint_url != mt.endpoint_url:
            row.state = "failed"
            row.error = f"intent was for {row.endpoint_url}, client targets {mt.endpoint_url}"
            session.commit()
            result.failed.append(row.token)
            continue
        row.endpoint_url = mt.endpoint_url
        existing = found.get(row.annotation)
        if existing is not None:
            _apply_mturk_hit(row, existing)
            result.adopted += 1
            _mark_published(session, row)
            continue
        reward = ledger.money(row.reward)
        quals = None
        if options.get("exclude_before_accept", True):
            quals = exclusion.requirements_for(session=session, mt=mt, project=project, hit=row)
        type_id = _ensure_hit_type(session, mt, project, reward, options, quals)
        question = external_question_xml(
            task_url(settings, row.id),
            int(options["frame_height"]),
            require_https=mt.mode != "custom",
        )
        try:
            created = mt.create_hit_idempotent(
                HITTypeId=type_id,
                LifetimeInSeconds=row.lifetime_seconds,
                MaxAssignments=row.max_assignments,
                Question=question,
                RequesterAnnotation=row.annotation,
                UniqueRequestToken=row.token,
            )
        except MTurkRequestError as exc:
            if exc.status_code >= 500:
                raise
            row.state = "failed"
            row.error = exc.detail[:2000]
            session.commit()
            result.failed.append(row.token)
            continue
        _apply_mturk_hit(row, created.hit)
        row.hit_type_id = type_id
        if created.adopted:
            result.adopted += 1
        else:
            result.created += 1
        _mark_published(session, row)
    return result


def publish_builtin_rows(
    *,
    session: Session,
    settings: Settings,
    project: Project,
    rows: list[Hit],
    reconcile: bool,
    mt: MTurkClient | None = None,
) -> PublishResult:
    """Publish intent rows of a built-in provider (``mturk``, ``link``); the providers' entry."""
    return _publish_rows(session, settings, project, rows, mt=mt, reconcile=reconcile)
