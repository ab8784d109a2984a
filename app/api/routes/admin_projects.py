"""Admin pages of the crowdsourcing projects: the projects list, a project's page (workers and
their quality, labels by every method, HITs, spend, export snapshots), its review queue, and
export downloads. Pages call the same service functions as the JSON API; domain errors become
HTML pages with the matching status. The forms these pages post to: admin_actions.
"""

from __future__ import annotations

from typing import Annotated, Any, get_args

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response
from starlette.responses import StreamingResponse

from app.api.deps import MAX_ID
from app.api.routes.admin_auth import Page, PageDep
from app.api.routes.admin_base import parse_id, read_notice
from app.core.errors import DomainError, NotFound
from app.crowd.quality import WorkerFilterRule, as_rule
from app.schemas.crowd import AggregationMethod
from app.services import ledger, projects, publishing
from app.services.crowd import exports, labels
from app.services.crowd import summary as crowd_summary
from app.services.recruiting import review_queue

router = APIRouter(prefix="/admin", tags=["admin pages"], include_in_schema=False)

#: Every registered method (``AggregationMethod`` lists ``app.crowd.METHODS``, test-checked).
METHODS: tuple[AggregationMethod, ...] = get_args(AggregationMethod)
EXPORT_FORMATS = ("csv", "jsonl", "parquet")
SPEND_ROWS = 25  # newest ledger entries shown on the project page
NoticeQuery = Annotated[str | None, Query(max_length=12000)]


# -- projects ------------------------------------------------------------------------------
@router.get("", response_class=HTMLResponse)
def projects_page(page: PageDep) -> Response:
    session = page.session
    rows, total = projects.list_projects(session=session, limit=1000)
    workers = labels.workers_per_project(session=session, project_ids=[p.id for p in rows])
    return page.render(
        "admin/projects.html", {"projects": rows, "total": total, "workers": workers}
    )


def quality_rule_text(rule: WorkerFilterRule) -> str:
    """The worker-quality rule of app.crowd.quality (its module docstring: statuses in order of
    precedence), in words, with `rule`'s own values: the project page's "Rule:" line."""
    level = f"{rule.level:g}"
    judged = max(rule.min_gold, 1)
    if rule.credible_level is None:
        below = f"posterior mean gold accuracy below {rule.min_accuracy:g}"
    else:
        below = f"P(gold accuracy < {rule.min_accuracy:g}) ≥ {level}"
    filtered = [
        f"after {judged} gold answers, credibly no better than chance on gold "
        f"(P(sensitivity + specificity ≤ 1) ≥ {level}) or {below}",
        f"after {max(rule.decide_after, 1)} gold answers, P(J > {rule.min_skill:g}) < 0.5",
    ]
    if rule.min_pattern_answers > 0:
        n = rule.min_pattern_answers
        filtered[:0] = [f"one value for all of at least {n} answers"]
        filtered.insert(
            2,
            f"at least {n} answers credibly against the others' labels (P(J ≤ 0) ≥ {level}) "
            f"unless gold shows skill (P(sensitivity + specificity > 1) ≥ {rule.trust_level:g})",
        )
    return (
        "per worker, sensitivity (+1 gold answered positive) and specificity (−1 gold answered "
        f"negative) with Beta({rule.prior_a:g}, {rule.prior_b:g}) posteriors, and skill "
        "J = sensitivity + specificity − 1 over all answers against the labels the other "
        "workers and the gold imply; a worker is blocked (by an admin), else filtered when "
        f"{'; or '.join(filtered)}; else trusted when, after {judged} gold answers, "
        "P(sensitivity > 1/2) and P(specificity > 1/2) are both "
        f"≥ {rule.trust_level:g} (gold of both classes needed); else pending (answers kept)"
    )


