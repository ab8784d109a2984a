"""Admin pages of the crowdsourcing projects: the projects list, a project's page (workers and
their quality, labels by every method, HITs, spend, export snapshots), export snapshots created
and downloaded, workers blocked and unblocked. Pages call the same service functions as the JSON
API; domain errors become HTML pages with the matching status.
"""

from __future__ import annotations

from typing import Annotated, Any, get_args
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.responses import StreamingResponse

from app.api.deps import MAX_ID, SessionDep, SettingsDep
from app.api.routes.admin_auth import gate
from app.api.routes.admin_base import (
    Admin,
    error_page,
    parse_id,
    read_notice,
    render,
)
from app.core.config import Settings
from app.core.errors import DomainError, InvalidInput, NotFound
from app.schemas.crowd import AggregationMethod
from app.services import (
    crowd_summary,
    exports,
    labels,
    ledger,
    projects,
    publishing,
    review,
    review_queue,
)

router = APIRouter(prefix="/admin", tags=["admin pages"], include_in_schema=False)

#: Every registered method (``AggregationMethod`` lists ``app.crowd.METHODS``, test-checked).
METHODS: tuple[AggregationMethod, ...] = get_args(AggregationMethod)
EXPORT_FORMATS = ("csv", "jsonl", "parquet")
SPEND_ROWS = 25  # newest ledger entries shown on the project page


# -- projects ------------------------------------------------------------------------------
@router.get("", response_class=HTMLResponse)
def projects_page(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    admin = gate(request, session, settings)
    if not isinstance(admin, Admin):
        return admin
    rows, total = projects.list_projects(session=session, limit=1000)
    workers = {p.id: len(labels.worker_quality(session=session, project_id=p.id)) for p in rows}
    return render(
        request,
        "admin/projects.html",
        {"projects": rows, "total": total, "workers": workers},
        admin=admin,
    )


def _project_context(
    session: Session, settings: Settings, project_id: int, n: int | None
) -> dict[str, Any]:
    project = projects.read_project(session=session, project_id=project_id)
    n_used = n if n is not None else project.max_answers
    quality = crowd_summary.quality_summary(session, project_id)
    hits = publishing.hit_views(
        session=session, settings=settings, hits=publishing.list_hits(session, project_id)
    )
    entries, totals = ledger.ledger(session, project_id)
    return {
        "project": project,
        "hits": hits,
        "hit_label": review_queue.hit_label,
        "workers": quality.workers,
        "quality": quality,
        "audit": crowd_summary.bias_audit(session, project_id),
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


def _project_page(
    request: Request,
    session: Session,
    settings: Settings,
    admin: Admin,
    raw_id: str,
    *,
    n: int | None = None,
    error: DomainError | None = None,
    created: int | None = None,
    worker: str | None = None,
    notice_raw: str | None = None,
) -> HTMLResponse:
    try:
        project_id = parse_id(raw_id, "project")
        context = _project_context(session, settings, project_id, n)
    except DomainError as exc:
        session.rollback()
        return error_page(request, exc, admin)
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
        outcome=read_notice(settings, notice_raw),
    )
    return render(
        request,
        "admin/project.html",
        context,
        admin=admin,
        status_code=error.status_code if error else 200,
    )


@router.get("/projects/{project_id}", response_class=HTMLResponse)
def project_page(
    project_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    n: Annotated[int | None, Query(ge=1, le=1000)] = None,
    created: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    worker: Annotated[str | None, Query(max_length=200)] = None,
    notice: Annotated[str | None, Query(max_length=12000)] = None,
) -> Response:
    admin = gate(request, session, settings)
    if not isinstance(admin, Admin):
        return admin
    return _project_page(
        request,
        session,
        settings,
        admin,
        project_id,
        n=n,
        created=created,
        worker=worker,
        notice_raw=notice,
    )


@router.post("/projects/{project_id}/exports", response_class=HTMLResponse)
def create_export(
    project_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    csrf: Annotated[str, Form(max_length=500)] = "",
    method: Annotated[str, Form(max_length=32)] = "mean",
    n: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    admin = gate(request, session, settings, csrf)
    if not isinstance(admin, Admin):
        return admin
    try:
        pid = parse_id(project_id, "project")
        if method not in METHODS:
            raise InvalidInput(f"method must be one of {', '.join(METHODS)}")
        if n.strip() and not (n.strip().isdigit() and 1 <= int(n) <= 1000):
            raise InvalidInput("N must be a whole number from 1 to 1000")
        snapshot = exports.create_export(
            session=session, project_id=pid, method=method, n=int(n) if n.strip() else None
        )
    except DomainError as exc:
        session.rollback()
        if isinstance(exc, NotFound):
            return error_page(request, exc, admin)
        return _project_page(request, session, settings, admin, project_id, error=exc)
    return RedirectResponse(f"/admin/projects/{pid}?created={snapshot.id}#exports", status_code=303)


@router.post("/projects/{project_id}/workers/{action}", response_class=HTMLResponse)
def set_worker_block(
    project_id: str,
    action: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    csrf: Annotated[str, Form(max_length=500)] = "",
    worker_id: Annotated[str, Form(max_length=200)] = "",
    reason: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    admin = gate(request, session, settings, csrf)
    if not isinstance(admin, Admin):
        return admin
    if action not in ("block", "unblock"):
        return error_page(request, NotFound(f"no worker action {action!r}"), admin)
    try:
        pid = parse_id(project_id, "project")
        projects.get_project(session=session, project_id=pid)
        review.set_block(
            session,
            settings,
            worker_id,
            blocked=action == "block",
            reason=reason.strip(),
            project_id=pid,
        )
    except DomainError as exc:
        session.rollback()
        return _project_page(request, session, settings, admin, project_id, error=exc)
    return RedirectResponse(
        f"/admin/projects/{pid}?worker={quote(worker_id, safe='')}#workers", status_code=303
    )


@router.get("/exports/{export_id}/download")
def download_export(
    export_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    format: Annotated[str, Query(max_length=10)] = "csv",
) -> Response:
    admin = gate(request, session, settings)
    if not isinstance(admin, Admin):
        return admin
    try:
        eid = parse_id(export_id, "export")
        if format not in EXPORT_FORMATS:
            raise NotFound(f"no download format {format!r}; use {', '.join(EXPORT_FORMATS)}")
        chunks, media, name, facts = exports.export_stream(
            session=session, export_id=eid, fmt=format
        )
    except DomainError as exc:
        return error_page(request, exc, admin)
    headers = {
        "Content-Disposition": f'attachment; filename="{name}"',
        "X-Checksum-SHA256": facts["checksum"],
        "Cache-Control": "no-store",
    }
    return StreamingResponse(chunks, media_type=media, headers=headers)
