"""Admin page actions on a project: publish a batch (its dry-run plan and cost first, then
confirmed), sync now, expire / extend a HIT, and the review queue (approve / reject with feedback
/ bonus / block, one at a time or in bulk).

Every action is a POST form carrying the session's CSRF value, calls the same service function
as the JSON API (app.services.publishing, sync, review), and answers with a redirect to a page
(post/redirect/get) whose notice says what happened, read from a signed token so a forged link
cannot put words on the page. The marketplace's refusals are that notice, never an error page.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from app.api.deps import SessionDep, SettingsDep
from app.api.routes.admin_base import (
    Admin,
    error_page,
    gate,
    parse_id,
    read_notice,
    redirect_with_notice,
    render,
)
from app.core.config import Settings
from app.core.errors import DomainError, InvalidInput, NotFound
from app.services import ledger, projects, publishing
from app.services.crowd import summary as crowd_summary
from app.services.recruiting import review, review_queue, sync

router = APIRouter(prefix="/admin", tags=["admin pages"], include_in_schema=False)

CsrfForm = Annotated[str, Form(max_length=500)]
MAX_BULK = 500  # assignments one bulk review may name


def _count(raw: str, what: str, *, top: int) -> int | None:
    raw = raw.strip()
    if not raw:
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= top:
        raise InvalidInput(f"{what} must be a whole number from 1 to {top}")
    return int(raw)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


# -- publishing ---------------------------------------------------------------------------------
def _preview(
    session: Session,
    settings: Settings,
    pid: int,
    max_assignments: int | None,
    max_per_hit: int | None,
) -> dict[str, Any]:
    """The dry run the API's ``dry_run: true`` gives, plus the budget it would leave."""
    project = projects.read_project(session=session, project_id=pid)
    result = publishing.publish_batch(
        session=session,
        settings=settings,
        project_id=pid,
        dry_run=True,
        max_assignments=max_assignments,
        max_per_hit=max_per_hit,
    )
    committed = ledger.committed(session=session, project_id=pid)
    if result.plan is not None:
        plan = result.plan
        total = plan.total_cost
        context: dict[str, Any] = {
            "resume": [],
            "batch": plan.batch,
            "estimate": plan.estimate(),
            "plan": [h.to_json() for h in plan.hits],
            "warnings": plan.warnings,
            "examples_needing": plan.examples_needing,
        }
    else:  # a batch a crash left half-published: publishing finishes it first
        total = sum(
            (
                ledger.hit_cost(
                    Decimal(str(h.reward)), h.max_assignments, marketplace=h.provider == "mturk"
                ).total
                for h in result.hits
            ),
            Decimal("0.00"),
        )
        views = publishing.hit_views(session=session, settings=settings, hits=result.hits)
        context = {
            "resume": views,
            "batch": result.hits[0].batch if result.hits else None,
            "estimate": {"n_hits": len(views), "total": str(total)},
            "plan": [],
            "warnings": [],
            "examples_needing": None,
        }
    cap = project.budget_cap
    context.update(
        project=project,
        total=str(total),
        committed=str(committed),
        after=str(committed + total),
        cap=cap,
        over_cap=cap is not None and committed + total > ledger.money(cap),
        max_assignments=max_assignments,
        max_per_hit=max_per_hit,
    )
    return context


@router.get("/projects/{project_id}/publish", response_class=HTMLResponse)
def publish_preview(
    project_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    max_assignments: Annotated[str, Query(max_length=10)] = "",
    max_per_hit: Annotated[str, Query(max_length=10)] = "",
    notice: Annotated[str | None, Query(max_length=12000)] = None,
) -> Response:
    admin = gate(request, session, settings)
    if not isinstance(admin, Admin):
        return admin
    try:
        pid = parse_id(project_id, "project")
        context = _preview(
            session,
            settings,
            pid,
            _count(max_assignments, "answers per example", top=1000),
            _count(max_per_hit, "assignments per HIT", top=1000),
        )
    except DomainError as exc:
        session.rollback()
        return error_page(request, exc, admin)
    context["outcome"] = read_notice(settings, notice)
    return render(request, "admin/publish.html", context, admin=admin)


