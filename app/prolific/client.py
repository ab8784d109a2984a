"""The Prolific researcher-API client: the only module that talks to Prolific (httpx).

* Where: ``PROLIFIC_API_URL`` (a local emulator in tests and the demo). Prolific has no sandbox
  (docs/PROLIFIC.md §1), so its live API is used only when ``PROLIFIC_ALLOW_LIVE``, the project's
  ``allow_live`` and a positive spending cap are all set, and with no settings at all nothing is
  reachable: :class:`ProlificLiveNotAllowed` names the missing switches.
* Auth: ``Authorization: Token <PROLIFIC_API_TOKEN>``; trailing slashes on every path; redirects
  are not followed.
* Retries: 429 on any call and 5xx/transport errors on calls that are safe to repeat (GETs,
  submission transitions, group membership; docs/PROLIFIC.md §7), with exponential backoff and
  ``Retry-After``. Calls that would duplicate on repeat (create study, create bonus, pay bonus)
  are tried once; their callers reconcile by reading back (:mod:`app.services.recruiting.prolific`).
* Errors: Prolific's nested or flat error body → :class:`ProlificRequestError` (or a subclass)
  carrying Prolific's own message.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import httpx

from app.core.config import PROLIFIC_LIVE_API, PROLIFIC_LIVE_APP, Settings
from app.core.errors import Conflict, ExternalServiceError, NotFound

DEFAULT_ATTEMPTS = 8
BACKOFF_BASE = 0.05
BACKOFF_CAP = 2.0
TIMEOUT = httpx.Timeout(30.0, connect=5.0)


class ProlificError(ExternalServiceError):
    """Prolific refused or failed; ``status`` is Prolific's HTTP status."""

    code = "prolific_error"

    def __init__(self, detail: str, *, status: int = 0, **extra: Any) -> None:
        super().__init__(detail, prolific_status=status, **extra)
        self.status = status


class ProlificRequestError(ProlificError, Conflict):
    """A 4xx from Prolific: our request was wrong for the object's state (shown as 409)."""

    status_code = 409
    code = "prolific_refused"


class ProlificNotFound(ProlificError, NotFound):
    status_code = 404
    code = "prolific_not_found"


class ProlificAuthError(ProlificError):
    status_code = 502
    code = "prolific_auth"


class ProlificUnavailable(ProlificError):
    """429/5xx/transport failure after every retry (or on a call that must not be repeated)."""

    status_code = 503
    code = "prolific_unavailable"


class ProlificLiveNotAllowed(Conflict):
    status_code = 409
    code = "prolific_live_not_allowed"


def error_message(body: Any, fallback: str) -> str:
    """Prolific's message from either error shape (docs/PROLIFIC.md §1 Errors), else
    ``fallback``."""
    if isinstance(body, dict):
        nested = body.get("error")
        inner: dict[str, Any] = nested if isinstance(nested, dict) else body
        detail = inner.get("detail", inner.get("message"))
        title = inner.get("title")
        if isinstance(detail, dict):
            text = "; ".join(
                f"{k}: {' '.join(map(str, v)) if isinstance(v, list) else v}"
                for k, v in detail.items()
            )
        elif isinstance(detail, list):
            text = " ".join(map(str, detail))
        elif detail is not None:
            text = str(detail)
        else:
            text = ""
        if text or title:
            return f"{title}: {text}" if title and text else str(text or title)
    if isinstance(body, str) and body.strip():
        return body.strip()[:500]
    return fallback


@dataclass(frozen=True)
class ProlificTarget:
    mode: str  # "emulator" | "live"
    api_url: str
    app_url: str


def resolve_target(
    settings: Settings,
    *,
    project_allow_live: bool = False,
    spending_cap: Decimal | float | None = None,
) -> ProlificTarget:
    """Where calls go: a non-Prolific ``PROLIFIC_API_URL`` (an emulator) is used as is; Prolific's
    API only with all three live switches and a token; nothing otherwise."""
    url = (settings.prolific_api_url or "").rstrip("/")
    host = urlsplit(url).hostname or ""
    live = not url or host.endswith("prolific.com") or host.endswith("prolific.co")
    if not live:
        parts = urlsplit(url)
        app = (settings.prolific_app_url or f"{parts.scheme}://{parts.netloc}").rstrip("/")
        return ProlificTarget("emulator", url, app)
    missing = []
    if not settings.prolific_allow_live:
        missing.append("the PROLIFIC_ALLOW_LIVE=true environment switch")
    if not project_allow_live:
        missing.append("the project's allow_live flag")
    if spending_cap is None or Decimal(str(spending_cap)) <= 0:
        missing.append("a positive project spending cap")
    if not settings.prolific_api_token:
        missing.append("PROLIFIC_API_TOKEN")
    if missing:
        raise ProlificLiveNotAllowed(
            "Prolific has no sandbox and its API spends real money: refused, missing "
            + ", ".join(missing)
            + "; set PROLIFIC_API_URL to a local emulator (`frtrain prolific-local`) to test",
            missing=missing,
        )
    return ProlificTarget(
        "live", url or PROLIFIC_LIVE_API, settings.prolific_app_url or PROLIFIC_LIVE_APP
    )


