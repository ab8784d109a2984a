"""Admin web pages (HTML, server-rendered, no JavaScript needed): the people-facing side of the
admin API under ``/admin``.

Sign-in takes an admin token (``frtrain admin create-token``), checked by app.services.auth. The
session cookie is HttpOnly, SameSite=Strict and signed with ``Settings.secret_key``; it holds only
the token's id and a CSRF nonce, and every request re-checks that the token is not revoked. Every
POST form carries the CSRF nonce (before sign-in: a double-submit nonce cookie). Pages call the
same service functions as the JSON API; domain errors become HTML pages with the matching status.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.orm import Session
from starlette.responses import StreamingResponse

from app.api.deps import MAX_ID, SessionDep, SettingsDep
from app.core.config import Settings
from app.core.errors import DomainError, InvalidInput, NotFound, Unauthorized
from app.schemas.crowd import AggregationMethod
from app.services import auth, crowd_reports, exports, labels, projects, publishing, review
from app.services import jobs as job_service

ROOT = Path(__file__).resolve().parents[2]
templates = Jinja2Templates(directory=str(ROOT / "templates"))
router = APIRouter(prefix="/admin", tags=["admin pages"], include_in_schema=False)

SESSION_COOKIE = "frtrain_admin"
LOGIN_COOKIE = "frtrain_admin_login"
SESSION_MAX_AGE = 12 * 3600
LOGIN_MAX_AGE = 3600
METHODS: tuple[AggregationMethod, ...] = ("mean", "majority", "weighted", "dawid_skene")
EXPORT_FORMATS = ("csv", "jsonl", "parquet")
NO_STORE = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
_TITLES = {
    401: "Please sign in",
    403: "Request refused",
    404: "Not found",
    409: "Not possible right now",
    422: "Please check the form",
    502: "The marketplace refused",
}


@dataclass(frozen=True)
class Admin:
    token_id: int
    name: str
    csrf: str


def _signer(settings: Settings, purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.secret_key, salt=f"frtrain-admin-{purpose}")


def _cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/admin",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def current_admin(request: Request, session: Session, settings: Settings) -> Admin | None:
    """The signed-in admin, or None (no cookie, bad signature, expired, or token revoked)."""
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    try:
        data = _signer(settings, "session").loads(raw, max_age=SESSION_MAX_AGE)
        token_id, csrf = int(data["t"]), str(data["c"])
    except (BadSignature, KeyError, TypeError, ValueError):
        return None
    try:
        row = auth.active_token(session=session, token_id=token_id)
    except Unauthorized:
        return None
    return Admin(token_id=row.id, name=row.name, csrf=csrf)


def _safe_next(target: str | None) -> str:
    # Only paths inside the admin pages: never an open redirect to another site.
    if target and target.startswith("/admin") and "//" not in target and "\\" not in target:
        return target
    return "/admin"


def _to_login(request: Request) -> RedirectResponse:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/admin/login?next={quote(here, safe='')}", status_code=303)


def _render(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    admin: Admin | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return templates.TemplateResponse(
        request, name, {"admin": admin, **context}, status_code=status_code, headers=NO_STORE
    )


def _error(request: Request, exc: DomainError, admin: Admin | None) -> HTMLResponse:
    title = _TITLES.get(exc.status_code, "Something went wrong")
    return _render(
        request,
        "admin/error.html",
        {"title": title, "detail": exc.detail, "status": exc.status_code},
        admin=admin,
        status_code=exc.status_code,
    )


def _parse_id(raw: str, what: str) -> int:
    # Ids come from the path as text so that "abc" or a huge number is a friendly 404 page.
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_ID:
        raise NotFound(f"{what} {raw!r} does not exist")
    return int(raw)


def _csrf_ok(admin: Admin, token: str) -> bool:
    return bool(token) and secrets.compare_digest(admin.csrf, token)


class Forbidden(DomainError):
    status_code = 403
    code = "forbidden"


_CSRF_REFUSED = Forbidden(
    "the form is out of date or was not sent from this site; reload the page and try again"
)


def _gate(
    request: Request, session: Session, settings: Settings, csrf: str | None = None
) -> Admin | Response:
    """The signed-in admin, else the response to send instead: the sign-in redirect, or a 403
    page when a form's CSRF value (checked when `csrf` is given) does not fit the session."""
    admin = current_admin(request, session, settings)
    if admin is None:
        return _to_login(request)
    if csrf is not None and not _csrf_ok(admin, csrf):
        return _error(request, _CSRF_REFUSED, admin)
    return admin


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
    response = _render(
        request,
        "admin/login.html",
        {
            "csrf": _signer(settings, "login").dumps(nonce),
            "next": next_url,
            "error": error,
        },
        status_code=status_code,
    )
    _cookie(response, request, LOGIN_COOKIE, nonce, LOGIN_MAX_AGE)
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
        nonce = _signer(settings, "login").loads(csrf, max_age=LOGIN_MAX_AGE)
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
    value = _signer(settings, "session").dumps({"t": row.id, "c": secrets.token_urlsafe(24)})
    response = RedirectResponse(target, status_code=303)
    _cookie(response, request, SESSION_COOKIE, value, SESSION_MAX_AGE)
    response.delete_cookie(LOGIN_COOKIE, path="/admin")
    return response


def _signed_out() -> RedirectResponse:
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
    if admin is not None and not _csrf_ok(admin, csrf):
        return _error(request, _CSRF_REFUSED, admin)
    return _signed_out()


@router.get("/logout")
def logout_link() -> Response:
    # Signing out needs no protection: the worst a forged request can do is sign someone out.
    return _signed_out()