@router.post("/projects/{project_id}/publish", response_class=HTMLResponse)
def publish_confirm(
    project_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    csrf: CsrfForm = "",
    max_assignments: Annotated[str, Form(max_length=10)] = "",
    max_per_hit: Annotated[str, Form(max_length=10)] = "",
    expected_total: Annotated[str, Form(max_length=20)] = "",
    expected_batch: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    admin = gate(request, session, settings, csrf)
    if not isinstance(admin, Admin):
        return admin
    try:
        pid = parse_id(project_id, "project")
        projects.get_project(session=session, project_id=pid)
    except DomainError as exc:
        return error_page(request, exc, admin)
    query = urlencode(
        {"max_assignments": max_assignments.strip(), "max_per_hit": max_per_hit.strip()}
    )
    back = f"/admin/projects/{pid}/publish?{query}"
    try:
        n_max = _count(max_assignments, "answers per example", top=1000)
        per_hit = _count(max_per_hit, "assignments per HIT", top=1000)
        # Publish only what was shown: if answers or HITs changed since, show the new plan.
        now = _preview(session, settings, pid, n_max, per_hit)
        if now["total"] != expected_total.strip() or str(now["batch"]) != expected_batch.strip():
            return redirect_with_notice(
                settings,
                back,
                [],
                [
                    f"The plan changed since it was shown (now batch {now['batch']}, "
                    f"${now['total']}); nothing was published. Check the new plan below."
                ],
            )
        result = publishing.publish_batch(
            session=session,
            settings=settings,
            project_id=pid,
            max_assignments=n_max,
            max_per_hit=per_hit,
        )
    except DomainError as exc:
        session.rollback()
        return redirect_with_notice(settings, back, [], [exc.detail])
    batch = result.hits[0].batch if result.hits else now["batch"]
    if not result.hits:
        return redirect_with_notice(
            settings,
            f"/admin/projects/{pid}#hits",
            ["Nothing to publish: every example has N answers or open slots."],
        )
    ok = [
        f"Batch {batch}: {_plural(result.created, 'HIT')} published"
        + (f", {result.adopted} adopted" if result.adopted else "")
        + (f", {result.resumed} resumed" if result.resumed else "")
        + f"; up to ${now['total']} reserved."
    ]
    refused = [f"{_plural(len(result.failed), 'HIT')} failed to publish; see the HITs table."]
    return redirect_with_notice(
        settings, f"/admin/projects/{pid}#hits", ok, refused if result.failed else []
    )


# -- sync, expire, extend -----------------------------------------------------------------------
@router.post("/projects/{project_id}/sync", response_class=HTMLResponse)
def sync_now(
    project_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    csrf: CsrfForm = "",
    apply_review: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    admin = gate(request, session, settings, csrf)
    if not isinstance(admin, Admin):
        return admin
    try:
        pid = parse_id(project_id, "project")
        projects.get_project(session=session, project_id=pid)
    except DomainError as exc:
        return error_page(request, exc, admin)
    back = f"/admin/projects/{pid}#hits"
    try:
        out = sync.sync_project(
            session=session, settings=settings, project_id=pid, apply_review=apply_review == "1"
        )
    except DomainError as exc:
        session.rollback()
        return redirect_with_notice(settings, back, [], [exc.detail])
    ok = [
        f"Synced {_plural(out.hits, 'HIT')}: {_plural(out.assignments_seen, 'assignment')} seen, "
        f"{out.assignments_new} new, {_plural(out.answers_new, 'new answer')}; "
        f"{out.workers_excluded} of {_plural(out.workers, 'worker')} excluded by quality."
    ]
    if out.review is not None:
        r = out.review
        ok.append(
            f"Review policy: {r.approved} approved, {r.rejected} rejected, "
            f"{_plural(r.bonuses, 'bonus')}, {_plural(len(r.blocked), 'worker')} blocked."
        )
    return redirect_with_notice(settings, back, ok, list(out.problems))


def _hit_action(
    request: Request, session: Session, settings: Settings, csrf: str, hit_id: str, act: Any
) -> Response:
    admin = gate(request, session, settings, csrf)
    if not isinstance(admin, Admin):
        return admin
    try:
        hid = parse_id(hit_id, "HIT")
        hit = publishing.get_hit(session=session, hit_id=hid)
    except DomainError as exc:
        return error_page(request, exc, admin)
    back = f"/admin/projects/{hit.project_id}#hits"
    name = review_queue.hit_label(hit.batch, hit.seq)
    try:
        message = act(hid, name)
    except DomainError as exc:
        session.rollback()
        return redirect_with_notice(settings, back, [], [f"{name} (#{hid}): {exc.detail}"])
    return redirect_with_notice(settings, back, [message])


@router.post("/hits/{hit_id}/expire", response_class=HTMLResponse)
def expire_hit(
    hit_id: str, request: Request, session: SessionDep, settings: SettingsDep, csrf: CsrfForm = ""
) -> Response:
    def act(hid: int, name: str) -> str:
        publishing.expire_hit(session=session, settings=settings, hit_id=hid)
        return f"{name} (#{hid}) expired: no new worker can accept it."

    return _hit_action(request, session, settings, csrf, hit_id, act)


@router.post("/hits/{hit_id}/extend", response_class=HTMLResponse)
def extend_hit(
    hit_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    csrf: CsrfForm = "",
    assignments: Annotated[str, Form(max_length=10)] = "",
    hours: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    def act(hid: int, name: str) -> str:
        more = _count(assignments, "more assignments", top=1000)
        extra = _count(hours, "more hours", top=8760)
        row = publishing.extend_hit(
            session=session,
            settings=settings,
            hit_id=hid,
            assignments=more,
            seconds=extra * 3600 if extra else None,
        )
        parts = [f"+{_plural(more, 'assignment')}"] if more else []
        if extra:
            expires = row.expires_at.strftime("%Y-%m-%d %H:%M UTC") if row.expires_at else "?"
            parts.append(f"now expires {expires}")
        return f"{name} (#{hid}) extended: {', '.join(parts)}."

    return _hit_action(request, session, settings, csrf, hit_id, act)


# -- review queue -------------------------------------------------------------------------------
@router.get("/projects/{project_id}/review", response_class=HTMLResponse)
def review_page(
    project_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    show: Annotated[str, Query(max_length=10)] = "awaiting",
    notice: Annotated[str | None, Query(max_length=12000)] = None,
) -> Response:
    admin = gate(request, session, settings)
    if not isinstance(admin, Admin):
        return admin
    try:
        pid = parse_id(project_id, "project")
        project = projects.read_project(session=session, project_id=pid)
        summary = crowd_summary.quality_summary(session=session, project_id=pid)
        groups = review_queue.review_queue(
            session=session, project_id=pid, include_reviewed=show == "all", summary=summary
        )
    except DomainError as exc:
        session.rollback()
        return error_page(request, exc, admin)
    return render(
        request,
        "admin/review.html",
        {
            "project": project,
            "groups": groups,
            "show_all": show == "all",
            "quality": summary,
            "outcome": read_notice(settings, notice),
        },
        admin=admin,
    )


def _review_one(
    session: Session,
    settings: Settings,
    action: str,
    aid: str,
    feedback: str,
    amount: str,
    reason: str,
) -> str:
    if action == "approve":
        review.approve(
            session=session, settings=settings, assignment_id=aid, feedback=feedback or None
        )
        return f"Approved {aid}."
    if action == "reject":
        review.reject(session=session, settings=settings, assignment_id=aid, feedback=feedback)
        return f"Rejected {aid} with feedback."
    if action == "bonus":
        review.bonus(
            session=session, settings=settings, assignment_id=aid, amount=amount, reason=reason
        )
        return f"Bonus of ${amount} sent for {aid}."
    raise InvalidInput(f"no review action {action!r}")


@router.post("/projects/{project_id}/review", response_class=HTMLResponse)
def review_action(
    project_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    csrf: CsrfForm = "",
    worker: Annotated[str, Form(max_length=200)] = "",
    assignment: Annotated[list[str] | None, Form(max_length=200)] = None,
    action: Annotated[str, Form(max_length=20)] = "",
    target: Annotated[str, Form(max_length=220)] = "",
    feedback: Annotated[str, Form(max_length=1024)] = "",
    bonus_amount: Annotated[str, Form(max_length=10)] = "",
    bonus_reason: Annotated[str, Form(max_length=1024)] = "",
    show: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """One assignment (a row's button: ``target = action:assignment``) or the ticked ones
    (``action`` with ``assignment`` values; ``approve_all`` = every awaiting one of ``worker``)."""
    admin = gate(request, session, settings, csrf)
    if not isinstance(admin, Admin):
        return admin
    try:
        pid = parse_id(project_id, "project")
        projects.get_project(session=session, project_id=pid)
    except DomainError as exc:
        return error_page(request, exc, admin)
    back = f"/admin/projects/{pid}/review" + ("?show=all" if show == "all" else "")
    chosen = [a.strip() for a in assignment or [] if a.strip()]
    if not target and action not in ("approve", "reject", "bonus", "approve_all"):
        return redirect_with_notice(
            settings, back, [], ["Nothing was done: press one of the action buttons."]
        )
    if target:
        action, _, one = target.partition(":")
        chosen = [one]
    elif action == "approve_all":
        action = "approve"
        chosen = review_queue.submitted_ids(
            session=session, project_id=pid, worker=worker, awaiting=True
        )
    if not chosen:
        return redirect_with_notice(settings, back, [], ["Tick at least one assignment first."])
    if len(chosen) > MAX_BULK:
        return redirect_with_notice(
            settings, back, [], [f"At most {MAX_BULK} assignments per review; nothing was done."]
        )
    # Only this project's assignments: an id from another project is refused, not reviewed.
    mine = set(review_queue.submitted_ids(session=session, project_id=pid))
    ok: list[str] = []
    refused: list[str] = []
    for aid in dict.fromkeys(chosen):
        if aid not in mine:
            refused.append(f"{aid}: not a submitted assignment of this project")
            continue
        try:
            ok.append(
                _review_one(
                    session,
                    settings,
                    action,
                    aid,
                    feedback.strip(),
                    bonus_amount.strip(),
                    bonus_reason.strip(),
                )
            )
        except DomainError as exc:
            session.rollback()
            refused.append(f"{aid}: {exc.detail}")
    return redirect_with_notice(settings, back, ok, refused)


@router.post("/projects/{project_id}/review/block", response_class=HTMLResponse)
def review_block(
    project_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    csrf: CsrfForm = "",
    worker: Annotated[str, Form(max_length=200)] = "",
    reason: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    admin = gate(request, session, settings, csrf)
    if not isinstance(admin, Admin):
        return admin
    try:
        pid = parse_id(project_id, "project")
        projects.get_project(session=session, project_id=pid)
    except DomainError as exc:
        return error_page(request, exc, admin)
    back = f"/admin/projects/{pid}/review"
    try:
        if not review_queue.submitted_ids(session=session, project_id=pid, worker=worker):
            raise NotFound(f"worker {worker} has no submitted work in this project")
        review.set_block(
            session=session,
            settings=settings,
            worker_id=worker,
            blocked=True,
            reason=reason.strip(),
            project_id=pid,
        )
    except DomainError as exc:
        session.rollback()
        return redirect_with_notice(settings, back, [], [f"{worker}: {exc.detail}"])
    return redirect_with_notice(settings, back, [f"Worker {worker} is now blocked."])
