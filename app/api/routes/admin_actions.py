"""Admin page actions on a project: export snapshots, blocking and unblocking workers, publishing
a batch (its dry-run plan and cost first, then confirmed), sync now, expire / extend a HIT, and
the review queue's decisions (approve / reject with feedback / bonus / block, one at a time or in
bulk).

Every action is a POST form carrying the session's CSRF value (the :data:`ActionDep`
dependency checks it), calls the same service function as the JSON API (app.services.exports,
review, publishing, sync), and answers with a redirect to a page (post/redirect/get). Publishing,
sync, HITs and reviews say what happened in the page's notice, read from a signed token so a
forged link cannot put words on the page (:meth:`Action.run`); the marketplace's refusals are
that notice, never an error page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from app.api.routes.admin_auth import Action, ActionDep, PageDep
from app.api.routes.admin_base import parse_id, read_notice
from app.api.routes.admin_projects import METHODS, NoticeQuery, render_project
from app.core.config import Settings
from app.core.errors import DomainError, InvalidInput, NotFound
from app.services import ledger, projects, publishing
from app.services.crowd import exports
from app.services.recruiting import review, review_queue, sync

router = APIRouter(prefix="/admin", tags=["admin pages"], include_in_schema=False)

MAX_BULK = 500  # assignments one bulk review may name


@dataclass(frozen=True)
class ProjectAction(Action):
    """A checked form POST on an existing project (:func:`project_action`)."""

    project_id: int


def project_action(act: ActionDep, project_id: str) -> ProjectAction:
    """The dependency of a project's notice-answering actions: a checked form on a project
    that exists, else its 404 page."""
    with act.errors_shown():
        pid = parse_id(project_id, "project")
        projects.get_project(session=act.session, project_id=pid)
    return ProjectAction(act.request, act.session, act.settings, act.admin, project_id=pid)


ProjectActionDep = Annotated[ProjectAction, Depends(project_action)]


def _count(raw: str, what: str, *, top: int) -> int | None:
    raw = raw.strip()
    if not raw:
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= top:
        raise InvalidInput(f"{what} must be a whole number from 1 to {top}")
    return int(raw)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


# -- exports and worker blocks (answered by the project page) -------------------------------------
@router.post("/projects/{project_id}/exports", response_class=HTMLResponse)
def create_export(
    project_id: str,
    act: ActionDep,
    method: Annotated[str, Form(max_length=32)] = "mean",
    n: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    try:
        pid = parse_id(project_id, "project")
        if method not in METHODS:
            raise InvalidInput(f"method must be one of {', '.join(METHODS)}")
        if n.strip() and not (n.strip().isdigit() and 1 <= int(n) <= 1000):
            raise InvalidInput("N must be a whole number from 1 to 1000")
        snapshot = exports.create_export(
            session=act.session, project_id=pid, method=method, n=int(n) if n.strip() else None
        )
    except DomainError as exc:
        act.session.rollback()
        if isinstance(exc, NotFound):
            return act.error(exc)
        return render_project(act, project_id, error=exc)
    return RedirectResponse(f"/admin/projects/{pid}?created={snapshot.id}#exports", status_code=303)


@router.post("/projects/{project_id}/workers/{action}", response_class=HTMLResponse)
def set_worker_block(
    project_id: str,
    action: str,
    act: ActionDep,
    worker_id: Annotated[str, Form(max_length=200)] = "",
    reason: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    if action not in ("block", "unblock"):
        return act.error(NotFound(f"no worker action {action!r}"))
    try:
        pid = parse_id(project_id, "project")
        projects.get_project(session=act.session, project_id=pid)
        review.set_block(
            session=act.session,
            settings=act.settings,
            worker_id=worker_id,
            blocked=action == "block",
            reason=reason.strip(),
            project_id=pid,
        )
    except DomainError as exc:
        act.session.rollback()
        return render_project(act, project_id, error=exc)
    return RedirectResponse(
        f"/admin/projects/{pid}?worker={quote(worker_id, safe='')}#workers", status_code=303
    )


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
    page: PageDep,
    max_assignments: Annotated[str, Query(max_length=10)] = "",
    max_per_hit: Annotated[str, Query(max_length=10)] = "",
    notice: NoticeQuery = None,
) -> Response:
    with page.errors_shown(rollback=True):
        pid = parse_id(project_id, "project")
        context = _preview(
            page.session,
            page.settings,
            pid,
            _count(max_assignments, "answers per example", top=1000),
            _count(max_per_hit, "assignments per HIT", top=1000),
        )
    context["outcome"] = read_notice(page.settings, notice)
    return page.render("admin/publish.html", context)


@router.post("/projects/{project_id}/publish", response_class=HTMLResponse)
def publish_confirm(
    act: ProjectActionDep,
    max_assignments: Annotated[str, Form(max_length=10)] = "",
    max_per_hit: Annotated[str, Form(max_length=10)] = "",
    expected_total: Annotated[str, Form(max_length=20)] = "",
    expected_batch: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    pid = act.project_id
    query = urlencode(
        {"max_assignments": max_assignments.strip(), "max_per_hit": max_per_hit.strip()}
    )
    back = f"/admin/projects/{pid}/publish?{query}"

    def work() -> Response:
        n_max = _count(max_assignments, "answers per example", top=1000)
        per_hit = _count(max_per_hit, "assignments per HIT", top=1000)
        # Publish only what was shown: if answers or HITs changed since, show the new plan.
        now = _preview(act.session, act.settings, pid, n_max, per_hit)
        if now["total"] != expected_total.strip() or str(now["batch"]) != expected_batch.strip():
            return act.done(
                back,
                [],
                [
                    f"The plan changed since it was shown (now batch {now['batch']}, "
                    f"${now['total']}); nothing was published. Check the new plan below."
                ],
            )
        result = publishing.publish_batch(
            session=act.session,
            settings=act.settings,
            project_id=pid,
            max_assignments=n_max,
            max_per_hit=per_hit,
        )
        hits = f"/admin/projects/{pid}#hits"
        if not result.hits:
            return act.done(
                hits, ["Nothing to publish: every example has N answers or open slots."]
            )
        ok = [
            f"Batch {result.hits[0].batch}: {_plural(result.created, 'HIT')} published"
            + (f", {result.adopted} adopted" if result.adopted else "")
            + (f", {result.resumed} resumed" if result.resumed else "")
            + f"; up to ${now['total']} reserved."
        ]
        failed = f"{_plural(len(result.failed), 'HIT')} failed to publish; see the HITs table."
        return act.done(hits, ok, [failed] if result.failed else [])

    return act.run(back, work)


# -- sync, expire, extend -----------------------------------------------------------------------
@router.post("/projects/{project_id}/sync", response_class=HTMLResponse)
def sync_now(
    act: ProjectActionDep, apply_review: Annotated[str, Form(max_length=5)] = ""
) -> Response:
    back = f"/admin/projects/{act.project_id}#hits"

    def work() -> Response:
        out = sync.sync_project(
            session=act.session,
            settings=act.settings,
            project_id=act.project_id,
            apply_review=apply_review == "1",
        )
        ok = [
            f"Synced {_plural(out.hits, 'HIT')}: {_plural(out.assignments_seen, 'assignment')} "
            f"seen, {out.assignments_new} new, {_plural(out.answers_new, 'new answer')}; "
            f"{out.workers_excluded} of {_plural(out.workers, 'worker')} excluded by quality."
        ]
        if out.review is not None:
            r = out.review
            ok.append(
                f"Review policy: {r.approved} approved, {r.rejected} rejected, "
                f"{_plural(r.bonuses, 'bonus')}, {_plural(len(r.blocked), 'worker')} blocked."
            )
        return act.done(back, ok, list(out.problems))

    return act.run(back, work)


def _hit_action(act: Action, hit_id: str, do: Callable[[int, str], str]) -> Response:
    """Run `do(hit id, its label)` on an existing HIT; its sentence is the notice."""
    with act.errors_shown():
        hid = parse_id(hit_id, "HIT")
        hit = publishing.get_hit(session=act.session, hit_id=hid)
    back = f"/admin/projects/{hit.project_id}#hits"
    name = review_queue.hit_label(hit.batch, hit.seq)
    return act.run(back, lambda: act.done(back, [do(hid, name)]), prefix=f"{name} (#{hid}): ")


@router.post("/hits/{hit_id}/expire", response_class=HTMLResponse)
def expire_hit(hit_id: str, act: ActionDep) -> Response:
    def do(hid: int, name: str) -> str:
        publishing.expire_hit(session=act.session, settings=act.settings, hit_id=hid)
        return f"{name} (#{hid}) expired: no new worker can accept it."

    return _hit_action(act, hit_id, do)


@router.post("/hits/{hit_id}/extend", response_class=HTMLResponse)
def extend_hit(
    hit_id: str,
    act: ActionDep,
    assignments: Annotated[str, Form(max_length=10)] = "",
    hours: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    def do(hid: int, name: str) -> str:
        more = _count(assignments, "more assignments", top=1000)
        extra = _count(hours, "more hours", top=8760)
        row = publishing.extend_hit(
            session=act.session,
            settings=act.settings,
            hit_id=hid,
            assignments=more,
            seconds=extra * 3600 if extra else None,
        )
        parts = [f"+{_plural(more, 'assignment')}"] if more else []
        if extra:
            expires = row.expires_at.strftime("%Y-%m-%d %H:%M UTC") if row.expires_at else "?"
            parts.append(f"now expires {expires}")
        return f"{name} (#{hid}) extended: {', '.join(parts)}."

    return _hit_action(act, hit_id, do)


# -- review decisions -----------------------------------------------------------------------------
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
    act: ProjectActionDep,
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
    session, pid = act.session, act.project_id
    back = f"/admin/projects/{pid}/review" + ("?show=all" if show == "all" else "")
    chosen = [a.strip() for a in assignment or [] if a.strip()]
    if not target and action not in ("approve", "reject", "bonus", "approve_all"):
        return act.done(back, [], ["Nothing was done: press one of the action buttons."])
    if target:
        action, _, one = target.partition(":")
        chosen = [one]
    elif action == "approve_all":
        action = "approve"
        chosen = review_queue.submitted_ids(
            session=session, project_id=pid, worker=worker, awaiting=True
        )
    if not chosen:
        return act.done(back, [], ["Tick at least one assignment first."])
    if len(chosen) > MAX_BULK:
        return act.done(back, [], [f"At most {MAX_BULK} assignments per review; nothing was done."])
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
                    act.settings,
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
    return act.done(back, ok, refused)


@router.post("/projects/{project_id}/review/block", response_class=HTMLResponse)
def review_block(
    act: ProjectActionDep,
    worker: Annotated[str, Form(max_length=200)] = "",
    reason: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    back = f"/admin/projects/{act.project_id}/review"

    def work() -> Response:
        if not review_queue.submitted_ids(
            session=act.session, project_id=act.project_id, worker=worker
        ):
            raise NotFound(f"worker {worker} has no submitted work in this project")
        review.set_block(
            session=act.session,
            settings=act.settings,
            worker_id=worker,
            blocked=True,
            reason=reason.strip(),
            project_id=act.project_id,
        )
        return act.done(back, [f"Worker {worker} is now blocked."])

    return act.run(back, work, prefix=f"{worker}: ")
