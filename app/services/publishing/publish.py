"""Publishing a planned batch idempotently: intent rows committed before the marketplace is called,
resume after a crash. The marketplace's side (creating or adopting what the rows describe) is the
project's recruiting provider's ``publish_rows`` (app.services.recruiting)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.models import Hit, Project
from app.services import ledger, recruiting
from app.services.projects import get_project
from app.services.publishing.plan import PublishPlan, annotation_for, hit_token, plan_batch
from app.services.publishing.settings import hit_options


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
    mt: Any = None,
    max_hits: int | None = None,
) -> PublishResult:
    """Plan a batch and publish it; first finishes any batch a crash left half-published.

    A dry run returns the plan and its cost estimate and writes nothing. The budget cap is
    checked against the whole batch before anything is written. At most `max_hits` (default
    Settings.max_hits_per_publish) HITs are created; the plan says how many remain. ``mt``: the
    marketplace client to publish with (default: the provider's own for the project).
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
    provider = recruiting.get(project.provider)
    # The marketplace's switches (live mode, the task page's URL) are checked before any intent
    # is written.
    mt = provider.preflight(settings, project, client=mt)
    options = hit_options(session=session, project_id=project.id)
    endpoint = provider.endpoint(mt)
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
    session.commit()  # the intent is durable before the marketplace hears of it
    result = _publish_rows(session, settings, project, rows, mt=mt, reconcile=False)
    result.plan = plan
    result.resumed = 0
    return result


def resume(
    *, session: Session, settings: Settings, project_id: int, mt: Any = None
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


def _publish_rows(
    session: Session,
    settings: Settings,
    project: Project,
    rows: list[Hit],
    *,
    mt: Any,
    reconcile: bool,
) -> PublishResult:
    result = PublishResult(
        plan=None, dry_run=False, hits=rows, resumed=len(rows) if reconcile else 0
    )
    if not rows:
        return result
    return recruiting.get(project.provider).publish_rows(
        session, settings, project, rows, result, reconcile=reconcile, client=mt
    )