def _project_context(page: Page, project_id: int, n: int | None) -> dict[str, Any]:
    session, settings = page.session, page.settings
    project = projects.read_project(session=session, project_id=project_id)
    n_used = n if n is not None else project.max_answers
    quality = crowd_summary.quality_summary(session=session, project_id=project_id)
    hits = publishing.hit_views(
        session=session,
        settings=settings,
        hits=publishing.list_hits(session=session, project_id=project_id),
    )
    entries, totals = ledger.ledger(session=session, project_id=project_id)
    return {
        "project": project,
        "hits": hits,
        "hit_label": review_queue.hit_label,
        "workers": quality.workers,
        "quality": quality,
        "rule_text": quality_rule_text(as_rule(project.worker_filter.model_dump())),
        "audit": crowd_summary.bias_audit(session=session, project_id=project_id),
        "summary": labels.label_summary(
            session=session, project_id=project_id, n=n_used, methods=METHODS
        ),
        "n": n_used,
        "exports": exports.list_exports(session=session, project_id=project_id),
        "methods": METHODS,
        "formats": EXPORT_FORMATS,
        "awaiting": sum(h.n_submitted - h.n_approved - h.n_rejected for h in hits),
        "spend": {
            "entries": entries[::-1][:SPEND_ROWS],
            "n_entries": len(entries),
            "totals": totals,
            "cap": project.budget_cap,
        },
    }


def render_project(
    page: Page,
    raw_id: str,
    *,
    n: int | None = None,
    error: DomainError | None = None,
    created: int | None = None,
    worker: str | None = None,
    notice_raw: str | None = None,
) -> Response:
    """The project page; with `error`, the page of a form that was refused, with its status."""
    with page.errors_shown(rollback=True):
        project_id = parse_id(raw_id, "project")
        context = _project_context(page, project_id, n)
    notice = None
    # After a block/unblock (post/redirect/get) say what the worker's state now is, read back
    # from the service rather than echoed from the URL.
    for q in context["workers"] if worker else ():
        if q.worker_id == worker:
            notice = f"Worker {worker} is {'now' if q.status == 'blocked' else 'not'} blocked."
    context.update(
        notice=notice,
        error=error.detail if error else None,
        created=created,
        outcome=read_notice(page.settings, notice_raw),
    )
    return page.render(
        "admin/project.html", context, status_code=error.status_code if error else 200
    )


@router.get("/projects/{project_id}", response_class=HTMLResponse)
def project_page(
    project_id: str,
    page: PageDep,
    n: Annotated[int | None, Query(ge=1, le=1000)] = None,
    created: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    worker: Annotated[str | None, Query(max_length=200)] = None,
    notice: NoticeQuery = None,
) -> Response:
    return render_project(page, project_id, n=n, created=created, worker=worker, notice_raw=notice)


# -- review queue -------------------------------------------------------------------------------
@router.get("/projects/{project_id}/review", response_class=HTMLResponse)
def review_page(
    project_id: str,
    page: PageDep,
    show: Annotated[str, Query(max_length=10)] = "awaiting",
    notice: NoticeQuery = None,
) -> Response:
    session = page.session
    with page.errors_shown(rollback=True):
        pid = parse_id(project_id, "project")
        project = projects.read_project(session=session, project_id=pid)
        summary = crowd_summary.quality_summary(session=session, project_id=pid)
        groups = review_queue.review_queue(
            session=session, project_id=pid, include_reviewed=show == "all", summary=summary
        )
    return page.render(
        "admin/review.html",
        {
            "project": project,
            "groups": groups,
            "show_all": show == "all",
            "quality": summary,
            "outcome": read_notice(page.settings, notice),
        },
    )


# -- export downloads -----------------------------------------------------------------------------
@router.get("/exports/{export_id}/download")
def download_export(
    export_id: str,
    page: PageDep,
    format: Annotated[str, Query(max_length=10)] = "csv",
) -> Response:
    with page.errors_shown():
        eid = parse_id(export_id, "export")
        if format not in EXPORT_FORMATS:
            raise NotFound(f"no download format {format!r}; use {', '.join(EXPORT_FORMATS)}")
        chunks, media, name, facts = exports.export_stream(
            session=page.session, export_id=eid, fmt=format
        )
    headers = {
        "Content-Disposition": f'attachment; filename="{name}"',
        "X-Checksum-SHA256": facts["checksum"],
        "Cache-Control": "no-store",
    }
    return StreamingResponse(chunks, media_type=media, headers=headers)
