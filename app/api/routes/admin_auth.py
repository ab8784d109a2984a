"""Admin sign-in: the login form, sessions, signing out and the CSRF check of every form.

Sign-in takes an admin token (``frtrain admin create-token``), checked by app.services.auth. The
session cookie is HttpOnly, SameSite=Strict and signed with ``Settings.secret_key``; it holds only
a random session id whose server-side row names the token and the CSRF nonce (the session lives
on the server and signing out ends it); every request re-checks that the session exists and the
token is not revoked. Every POST form carries the CSRF nonce (before sign-in: a double-submit
nonce cookie).
"""

from __future__ import annotations

import secrets
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from itsdangerous import BadSignature
from sqlalchemy.orm import Session

from app.api.deps import SessionDep, SettingsDep
from app.api.routes.admin_base import ROOT, Admin, error_page, render, set_cookie, signer
from app.core.config import Settings
from app.core.errors import DomainError, Unauthorized
from app.services import auth

router = APIRouter(prefix="/admin", tags=["admin pages"], include_in_schema=False)

SESSION_COOKIE = "frtrain_admin"
SESSION_MAX_AGE = 12 * 3600
LOGIN_COOKIE = "frtrain_admin_login"
LOGIN_MAX_AGE = 3600


def session_id_of(request: Request, settings: Settings) -> str | None:
    """The random session id the signed cookie carries, or None."""
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    try:
        data = signer(settings, "session").loads(raw, max_age=SESSION_MAX_AGE)
        return str(data["s"])
    except (BadSignature, KeyError, TypeError, ValueError):
        return None


def current_admin(request: Request, session: Session, settings: Settings) -> Admin | None:
    """The signed-in admin, or None (no cookie, bad signature, expired, signed out, revoked):
    the session lives on the server (app.services.auth), the cookie holds only its id."""
    session_id = session_id_of(request, settings)
    if session_id is None:
        return None
    found = auth.find_session(session=session, session_id=session_id)
    if found is None:
        return None
    row, csrf = found
    return Admin(token_id=row.id, name=row.name, csrf=csrf)


def to_login(request: Request) -> RedirectResponse:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/admin/login?next={quote(here, safe='')}", status_code=303)


def csrf_ok(admin: Admin, token: str) -> bool:
    return bool(token) and secrets.compare_digest(admin.csrf, token)


class Forbidden(DomainError):
    status_code = 403
    code = "forbidden"


CSRF_REFUSED = Forbidden(
    "the form is out of date or was not sent from this site; reload the page and try again"
)


def gate(
    request: Request, session: Session, settings: Settings, csrf: str | None = None
) -> Admin | Response:
    """The signed-in admin, else the response to send instead: the sign-in redirect, or a 403
    page when a form's CSRF value (checked when `csrf` is given) does not fit the session."""
    admin = current_admin(request, session, settings)
    if admin is None:
        return to_login(request)
    if csrf is not None and not csrf_ok(admin, csrf):
        return error_page(request, CSRF_REFUSED, admin)
    return admin


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