# -- projects ------------------------------------------------------------------------------
@router.get("", response_class=HTMLResponse)
def projects_page(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    admin = _gate(request, session, settings)
    if not isinstance(admin, Admin):
        return admin
    rows, total = projects.list_projects(session=session, limit=1000)
    workers = {p.id: len(labels.worker_quality(session=session, project_id=p.id)) for p in rows}
    return _render(
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
    return {
        "project": project,
        "hits": publishing.hit_views(
            session=session, settings=settings, hits=publishing.list_hits(session, project_id)
        ),
        "workers": labels.worker_quality(session=session, project_id=project_id),
        "summary": labels.label_summary(
            session=session, project_id=project_id, n=n_used, methods=METHODS
        ),
        "n": n_used,
        "exports": exports.list_exports(session=session, project_id=project_id),
        "methods": METHODS,
        "formats": EXPORT_FORMATS,
        "audit": crowd_reports.audit_block(session=session, project_id=project_id),
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
) -> HTMLResponse:
    try:
        project_id = _parse_id(raw_id, "project")
        context = _project_context(session, settings, project_id, n)
    except DomainError as exc:
        session.rollback()
        return _error(request, exc, admin)
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
    )
    return _render(
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
) -> Response:
    admin = _gate(request, session, settings)
    if not isinstance(admin, Admin):
        return admin
    return _project_page(
        request, session, settings, admin, project_id, n=n, created=created, worker=worker
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
    admin = _gate(request, session, settings, csrf)
    if not isinstance(admin, Admin):
        return admin
    try:
        pid = _parse_id(project_id, "project")
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
            return _error(request, exc, admin)
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
    admin = _gate(request, session, settings, csrf)
    if not isinstance(admin, Admin):
        return admin
    if action not in ("block", "unblock"):
        return _error(request, NotFound(f"no worker action {action!r}"), admin)
    try:
        pid = _parse_id(project_id, "project")
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
    admin = _gate(request, session, settings)
    if not isinstance(admin, Admin):
        return admin
    try:
        eid = _parse_id(export_id, "export")
        if format not in EXPORT_FORMATS:
            raise NotFound(f"no download format {format!r}; use {', '.join(EXPORT_FORMATS)}")
        chunks, media, name, facts = exports.export_stream(
            session=session, export_id=eid, fmt=format
        )
    except DomainError as exc:
        return _error(request, exc, admin)
    headers = {
        "Content-Disposition": f'attachment; filename="{name}"',
        "X-Checksum-SHA256": facts["checksum"],
        "Cache-Control": "no-store",
    }
    return StreamingResponse(chunks, media_type=media, headers=headers)


# -- training jobs -------------------------------------------------------------------------
def _metric(results: dict[str, Any] | None, part: str, key: str) -> dict[str, Any] | None:
    try:
        value = (results or {})["summary"][part][key]
    except (KeyError, TypeError):
        return None
    return value if isinstance(value, dict) and value.get("mean") is not None else None


def _jobs_page(
    request: Request,
    session: Session,
    admin: Admin,
    *,
    error: DomainError | None = None,
    cancelled: int | None = None,
) -> HTMLResponse:
    summaries, total = job_service.list_jobs(session=session, limit=200)
    jobs = [job_service.read_job(session=session, job_id=s.id) for s in summaries]
    metrics = {
        j.id: {
            "accuracy": _metric(j.results, "test", "accuracy"),
            "di": _metric(j.results, "test", "disparate_impact"),
            "eo0": _metric(j.results, "test", "equalized_odds_y0"),
            "eo1": _metric(j.results, "test", "equalized_odds_y1"),
        }
        for j in jobs
    }
    notice = None
    for j in jobs if cancelled else ():
        if j.id == cancelled and j.cancel_requested:
            state = "cancelled" if j.status == "cancelled" else "asked to stop"
            notice = f"Training job {j.id} {state}."
    return _render(
        request,
        "admin/jobs.html",
        {
            "jobs": jobs,
            "total": total,
            "metrics": metrics,
            "notice": notice,
            "error": error.detail if error else None,
        },
        admin=admin,
        status_code=error.status_code if error else 200,
    )


@router.get("/jobs", response_class=HTMLResponse)
def jobs_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    cancelled: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> Response:
    admin = _gate(request, session, settings)
    if not isinstance(admin, Admin):
        return admin
    return _jobs_page(request, session, admin, cancelled=cancelled)


@router.post("/jobs/{job_id}/cancel", response_class=HTMLResponse)
def cancel_job(
    job_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    csrf: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    admin = _gate(request, session, settings, csrf)
    if not isinstance(admin, Admin):
        return admin
    try:
        jid = _parse_id(job_id, "training job")
        job_service.cancel_job(session=session, job_id=jid)
    except NotFound as exc:
        return _error(request, exc, admin)
    except DomainError as exc:
        session.rollback()
        return _jobs_page(request, session, admin, error=exc)
    return RedirectResponse(f"/admin/jobs?cancelled={jid}", status_code=303)


@router.get("/jobs/{job_id}/artifacts/{name}")
def job_artifact(
    job_id: str, name: str, request: Request, session: SessionDep, settings: SettingsDep
) -> Response:
    admin = _gate(request, session, settings)
    if not isinstance(admin, Admin):
        return admin
    try:
        jid = _parse_id(job_id, "training job")
        path = job_service.artifact_file(session=session, settings=settings, job_id=jid, name=name)
    except DomainError as exc:
        return _error(request, exc, admin)
    media = job_service.ARTIFACT_MEDIA.get(path.suffix, "application/octet-stream")
    return FileResponse(path, media_type=media, filename=f"job{jid}-{path.name}")
