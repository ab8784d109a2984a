"""What every admin page module shares: the signed session cookie, the sign-in gate with its
CSRF check, rendering, friendly error pages, and signed one-time notices for post/redirect/get.

The session cookie is HttpOnly, SameSite=Strict and signed with ``Settings.secret_key``; it holds
only a random session id whose server-side row names the token and the CSRF nonce; every request
re-checks that the session exists and the token is not revoked, and signing out deletes the row.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from app.api.deps import MAX_ID
from app.core.config import Settings
from app.core.errors import DomainError, Forbidden, NotFound
from app.services import auth

ROOT = Path(__file__).resolve().parents[2]
templates = Jinja2Templates(directory=str(ROOT / "templates"))

SESSION_COOKIE = "frtrain_admin"
SESSION_MAX_AGE = 12 * 3600
NOTICE_MAX_AGE = 3600
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


def signer(settings: Settings, purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.secret_key, salt=f"frtrain-admin-{purpose}")


def set_cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/admin",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


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


def render(
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


# Absolute server paths (two or more segments) that are not this site's own URLs.
_SERVER_PATH = re.compile(r"(?<![\w:/.])/(?!admin/|api/)(?:[\w.-]+/)+([\w.-]+)")


def scrub_paths(text: str) -> str:
    """``/srv/data/jobs/3/x.json`` -> ``…/x.json``: pages never show where files live."""
    return _SERVER_PATH.sub(lambda m: f"…/{m.group(1)}", text)


def error_page(request: Request, exc: DomainError, admin: Admin | None) -> HTMLResponse:
    title = _TITLES.get(exc.status_code, "Something went wrong")
    return render(
        request,
        "admin/error.html",
        {"title": title, "detail": scrub_paths(exc.detail), "status": exc.status_code},
        admin=admin,
        status_code=exc.status_code,
    )


def parse_id(raw: str, what: str) -> int:
    # Ids come from the path as text so that "abc" or a huge number is a friendly 404 page.
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_ID:
        raise NotFound(f"{what} {raw!r} does not exist")
    return int(raw)


def csrf_ok(admin: Admin, token: str) -> bool:
    return bool(token) and secrets.compare_digest(admin.csrf, token)


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


# -- notices across post/redirect/get -----------------------------------------------------------
@dataclass(frozen=True)
class Notice:
    ok: list[str]
    refused: list[str]


NOTICE_LINES = 10  # messages of each kind carried; the rest are counted
NOTICE_CHARS = 300


def _lines(messages: list[str]) -> list[str]:
    out = [m if len(m) <= NOTICE_CHARS else m[: NOTICE_CHARS - 1] + "…" for m in messages]
    if len(out) > NOTICE_LINES:
        out = [*out[: NOTICE_LINES - 1], f"… and {len(out) - NOTICE_LINES + 1} more"]
    return out


def notice_token(settings: Settings, ok: list[str], refused: list[str] | None = None) -> str:
    """What an action did, signed for the page it redirects to (a forged notice is ignored);
    short enough for a URL (at most NOTICE_LINES lines of each kind, compressed)."""
    body = {"o": _lines(ok), "r": _lines(refused or [])}
    return str(signer(settings, "notice").dumps(body))


def read_notice(settings: Settings, raw: str | None) -> Notice | None:
    if not raw:
        return None
    try:
        data = signer(settings, "notice").loads(raw, max_age=NOTICE_MAX_AGE)
        return Notice(ok=[str(m) for m in data["o"]], refused=[str(m) for m in data["r"]])
    except (BadSignature, KeyError, TypeError, ValueError):
        return None


def redirect_with_notice(
    settings: Settings, url: str, ok: list[str], refused: list[str] | None = None
) -> RedirectResponse:
    path, _, anchor = url.partition("#")
    sep = "&" if "?" in path else "?"
    token = quote(notice_token(settings, ok, refused), safe="")
    return RedirectResponse(
        f"{path}{sep}notice={token}" + (f"#{anchor}" if anchor else ""), status_code=303
    )
