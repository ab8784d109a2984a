"""MTurk's side of publishing (docs/MTURK.md §2-3): HITs created idempotently from intent rows,
HIT types, and the HIT operations (GetHIT, expire, extend, delete).

Publishing (app.services.publishing writes every row in state ``intent`` with its deterministic
``UniqueRequestToken`` and ``RequesterAnnotation`` and commits them before this module is called):
a resume first looks for each intent in ``ListHITs`` by its annotation (that covers tokens MTurk
has forgotten after 24 h) and adopts what it finds; the others are created with their token,
adopting the existing HIT when MTurk answers ``HitAlreadyExists``
(``MTurkClient.create_hit_idempotent``). A row meant for another endpoint than the client's
fails; MTurk's 4xx refusals fail the row (5xx are raised, the row stays ``intent``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.errors import Conflict, InvalidInput
from app.models import Hit, HitType, Project
from app.mturk.client import MTurkClient
from app.mturk.errors import MTurkRequestError
from app.mturk.rules import explain_mturk
from app.mturk.xml import QuestionXMLError, external_question_xml
from app.services import ledger
from app.services.publishing.plan import aware
from app.services.publishing.settings import hit_options
from app.services.recruiting import exclusion
from app.services.recruiting._builtin import mark_published
from app.services.recruiting.links import mturk_client, task_url

if TYPE_CHECKING:
    from app.services.publishing import PublishResult


def project_of(session: Session, hit: Hit) -> Project:
    """The HIT's project (for the client: its live switch and spending cap)."""
    project = session.get(Project, hit.project_id)
    assert project is not None  # FK
    return project


def check_task_url(settings: Settings, mt: MTurkClient) -> None:
    """MTurk only frames https task pages (the local emulator may allow http)."""
    try:
        external_question_xml(task_url(settings, 1), 0, require_https=mt.mode != "custom")
    except QuestionXMLError as exc:
        raise InvalidInput(
            f"the task page URL cannot be used by MTurk ({exc}); set PUBLIC_BASE_URL to the "
            "service's public https:// address"
        ) from None


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
    properties: dict[str, Any] = {
        "Title": title[:128],
        "Description": description[:2000],
        "Keywords": str(options["keywords"])[:1000],
        "Reward": str(reward),
        "AssignmentDurationInSeconds": int(options["assignment_duration_seconds"]),
        "AutoApprovalDelayInSeconds": int(options["auto_approval_delay_seconds"]),
    }
    if qualifications:
        properties["QualificationRequirements"] = qualifications
    if qualifications and len(qualifications) > 1:
        # A top-up HIT's own requirement: not cached (MTurk returns the same HITTypeId for
        # identical properties anyway). The project-wide requirement alone is cached below.
        return str(mt.create_hit_type(**properties))
    row = session.scalar(
        select(HitType).where(
            HitType.project_id == project.id,
            HitType.endpoint_url == mt.endpoint_url,
            HitType.reward == float(reward),
        )
    )
    if row is not None:
        return row.hit_type_id
    type_id = mt.create_hit_type(**properties)
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


def apply_hit(row: Hit, hit: dict[str, Any]) -> None:
    """Copy MTurk's view of a HIT (GetHIT, CreateHIT, ListHITs) onto its row."""
    row.mturk_hit_id = hit["HITId"]
    row.hit_type_id = hit.get("HITTypeId", row.hit_type_id)
    expiration = hit.get("Expiration")
    if isinstance(expiration, datetime):
        row.expires_at = aware(expiration)
    row.mturk_status = hit.get("HITStatus")
    row.n_pending = int(hit.get("NumberOfAssignmentsPending", 0))
    row.n_available = int(hit.get("NumberOfAssignmentsAvailable", 0))
    row.n_completed = int(hit.get("NumberOfAssignmentsCompleted", 0))


def publish_rows(
    *,
    session: Session,
    settings: Settings,
    project: Project,
    rows: list[Hit],
    result: PublishResult,
    reconcile: bool,
    mt: MTurkClient | None = None,
) -> PublishResult:
    """Create (or adopt) the HIT of every intent row; see the module doc."""
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
            apply_hit(row, existing)
            result.adopted += 1
            mark_published(session=session, row=row)
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
        apply_hit(row, created.hit)
        row.hit_type_id = type_id
        if created.adopted:
            result.adopted += 1
        else:
            result.created += 1
        mark_published(session=session, row=row)
    return result


# -- HIT management ----------------------------------------------------------------------
def published_id(row: Hit) -> str:
    """The HIT's MTurk id (409 while it is not published on MTurk)."""
    if row.state != "published" or not row.mturk_hit_id:
        raise Conflict(
            f"HIT {row.id} is {row.state}, not published on MTurk; run `frtrain hits publish` "
            "to finish publishing"
        )
    return row.mturk_hit_id


def refresh(
    *, session: Session, settings: Settings, row: Hit, mt: MTurkClient | None = None
) -> None:
    """Update a HIT row from GetHIT (status and assignment counts)."""
    if row.state != "published" or not row.mturk_hit_id:
        return
    mt = mt or mturk_client(settings, project_of(session, row))
    with explain_mturk("GetHIT"):
        hit = mt.get_hit(row.mturk_hit_id)
    apply_hit(row, hit)
    row.synced_at = datetime.now(UTC)
    session.commit()


def expire(*, session: Session, settings: Settings, row: Hit, mt: MTurkClient | None) -> None:
    mturk_id = published_id(row)
    mt = mt or mturk_client(settings, project_of(session, row))
    with explain_mturk("UpdateExpirationForHIT"):
        mt.expire_hit(mturk_id)
    row.expires_at = datetime.now(UTC)
    refresh(session=session, settings=settings, row=row, mt=mt)


def extend(
    *,
    session: Session,
    settings: Settings,
    row: Hit,
    assignments: int | None,
    seconds: int | None,
    cost: Decimal,
    mt: MTurkClient | None,
) -> None:
    """More assignments (idempotent: one token per resulting total; ``cost`` recorded in the
    ledger) and/or a later expiry."""
    mturk_id = published_id(row)
    mt = mt or mturk_client(settings, project_of(session, row))
    if assignments:
        total = row.max_assignments + assignments
        token = f"{row.token[:40]}-add{total}"
        with explain_mturk("CreateAdditionalAssignmentsForHIT"):
            mt.create_additional_assignments(mturk_id, assignments, unique_request_token=token)
        row.max_assignments = total
        ledger.record(
            session=session,
            project_id=row.project_id,
            hit_id=row.id,
            kind="extend",
            amount=cost,
            key=f"extend:{token}",
            note=f"+{assignments} assignments",
        )
        session.commit()
    if seconds:
        current = aware(row.expires_at or datetime.now(UTC))
        new = max(current, datetime.now(UTC)) + timedelta(seconds=seconds)
        with explain_mturk("UpdateExpirationForHIT"):
            mt.update_expiration(mturk_id, new.replace(microsecond=0))
    refresh(session=session, settings=settings, row=row, mt=mt)


def delete(*, session: Session, settings: Settings, row: Hit, mt: MTurkClient | None) -> None:
    mturk_id = published_id(row)
    mt = mt or mturk_client(settings, project_of(session, row))
    with explain_mturk("DeleteHIT"):
        mt.delete_hit(mturk_id)
    row.mturk_status = "Disposed"