class ProlificClient:
    """One method per researcher-API call used by the provider; results are Prolific's JSON."""

    def __init__(
        self,
        target: ProlificTarget,
        token: str,
        *,
        attempts: int = DEFAULT_ATTEMPTS,
        transport: httpx.BaseTransport | None = None,
        sleep: Any = time.sleep,
    ) -> None:
        self.target = target
        self.attempts = max(1, attempts)
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=target.api_url + "/",
            headers={"Authorization": f"Token {token}", "Accept": "application/json"},
            timeout=TIMEOUT,
            follow_redirects=False,
            transport=transport,
        )
        self.calls = 0

    @property
    def api_url(self) -> str:
        return self.target.api_url

    @property
    def mode(self) -> str:
        return self.target.mode

    def completion_url(self, code: str) -> str:
        """Where a participant ends (docs/PROLIFIC.md §3 Completion)."""
        return f"{self.target.app_url}/submissions/complete?cc={code}"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ProlificClient:
        return self

    def __exit__(self, *exc: object) -> None:
        return None  # clients are shared per target (connection pool); close() ends one

    # -- plumbing ----------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        repeatable: bool | None = None,
    ) -> Any:
        """One call with retries. ``repeatable`` (default: GET) allows retrying 5xx/timeouts."""
        path = path.lstrip("/")
        if not path.endswith("/") and "?" not in path:
            path += "/"
        safe = method == "GET" if repeatable is None else repeatable
        last: str = ""
        for attempt in range(self.attempts):
            self.calls += 1
            try:
                resp = self._http.request(method, path, json=json, params=params)
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
                if not safe:
                    raise ProlificUnavailable(
                        f"Prolific did not answer {method} /{path} ({last}); the call may or may "
                        "not have taken effect",
                        ambiguous=True,
                    ) from None
                self._backoff(attempt, None)
                continue
            if resp.status_code == 429 or (resp.status_code >= 500 and safe):
                last = error_message(_body(resp), f"HTTP {resp.status_code}")
                self._backoff(attempt, resp.headers.get("Retry-After"))
                continue
            if resp.status_code >= 500:
                raise ProlificUnavailable(
                    f"Prolific failed {method} /{path}: "
                    f"{error_message(_body(resp), f'HTTP {resp.status_code}')}; the call may "
                    "have taken effect",
                    status=resp.status_code,
                    ambiguous=True,
                )
            if resp.status_code >= 400:
                raise _error(resp, method, path)
            if resp.status_code == 204 or not resp.content:
                return None
            return _body(resp)
        raise ProlificUnavailable(
            f"Prolific kept refusing {method} /{path} after {self.attempts} attempts ({last})"
        )

    def _backoff(self, attempt: int, retry_after: str | None) -> None:
        if attempt + 1 >= self.attempts:
            return
        wait = min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt) * (0.5 + random.random() / 2)
        if retry_after:
            with contextlib.suppress(ValueError):
                wait = max(wait, min(float(retry_after), BACKOFF_CAP * 5))
        self._sleep(wait)

    def paginate(self, path: str, params: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every row of a paginated list, following ``_links.next.href`` (docs/PROLIFIC.md §1)."""
        body = self.request("GET", path, params=params)
        while True:
            yield from body.get("results", [])
            nxt = ((body.get("_links") or {}).get("next") or {}).get("href")
            if not nxt:
                return
            parts = urlsplit(nxt)
            base = urlsplit(self.target.api_url)
            rel = parts.path[len(base.path) :] if parts.path.startswith(base.path) else parts.path
            body = self.request("GET", rel + ("?" + parts.query if parts.query else ""))

    # -- account -----------------------------------------------------------------------------
    def me(self) -> dict[str, Any]:
        return self.request("GET", "users/me/")

    def workspaces(self) -> list[dict[str, Any]]:
        return list(self.paginate("workspaces/", {"limit": 100}))

    def projects(self, workspace_id: str) -> list[dict[str, Any]]:
        return list(self.paginate(f"workspaces/{workspace_id}/projects/", {"limit": 100}))

    def create_project(self, workspace_id: str, title: str) -> dict[str, Any]:
        return self.request("POST", f"workspaces/{workspace_id}/projects/", json={"title": title})

    def balance(self, workspace_id: str) -> dict[str, Any]:
        return self.request("GET", f"workspaces/{workspace_id}/balance/")

    # -- studies -----------------------------------------------------------------------------
    def create_study(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", "studies/", json=body, repeatable=False)

    def get_study(self, study_id: str) -> dict[str, Any]:
        return self.request("GET", f"studies/{study_id}/")

    def update_study(self, study_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        return self.request("PATCH", f"studies/{study_id}/", json=changes, repeatable=True)

    def transition_study(self, study_id: str, action: str) -> dict[str, Any]:
        # Not repeatable blindly: a repeated PUBLISH after success answers 400; callers re-read.
        return self.request(
            "POST", f"studies/{study_id}/transition/", json={"action": action}, repeatable=False
        )

    def project_studies(self, project_id: str) -> Iterator[dict[str, Any]]:
        return self.paginate(
            f"projects/{project_id}/studies/", {"ordering": "-date_created", "page_size": 100}
        )

    def study_submissions(self, study_id: str) -> Iterator[dict[str, Any]]:
        return self.paginate(f"studies/{study_id}/submissions/", {"limit": 100})

    def study_cost(self, reward: int, places: int) -> int:
        body = self.request(
            "POST",
            "study-cost-calculator/",
            json={"reward": reward, "total_available_places": places},
            repeatable=True,
        )
        return int(body["total_cost"])

    # -- submissions -------------------------------------------------------------------------
    def get_submission(self, submission_id: str) -> dict[str, Any]:
        return self.request("GET", f"submissions/{submission_id}/")

    def transition_submission(self, submission_id: str, body: dict[str, Any]) -> dict[str, Any]:
        # Documented idempotent: an identical repeat is ignored (docs/PROLIFIC.md §3).
        return self.request(
            "POST", f"submissions/{submission_id}/transition/", json=body, repeatable=True
        )

    def bulk_approve(self, submission_ids: list[str]) -> Any:
        # Skips submissions already approved, so a repeat is harmless (docs/PROLIFIC.md §3).
        return self.request(
            "POST",
            "submissions/bulk-approve/",
            json={"submission_ids": submission_ids},
            repeatable=True,
        )

    def request_return(self, submission_id: str, reasons: list[str]) -> dict[str, Any]:
        return self.request(
            "POST",
            f"submissions/{submission_id}/request-return/",
            json={"request_return_reasons": reasons},
            repeatable=True,
        )

    def create_bonus(self, study_id: str, csv_bonuses: str) -> dict[str, Any]:
        return self.request(
            "POST",
            "submissions/bonus-payments/",
            json={"study_id": study_id, "csv_bonuses": csv_bonuses},
            repeatable=False,
        )

    def pay_bonus(self, bonus_id: str) -> None:
        # NOT idempotent: a second call pays again (docs/PROLIFIC.md §4); never retried on 5xx.
        self.request("POST", f"bulk-bonus-payments/{bonus_id}/pay/", repeatable=False)

    # -- participant groups ------------------------------------------------------------------
    def create_group(self, workspace_id: str, name: str) -> dict[str, Any]:
        return self.request(
            "POST",
            "participant-groups/",
            json={"workspace_id": workspace_id, "name": name},
            repeatable=False,
        )

    def groups(self, workspace_id: str) -> list[dict[str, Any]]:
        return list(
            self.paginate("participant-groups/", {"workspace_id": workspace_id, "limit": 100})
        )

    def add_to_group(self, group_id: str, participant_ids: list[str]) -> None:
        self.request(
            "POST",
            f"participant-groups/{group_id}/participants/",
            json={"participant_ids": participant_ids},
            repeatable=True,
        )

    def remove_from_group(self, group_id: str, participant_ids: list[str]) -> None:
        self.request(
            "DELETE",
            f"participant-groups/{group_id}/participants/",
            json={"participant_ids": participant_ids},
            repeatable=True,
        )


def _body(resp: httpx.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return resp.text


def _error(resp: httpx.Response, method: str, path: str) -> ProlificError:
    message = error_message(_body(resp), f"HTTP {resp.status_code}")
    text = f"Prolific refused {method} /{path}: {message}"
    if resp.status_code in (401, 403):
        return ProlificAuthError(
            text + " (check PROLIFIC_API_TOKEN and its workspace)", status=resp.status_code
        )
    if resp.status_code == 404:
        return ProlificNotFound(text, status=404)
    return ProlificRequestError(text, status=resp.status_code, prolific_message=message)


def make_prolific_client(
    settings: Settings,
    *,
    project_allow_live: bool = False,
    spending_cap: Decimal | float | None = None,
) -> ProlificClient:
    """The client for a project's switches (see :func:`resolve_target`)."""
    target = resolve_target(
        settings, project_allow_live=project_allow_live, spending_cap=spending_cap
    )
    token = settings.prolific_api_token or ""
    if target.mode == "emulator" and not token:
        token = "emulator-token"
    return ProlificClient(target, token)


__all__ = [
    "ProlificAuthError",
    "ProlificClient",
    "ProlificError",
    "ProlificLiveNotAllowed",
    "ProlificNotFound",
    "ProlificRequestError",
    "ProlificUnavailable",
    "make_prolific_client",
    "resolve_target",
]
