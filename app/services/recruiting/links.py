"""Recruiting providers and the signatures the task page relies on.

* ``mturk``: HITs on Mechanical Turk (sandbox by default); MTurk appends ``assignmentId``,
  ``hitId``, ``workerId`` and ``turkSubmitTo`` to the task URL.
* ``link``: plain task URLs for any panel or in-house annotators. The worker is identified by a
  signed per-worker invite token (``?invite=``) or by the panel's id parameter (``?pid=``, allowed
  only on a link carrying the HIT's signature ``k``); the worker gets a completion code at the end.

Every signature is made by app.core.security (HMAC-SHA256 with a purpose prefix).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import urlencode, urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.config import (
    MTURK_LIVE_ENDPOINT,
    MTURK_LIVE_SUBMIT,
    MTURK_SANDBOX_ENDPOINT,
    MTURK_SANDBOX_SUBMIT,
    Settings,
)
from app.core.errors import InvalidInput
from app.core.security import sign
from app.models import Hit, LinkInvite, Project
from app.mturk.client import MTurkClient, make_mturk_client

PREVIEW_ASSIGNMENT_ID = "ASSIGNMENT_ID_NOT_AVAILABLE"
LINK_WORKER_PREFIX = "link:"
LINK_PANEL_PREFIX = "link:panel:"


def mturk_client(settings: Settings, project: Project | None) -> MTurkClient:
    """The requester client for a project, or for none (then no live permission and no spending
    cap); endpoint rules and the live guard are in app.mturk."""
    return make_mturk_client(
        settings,
        project_allow_live=bool(project and project.allow_live),
        spending_cap=project.budget_cap if project else None,
    )


def submit_base_for(endpoint_url: str | None) -> str | None:
    """Where a worker of a HIT published at ``endpoint_url`` must post (``turkSubmitTo``)."""
    if not endpoint_url:
        return None
    base = endpoint_url.rstrip("/")
    if base == MTURK_SANDBOX_ENDPOINT:
        return MTURK_SANDBOX_SUBMIT
    if base == MTURK_LIVE_ENDPOINT:
        return MTURK_LIVE_SUBMIT
    return base  # the local emulator serves its own /mturk/externalSubmit


def check_submit_to(hit: Hit, turk_submit_to: str) -> str:
    """The posted ``turkSubmitTo`` must be the HIT's marketplace (never an arbitrary site)."""
    want = submit_base_for(hit.endpoint_url)
    got = turk_submit_to.rstrip("/")
    parts = urlsplit(got)
    if want is None or parts.scheme not in ("http", "https") or got != want:
        raise InvalidInput(
            f"turkSubmitTo {turk_submit_to!r} is not the marketplace this HIT was published to"
        )
    return got


def task_url(settings: Settings, hit_id: int) -> str:
    """The ExternalURL of a HIT (MTurk appends its own parameters)."""
    return f"{settings.public_base_url.rstrip('/')}/task/{hit_id}"


def form_token(
    settings: Settings,
    hit_id: int,
    assignment_id: str,
    provider_hit_id: str,
    worker_id: str,
    submit_to: str,
) -> str:
    """Binds a task form to one assignment, HIT, worker and ``turkSubmitTo`` (checked on every
    post): a forged or altered form is refused."""
    return sign(settings, "task-form", hit_id, assignment_id, provider_hit_id, worker_id, submit_to)


def answer_field(settings: Settings, assignment_id: str, example_id: int) -> str:
    """The form field of one question for one assignment: an HMAC, so field names differ per
    assignment and say nothing about the example (its id, or whether it is a gold check)."""
    return "q" + sign(settings, "answer-field", assignment_id, example_id)[:20]


# -- link provider -----------------------------------------------------------------------
def link_key(settings: Settings, hit_id: int) -> str:
    return sign(settings, "link-hit", hit_id)[:22]


def invite_token(*, session: Session, project_id: int, worker: str) -> str:
    """The worker's invite token for the project: random and opaque (it encodes nothing about
    the worker), created once and stored, so asking again gives the same link."""
    if not worker or ":" in worker:
        raise InvalidInput(
            f"invite name {worker[:40]!r} must be non-empty and contain no ':' (panel ids use "
            "their own namespace)"
        )
    row = session.scalar(
        select(LinkInvite).where(LinkInvite.project_id == project_id, LinkInvite.worker == worker)
    )
    if row is None:
        row = LinkInvite(token=secrets.token_urlsafe(24), project_id=project_id, worker=worker)
        session.add(row)
        session.flush()
    return row.token


def read_invite(*, session: Session, project_id: int, token: str) -> str | None:
    """The invited worker's name, or None when the token is not an invite of this project."""
    if not token or len(token) > 64:
        return None
    row = session.get(LinkInvite, token)
    if row is None or row.project_id != project_id:
        return None
    return row.worker


def invite_worker_id(worker: str) -> str:
    """The worker id of an invited worker (``link:<name>``)."""
    return LINK_WORKER_PREFIX + worker


def panel_worker_id(pid: str) -> str:
    """The worker id of a panel participant (``link:panel:<pid>``): a namespace of its own, since
    invite names never contain ':'; a panel id is never an invited worker."""
    return f"{LINK_PANEL_PREFIX}{pid}"


def link_assignment_id(settings: Settings, hit_id: int, worker: str) -> str:
    """Deterministic, so reopening the link resumes the same assignment."""
    digest = hashlib.sha256(sign(settings, "link-assignment", hit_id, worker).encode())
    return "L" + base64.b32encode(digest.digest()).decode()[:29]


def completion_code(settings: Settings, assignment_id: str) -> str:
    return base64.b32encode(
        hashlib.sha256(sign(settings, "completion", assignment_id).encode()).digest()
    ).decode()[:10]


def invite_url(*, session: Session, settings: Settings, hit: Hit, worker: str) -> str:
    query = urlencode(
        {"invite": invite_token(session=session, project_id=hit.project_id, worker=worker)}
    )
    return f"{task_url(settings, hit.id)}?{query}"


def panel_url(settings: Settings, hit: Hit) -> str:
    """A link for a panel, which appends its own worker id after the trailing ``pid=``."""
    query = urlencode({"k": link_key(settings, hit.id)})
    return f"{task_url(settings, hit.id)}?{query}&pid="
