"""Shared pieces of the Prolific provider: ids, fee rules, times, the client per target and
the account objects (workspace, Prolific project)."""

from __future__ import annotations

import math
import re
import threading
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.errors import Conflict
from app.models import (
    Project,
    ProlificAccount,
)
from app.prolific.client import (
    ProlificClient,
    ProlificUnavailable,
    make_prolific_client,
    resolve_target,
)
from app.services import ledger

if TYPE_CHECKING:
    pass


WORKER_PREFIX = "prolific:"
KEY_PREFIX = "frtrain"
_HEX24 = re.compile(r"^[0-9a-f]{24}$")
SECONDS_PER_QUESTION = 15  # the estimated completion time's rule (a 30-question task: 8 min)
FINISHED = ("AWAITING REVIEW", "APPROVED")
GONE = ("RETURNED", "TIMED-OUT", "REJECTED")
REJECTION_CATEGORY = "FAILED_CHECK"
REJECTION_TAIL = (
    " The check questions in this study have known answers, and the answers given to them "
    "were far from those answers, so the submission could not be used."
)
RETURN_REASON = "No answers reached the study server; please return this submission."
ATTEMPTS = 6
#: Prolific's minimum pay rate per hour (docs/PROLIFIC.md §2: $8, £6), in the project's currency.
HOURLY_FLOOR = Decimal("8.00")


def now() -> datetime:
    return datetime.now(UTC)


def minor(amount: Decimal) -> int:
    """Major → minor units (the workspace currency; the project's rates are read as such)."""
    return int((amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def fees(settings: Settings, amount: Decimal) -> tuple[Decimal, Decimal]:
    """Prolific's fee on ``amount`` (rewards or bonuses) and the VAT on that fee, to the cent."""
    fee = ledger.money(amount * Decimal(str(settings.prolific_fee_percent)) / 100)
    vat = ledger.money(fee * Decimal(str(settings.prolific_vat_percent)) / 100)
    return fee, vat


def max_time(eta: int, options: dict[str, Any]) -> int:
    """``maximum_allowed_time``: the option's duration, at least the stricter documented
    minimum 2 + 2·ETA + 2·√ETA (docs/PROLIFIC.md §2 lists two; the larger satisfies both)."""
    floor = math.ceil(2 + 2 * eta + 2 * math.sqrt(eta))
    return max(floor, int(options["assignment_duration_seconds"]) // 60)


def worker_id(pid: str) -> str:
    return WORKER_PREFIX + pid


_CLIENTS: dict[tuple[Any, ...], ProlificClient] = {}
_CLIENTS_LOCK = threading.Lock()


def client_for(settings: Settings, project: Project) -> ProlificClient:
    """The project's client (the live switches are checked on every call; one connection pool
    per target and token is shared, so a sync does not reconnect for every submission)."""
    target = resolve_target(
        settings, project_allow_live=bool(project.allow_live), spending_cap=project.budget_cap
    )
    key = (target, settings.prolific_api_token)
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(key)
        if client is None:
            client = make_prolific_client(
                settings,
                project_allow_live=bool(project.allow_live),
                spending_cap=project.budget_cap,
            )
            _CLIENTS[key] = client
        return client


def account(
    *, session: Session, settings: Settings, client: ProlificClient, project: Project
) -> ProlificAccount:
    """The workspace and Prolific project of this project's studies (found or made once)."""
    row = session.get(ProlificAccount, project.id)
    if row is not None and row.api_url == client.api_url:
        return row
    workspace = settings.prolific_workspace_id
    if workspace is None:
        spaces = client.workspaces()
        if not spaces:
            raise Conflict("the Prolific token has no workspace")
        workspace = str(spaces[0]["id"])
    title = f"{settings.prolific_project_title} project {project.id}"
    found = next((p for p in client.projects(workspace) if p.get("title") == title), None)
    if found is None:
        try:
            found = client.create_project(workspace, title)
        except ProlificUnavailable:
            found = next((p for p in client.projects(workspace) if p.get("title") == title), None)
            if found is None:
                raise
    if row is None:
        row = ProlificAccount(project_id=project.id)
        session.add(row)
    row.api_url = client.api_url
    row.workspace_id = workspace
    row.prolific_project_id = str(found["id"])
    session.commit()
    return row


def place_cost_of(settings: Settings, reward: Decimal) -> Decimal:
    fee, vat = fees(settings, reward)
    return ledger.money(reward) + fee + vat
