"""What every admin page module shares: rendering, friendly error pages, ids from the path,
signed cookies, and signed one-time notices for post/redirect/get (sign-in: admin_auth)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from itsdangerous import BadSignature, URLSafeTimedSerializer

from app.api.deps import MAX_ID
from app.core.config import Settings
from app.core.errors import DomainError, NotFound

ROOT = Path(__file__).resolve().parents[2]
templates = Jinja2Templates(directory=str(ROOT / "templates"))

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


class PageError(Exception):
    """A domain error to show as the admin's error page: raised by page handlers and the
    sign-in dependencies, turned into the page by :func:`show_page_error` (registered once,
    admin_pages)."""

    def __init__(self, error: DomainError, admin: Admin | None) -> None:
        super().__init__(error.detail)
        self.error = error
        self.admin = admin


def show_page_error(request: Request, exc: Exception) -> Response:
    """The exception handler of :class:`PageError`."""
    if not isinstance(exc, PageError):  # registered for PageError only
        raise exc
    return error_page(request, exc.error, exc.admin)


def parse_id(raw: str, what: str) -> int:
    # Ids come from the path as text so that "abc" or a huge number is a friendly 404 page.
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_ID:
        raise NotFound(f"{what} {raw!r} does not exist")
    return int(raw)


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
