"""HIT management (admin): publish (with a dry-run cost estimate), list/get, expire,
extend, delete, assignments, approve/reject/bonus, block/unblock, sync, spend ledger, link invites.

MTurk's refusals come back as 404/409/422 bodies carrying ``turk_error_code`` and
``allowed_when`` (the state in which the call would be allowed).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from app.api.deps import MAX_ID, AdminDep, IdPath, SessionDep, SettingsDep
from app.schemas.common import RequestModel
from app.schemas.hits import AssignmentPublic, HitPublic
from app.schemas.review import ReviewPolicy, ReviewPolicyPatch, policy_changes
from app.services import ledger, projects, publishing
from app.services.recruiting import review, sync

router = APIRouter(tags=["hits"])
#: Largest `max_hits` a publish request may name (Settings.max_hits_per_publish may be lower).
MAX_HITS_CEILING = 100_000
ExternalId = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:@-]+$")]


class _In(RequestModel):
    """Unknown fields and NUL characters (Postgres cannot store them) are a 422."""


class PublishRequest(_In):
    dry_run: bool = False
    max_assignments: int | None = Field(
        default=None,
        ge=1,
        le=1000,
        description="answers asked per example in this batch (default N)",
    )
    max_per_hit: int | None = Field(
        default=None,
        ge=1,
        le=1000,
        description="split HITs above this many assignments (9: cheap tier)",
    )
    max_hits: int | None = Field(
        default=None,
        ge=1,
        le=MAX_HITS_CEILING,
        description="create at most this many HITs now (default and upper bound: "
        "MAX_HITS_PER_PUBLISH); `remaining_hits` in the answer says how many the batch still "
        "needs: publish again",
    )


class HitsPublic(BaseModel):
    data: list[HitPublic]
    count: int


class PublishResponse(BaseModel):
    dry_run: bool
    batch: int | None
    estimate: dict[str, Any] | None
    warnings: list[str]
    plan: list[dict[str, Any]]
    hits: list[HitPublic]
    created: int
    adopted: int
    resumed: int
    failed: list[str]
    remaining_hits: int = 0


class ExtendRequest(_In):
    """Add assignments, time, or both (at least one)."""

    model_config = ConfigDict(
        json_schema_extra=lambda schema: schema.update(
            anyOf=[
                {"required": [name], "properties": {name: {"type": "integer"}}}
                for name in ("assignments", "seconds")
            ]
        )
    )

    assignments: int | None = Field(default=None, ge=1, le=1000)
    seconds: int | None = Field(default=None, ge=1, le=31_536_000)


class ApproveRequest(_In):
    feedback: str | None = Field(default=None, max_length=1024)
    override_rejection: bool = False


#: $0.01 to $100.00 (review.bonus), at most two decimals.
DOLLARS = r"^(?:100(?:\.0{1,2})?|[1-9][0-9]?(?:\.[0-9]{1,2})?|0?\.(?:0[1-9]|[1-9][0-9]?))$"
#: Text with at least one non-blank character and no NUL (what the services accept).
NON_BLANK = r"^[^\u0000]*[^\s\u0000][^\u0000]*$"


class RejectRequest(_In):
    feedback: str = Field(min_length=1, max_length=1024, pattern=NON_BLANK)


class BonusRequest(_In):
    amount: str = Field(
        pattern=DOLLARS,
        max_length=10,
    )
    reason: str = Field(min_length=1, max_length=1024, pattern=NON_BLANK)


class BlockRequest(_In):
    reason: str = Field(min_length=1, max_length=1024, pattern=NON_BLANK)
    project_id: int | None = Field(default=None, ge=1, le=MAX_ID)


class SpendEntryPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    hit_id: int | None
    kind: str
    amount: float
    key: str
    note: str
    created_at: datetime


class SpendPublic(BaseModel):
    project_id: int
    budget_cap: float | None
    totals: dict[str, float]
    entries: list[SpendEntryPublic]


class PublishSettingsPublic(BaseModel):
    project_id: int
    hit_options: dict[str, Any]
    review_policy: ReviewPolicy


class HitOptionsUpdate(_In):
    """HIT properties (docs/MTURK.md limits); null title/description: derived from the project."""

    title: str | None = Field(default=None, min_length=1, max_length=128)
    description: str | None = Field(default=None, min_length=1, max_length=2000)
    keywords: str = Field(default="", max_length=1000)
    lifetime_seconds: int = Field(default=7 * 86400, ge=30, le=31_536_000)
    assignment_duration_seconds: int = Field(default=1800, ge=30, le=31_536_000)
    auto_approval_delay_seconds: int = Field(default=3 * 86400, ge=0, le=2_592_000)
    frame_height: int = Field(default=0, ge=0, le=10_000, description="0: MTurk's automatic")
    adaptive_n_min: int | None = Field(
        default=None,
        ge=1,
        le=100,
        description="Adaptive answer budget (app/crowd/budget.py): null is off; else an example "
        "gets no more answers once it has at least this many and its label is settled",
    )
    adaptive_c: float = Field(
        default=1.5, gt=0, le=10, description="How settled: |mean - threshold| sqrt(n) / sd >= c"
    )
    exclude_before_accept: bool = Field(
        default=True,
        description="Keep workers who must not take a HIT out by a qualification before they "
        "accept (answered its examples, filtered, blocked)",
    )


class PublishSettingsUpdate(_In):
    """Change some options: only the keys sent change."""

    hit_options: HitOptionsUpdate | None = None
    review_policy: ReviewPolicyPatch | None = None


class InviteRequest(_In):
    workers: list[Annotated[str, Field(min_length=1, max_length=120)]] = Field(
        min_length=1, max_length=1000
    )


@router.post("/projects/{project_id}/hits/publish", response_model=PublishResponse)
def publish(
    project_id: IdPath,
    session: SessionDep,
    settings: SettingsDep,
    _: AdminDep,
    body: Annotated[PublishRequest, Body()] = PublishRequest(),
) -> PublishResponse:
    """Publish the next batch (or finish a half-published one). ``dry_run``: plan and cost only.
    One request creates at most ``max_hits`` HITs (never more than MAX_HITS_PER_PUBLISH); call
    again while ``remaining_hits`` > 0."""
    limit = settings.max_hits_per_publish
    result = publishing.publish_batch(
        session=session,
        settings=settings,
        project_id=project_id,
        dry_run=body.dry_run,
        max_assignments=body.max_assignments,
        max_per_hit=body.max_per_hit,
        max_hits=min(body.max_hits or limit, limit),
    )
    plan = result.plan
    return PublishResponse(
        dry_run=result.dry_run,
        batch=plan.batch if plan else (result.hits[0].batch if result.hits else None),
        estimate=plan.estimate() if plan else None,
        warnings=plan.warnings if plan else [],
        plan=[h.to_json() for h in plan.hits] if plan else [],
        hits=publishing.hit_views(session=session, settings=settings, hits=result.hits),
        created=result.created,
        adopted=result.adopted,
        resumed=result.resumed,
        failed=result.failed,
        remaining_hits=plan.remaining_hits if plan else 0,
    )


@router.get("/projects/{project_id}/hits", response_model=HitsPublic)
def list_hits(
    project_id: IdPath, session: SessionDep, settings: SettingsDep, _: AdminDep
) -> HitsPublic:
    hits = publishing.list_hits(session=session, project_id=project_id)
    data = publishing.hit_views(session=session, settings=settings, hits=hits)
    return HitsPublic(data=data, count=len(hits))


@router.get("/hits/{hit_id}", response_model=HitPublic)
def get_hit(
    hit_id: IdPath,
    session: SessionDep,
    settings: SettingsDep,
    _: AdminDep,
    refresh: Annotated[bool, Query(description="read status and counts from MTurk")] = True,
) -> HitPublic:
    hit = publishing.get_hit(session=session, hit_id=hit_id)
    if refresh:
        publishing.refresh_hit(session=session, settings=settings, row=hit)
    return publishing.hit_views(session=session, settings=settings, hits=[hit])[0]


@router.post("/hits/{hit_id}/expire", response_model=HitPublic)
def expire_hit(
    hit_id: IdPath, session: SessionDep, settings: SettingsDep, _: AdminDep
) -> HitPublic:
    hit = publishing.expire_hit(session=session, settings=settings, hit_id=hit_id)
    return publishing.hit_views(session=session, settings=settings, hits=[hit])[0]


@router.post("/hits/{hit_id}/extend", response_model=HitPublic)
def extend_hit(
    hit_id: IdPath, body: ExtendRequest, session: SessionDep, settings: SettingsDep, _: AdminDep
) -> HitPublic:
    hit = publishing.extend_hit(
        session=session,
        settings=settings,
        hit_id=hit_id,
        assignments=body.assignments,
        seconds=body.seconds,
    )
    return publishing.hit_views(session=session, settings=settings, hits=[hit])[0]


@router.delete("/hits/{hit_id}", response_model=HitPublic)
def delete_hit(
    hit_id: IdPath, session: SessionDep, settings: SettingsDep, _: AdminDep
) -> HitPublic:
    hit = publishing.delete_hit(session=session, settings=settings, hit_id=hit_id)
    return publishing.hit_views(session=session, settings=settings, hits=[hit])[0]


@router.get("/hits/{hit_id}/assignments", response_model=list[AssignmentPublic])
def hit_assignments(hit_id: IdPath, session: SessionDep, _: AdminDep) -> list[AssignmentPublic]:
    return review.assignment_views(session=session, hit_id=hit_id)


@router.post("/assignments/{assignment_id}/approve", response_model=AssignmentPublic)
def approve(
    assignment_id: ExternalId,
    session: SessionDep,
    settings: SettingsDep,
    _: AdminDep,
    body: Annotated[ApproveRequest, Body()] = ApproveRequest(),
) -> AssignmentPublic:
    review.approve(
        session=session,
        settings=settings,
        assignment_id=assignment_id,
        feedback=body.feedback,
        override_rejection=body.override_rejection,
    )
    return review.assignment_view(session=session, assignment_id=assignment_id)


@router.post("/assignments/{assignment_id}/reject", response_model=AssignmentPublic)
def reject(
    assignment_id: ExternalId,
    body: RejectRequest,
    session: SessionDep,
    settings: SettingsDep,
    _: AdminDep,
) -> AssignmentPublic:
    review.reject(
        session=session, settings=settings, assignment_id=assignment_id, feedback=body.feedback
    )
    return review.assignment_view(session=session, assignment_id=assignment_id)


@router.post("/assignments/{assignment_id}/bonus", response_model=AssignmentPublic)
def bonus(
    assignment_id: ExternalId,
    body: BonusRequest,
    session: SessionDep,
    settings: SettingsDep,
    _: AdminDep,
) -> AssignmentPublic:
    review.bonus(
        session=session,
        settings=settings,
        assignment_id=assignment_id,
        amount=body.amount,
        reason=body.reason,
    )
    return review.assignment_view(session=session, assignment_id=assignment_id)


@router.post("/workers/{worker_id}/block")
def block(
    worker_id: ExternalId,
    body: BlockRequest,
    session: SessionDep,
    settings: SettingsDep,
    _: AdminDep,
) -> dict[str, Any]:
    w = review.set_block(
        session=session,
        settings=settings,
        worker_id=worker_id,
        blocked=True,
        reason=body.reason,
        project_id=body.project_id,
    )
    return {"worker_id": w.external_id, "blocked": w.blocked, "reason": w.blocked_reason}


@router.delete("/workers/{worker_id}/block")
def unblock(
    worker_id: ExternalId,
    session: SessionDep,
    settings: SettingsDep,
    _: AdminDep,
    project_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> dict[str, Any]:
    w = review.set_block(
        session=session,
        settings=settings,
        worker_id=worker_id,
        blocked=False,
        project_id=project_id,
    )
    return {"worker_id": w.external_id, "blocked": w.blocked, "reason": w.blocked_reason}


@router.post("/projects/{project_id}/sync")
def sync_project(
    project_id: IdPath,
    session: SessionDep,
    settings: SettingsDep,
    _: AdminDep,
    review_: Annotated[bool, Query(alias="review", description="apply the review policy")] = True,
) -> dict[str, Any]:
    """Pull assignments from MTurk, upsert answers, score workers, apply the review policy."""
    return sync.sync_project(
        session=session, settings=settings, project_id=project_id, apply_review=review_
    ).to_json()


@router.get("/projects/{project_id}/spend", response_model=SpendPublic)
def spend(project_id: IdPath, session: SessionDep, _: AdminDep) -> SpendPublic:
    project = projects.get_project(session=session, project_id=project_id)
    rows, totals = ledger.ledger(session=session, project_id=project_id)
    return SpendPublic(
        project_id=project_id,
        budget_cap=project.budget_cap,
        totals=totals,
        entries=[SpendEntryPublic.model_validate(r) for r in rows],
    )


def _settings_view(session: Session, project_id: int) -> PublishSettingsPublic:
    view = publishing.read_publish_settings(session=session, project_id=project_id)
    return PublishSettingsPublic(
        project_id=project_id,
        hit_options=view["hit_options"],
        review_policy=ReviewPolicy(**view["review_policy"]),
    )


@router.get("/projects/{project_id}/publish-settings", response_model=PublishSettingsPublic)
def get_publish_settings(
    project_id: IdPath, session: SessionDep, _: AdminDep
) -> PublishSettingsPublic:
    return _settings_view(session, project_id)


@router.patch("/projects/{project_id}/publish-settings", response_model=PublishSettingsPublic)
def update_publish_settings(
    project_id: IdPath, body: PublishSettingsUpdate, session: SessionDep, _: AdminDep
) -> PublishSettingsPublic:
    publishing.update_publish_settings(
        session=session,
        project_id=project_id,
        hit_options=body.hit_options.model_dump(exclude_unset=True) if body.hit_options else None,
        review_policy=policy_changes(body.review_policy),
    )
    return _settings_view(session, project_id)


@router.post("/hits/{hit_id}/invites")
def invites(
    hit_id: IdPath, body: InviteRequest, session: SessionDep, settings: SettingsDep, _: AdminDep
) -> dict[str, Any]:
    """Signed per-worker task links for a link-provider HIT."""
    return publishing.link_invites(
        session=session, settings=settings, hit_id=hit_id, workers=body.workers
    )


@router.get("/projects/{project_id}/completions/{code}")
def check_completion(
    project_id: IdPath,
    code: Annotated[str, Path(min_length=4, max_length=20, pattern=r"^[A-Z2-7]+$")],
    session: SessionDep,
    settings: SettingsDep,
    _: AdminDep,
) -> dict[str, Any]:
    """Which submitted link assignment a worker's completion code belongs to."""
    aid, worker = review.find_completion(
        session=session, settings=settings, project_id=project_id, code=code
    )
    return {"valid": True, "assignment_id": aid, "worker_id": worker}
