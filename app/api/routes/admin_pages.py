"""Admin web pages (HTML, server-rendered, no JavaScript needed): the people-facing side of the
admin API under ``/admin``.

Sign-in takes an admin token (``frtrain admin create-token``), checked by app.services.auth. The
session cookie is HttpOnly, SameSite=Strict and signed with ``Settings.secret_key``; it holds only
a random session id (the session itself lives on the server and signing out ends it). Every
POST form carries the CSRF nonce (before sign-in: a double-submit nonce cookie). Pages call the
same service functions as the JSON API; domain errors become HTML pages with the matching status.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any, get_args
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from itsdangerous import BadSignature
from sqlalchemy.orm import Session
from starlette.responses import StreamingResponse

from app.api.deps import MAX_ID, SessionDep, SettingsDep
from app.api.routes import admin_actions, admin_jobs
from app.api.routes.admin_base import (
    CSRF_REFUSED,
    ROOT,
    SESSION_COOKIE,
    SESSION_MAX_AGE,
    Admin,
    csrf_ok,
    current_admin,
    error_page,
    gate,
    parse_id,
    read_notice,
    render,
    session_id_of,
    set_cookie,
    signer,
)
from app.core.config import Settings
from app.core.errors import DomainError, InvalidInput, NotFound, Unauthorized
from app.schemas.crowd import AggregationMethod
from app.services import auth, ledger, projects, publishing
from app.services.crowd import exports, labels
from app.services.crowd import summary as crowd_summary
from app.services.recruiting import review, review_queue

router = APIRouter(prefix="/admin", tags=["admin pages"], include_in_schema=False)

LOGIN_COOKIE = "frtrain_admin_login"
LOGIN_MAX_AGE = 3600
#: Every registered method (``AggregationMethod`` lists ``app.crowd.METHODS``, test-checked).
METHODS: tuple[AggregationMethod, ...] = get_args(AggregationMethod)
EXPORT_FORMATS = ("csv", "jsonl", "parquet")
SPEND_ROWS = 25  # newest ledger entries shown on the project page


def _safe_next(target: str | None) -> str:
    # Only paths inside the admin pages: never an open redirect to another site.
    if target and target.startswith("/admin") and "//" not in target and "\\" not in target:
        return target
    return "/admin"


# -- assets and sign-in ----------------------------------------------------------------------
@router.get("/assets/admin.css")
def admin_css() -> FileResponse:
    return FileResponse(ROOT / "static" / "admin.css", media_type="text/css")


def _login_page(
    request: Request,
    settings: Settings,
    next_url: str,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    nonce = secrets.token_urlsafe(24)
    response = render(
        request,
        "admin/login.html",
        {
            "csrf": signer(settings, "login").dumps(nonce),
            "next": next_url,
            "error": error,
        },
        status_code=status_code,
    )
    set_cookie(response, request, LOGIN_COOKIE, nonce, LOGIN_MAX_AGE)
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    next: Annotated[str | None, Query(max_length=2000)] = None,
) -> Response:
    if current_admin(request, session, settings) is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return _login_page(request, settings, _safe_next(next))


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    token: Annotated[str, Form(max_length=500)] = "",
    csrf: Annotated[str, Form(max_length=500)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/admin",
) -> Response:
    target = _safe_next(next)
    try:
        nonce = signer(settings, "login").loads(csrf, max_age=LOGIN_MAX_AGE)
    except BadSignature:
        nonce = None
    cookie = request.cookies.get(LOGIN_COOKIE, "")
    if not nonce or not cookie or not secrets.compare_digest(str(nonce), cookie):
        return _login_page(
            request,
            settings,
            target,
            error="The sign-in form expired or was not sent from this site; please try again.",
            status_code=403,
        )
    try:
        row = auth.verify_token(session=session, token=token.strip())
    except Unauthorized:
        return _login_page(
            request,
            settings,
            target,
            error="That token is not valid (wrong, mistyped or revoked).",
            status_code=401,
        )
    session_id, _csrf = auth.start_session(
        session=session, token_id=row.id, max_age=SESSION_MAX_AGE
    )
    value = signer(settings, "session").dumps({"s": session_id})
    response = RedirectResponse(target, status_code=303)
    set_cookie(response, request, SESSION_COOKIE, value, SESSION_MAX_AGE)
    response.delete_cookie(LOGIN_COOKIE, path="/admin")
    return response


def _signed_out(request: Request, session: Session, settings: Settings) -> RedirectResponse:
    session_id = session_id_of(request, settings)
    if session_id is not None:
        auth.end_session(session=session, session_id=session_id)  # ends it on the server
    response = RedirectResponse("/admin/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/admin")
    return response


@router.post("/logout")
def logout(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    csrf: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    admin = current_admin(request, session, settings)
    if admin is not None and not csrf_ok(admin, csrf):
        return error_page(request, CSRF_REFUSED, admin)
    return _signed_out(request, session, settings)


@router.get("/logout")
def logout_link(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    # Signing out needs no protection: the worst a forged request can do is sign someone out.
    return _signed_out(request, session, settings)


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
            session=session,
            settings=settings,
            worker_id=worker_id,
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


#: Every admin page router: sign-in and projects (here), project actions and the review queue
#: (admin_actions), training jobs (admin_jobs).
ROUTERS = (router, admin_actions.router, admin_jobs.router)
