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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from itsdangerous import BadSignature
from sqlalchemy.orm import Session

from app.api.deps import SessionDep, SettingsDep
from app.api.routes.admin_base import (
    ROOT,
    Admin,
    PageError,
    error_page,
    redirect_with_notice,
    render,
    set_cookie,
    signer,
)
from app.core.config import Settings
from app.core.errors import DomainError, Forbidden, Unauthorized
from app.services import auth

router = APIRouter(prefix="/admin", tags=["admin pages"], include_in_schema=False)

SESSION_COOKIE = "frtrain_admin"
SESSION_MAX_AGE = 12 * 3600
LOGIN_COOKIE = "frtrain_admin_login"
LOGIN_MAX_AGE = 3600
CsrfForm = Annotated[str, Form(max_length=500)]


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


CSRF_REFUSED = Forbidden(
    "the form is out of date or was not sent from this site; reload the page and try again"
)


class SignInRequired(Exception):
    """No admin is signed in: raised by the sign-in dependency (:func:`signed_in`), turned into
    the redirect to the sign-in form by :func:`to_sign_in` (registered once, admin_pages)."""


def to_sign_in(request: Request, _exc: Exception) -> Response:
    """The exception handler of :class:`SignInRequired`."""
    return to_login(request)


@dataclass(frozen=True)
class Page:
    """A signed-in request: what every admin page handler works with."""

    request: Request
    session: Session
    settings: Settings
    admin: Admin

    def render(self, name: str, context: dict[str, Any], *, status_code: int = 200) -> Response:
        return render(self.request, name, context, admin=self.admin, status_code=status_code)

    def error(self, exc: DomainError) -> HTMLResponse:
        """The friendly error page of `exc`."""
        return error_page(self.request, exc, self.admin)

    @contextmanager
    def errors_shown(self, *, rollback: bool = False) -> Iterator[None]:
        """A domain error inside becomes the error page (:class:`PageError`), after a rollback
        when asked."""
        try:
            yield
        except DomainError as exc:
            if rollback:
                self.session.rollback()
            raise PageError(exc, self.admin) from None


@dataclass(frozen=True)
class Action(Page):
    """A signed-in form POST whose CSRF value fits the session (post/redirect/get)."""

    def done(self, back: str, ok: list[str], refused: list[str] | None = None) -> Response:
        """The redirect to `back` whose notice says what the action did and what was refused."""
        return redirect_with_notice(self.settings, back, ok, refused)

    def run(self, back: str, work: Callable[[], Response], *, prefix: str = "") -> Response:
        """`work`'s response; a domain error it raises is rolled back and becomes the refused
        notice (``prefix`` + its detail) on the page `back` names."""
        try:
            return work()
        except DomainError as exc:
            self.session.rollback()
            return self.done(back, [], [prefix + exc.detail])


def signed_in(request: Request, session: SessionDep, settings: SettingsDep) -> Page:
    """The sign-in dependency: the signed-in request, else :class:`SignInRequired`."""
    admin = current_admin(request, session, settings)
    if admin is None:
        raise SignInRequired
    return Page(request=request, session=session, settings=settings, admin=admin)


PageDep = Annotated[Page, Depends(signed_in)]


def checked_form(page: PageDep, csrf: CsrfForm = "") -> Action:
    """The dependency of every form POST: signed in, and the form's CSRF value fits the
    session, else the 403 page."""
    if not csrf_ok(page.admin, csrf):
        raise PageError(CSRF_REFUSED, page.admin)
    return Action(page.request, page.session, page.settings, page.admin)


ActionDep = Annotated[Action, Depends(checked_form)]


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
    csrf: CsrfForm = "",
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
    csrf: CsrfForm = "",
) -> Response:
    admin = current_admin(request, session, settings)
    if admin is not None and not csrf_ok(admin, csrf):
        raise PageError(CSRF_REFUSED, admin)
    return _signed_out(request, session, settings)


@router.get("/logout")
def logout_link(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    # Signing out needs no protection: the worst a forged request can do is sign someone out.
    return _signed_out(request, session, settings)
