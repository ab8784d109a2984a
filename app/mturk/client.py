"""The MTurk requester client: endpoint choice, live-spending guard, retries, error mapping.

Usage (the publishing / sync services)::

    mt = make_mturk_client(settings, project_allow_live=project.allow_live,
                           spending_cap=project.budget_cap)
    hit_row.endpoint_url = mt.endpoint_url          # record where the HIT went
    type_id = mt.create_hit_type(Title=..., Description=..., Reward="0.30",
                                 AssignmentDurationInSeconds=3600)
    created = mt.create_hit_idempotent(HITTypeId=type_id, LifetimeInSeconds=86400,
                                       MaxAssignments=9, Question=xml,
                                       RequesterAnnotation="p1:b3",
                                       UniqueRequestToken="p1-b3-h0")
    created.hit["HITId"], created.adopted           # adopted: HitAlreadyExists → existing HIT
    for a in mt.iter_assignments(hit_id, statuses=["Submitted"]): ...

Method keyword arguments are exactly boto3's (MTurk's PascalCase request members) and results are
boto3's response dicts (timestamps as tz-aware datetimes). Every failure is an
:class:`app.mturk.errors.MTurkError` carrying ``turk_error_code``.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

import boto3
from botocore import xform_name
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from app.core.config import (
    MTURK_LIVE_ENDPOINT,
    MTURK_LIVE_SUBMIT,
    MTURK_SANDBOX_ENDPOINT,
    MTURK_SANDBOX_SUBMIT,
    Settings,
)
from app.mturk.errors import (
    INVALID_ASSIGNMENT_STATE,
    MTurkDuplicateRequest,
    MTurkError,
    MTurkHitAlreadyExists,
    MTurkLiveNotAllowed,
    MTurkRequestError,
    translate_botocore_error,
    translate_client_error,
)

Mode = Literal["sandbox", "live", "custom"]
#: Attempts per call in botocore's standard retry mode (3 by default; MTurk throttles readily).
DEFAULT_MAX_ATTEMPTS = 6
#: Credentials used when an explicit endpoint (the local emulator) is set and none are given.
EMULATOR_DUMMY_KEY = "EMULATORACCESSKEY"
EMULATOR_DUMMY_SECRET = "emulator-secret"


@dataclass(frozen=True)
class MTurkTarget:
    """Where requester calls go and where the worker's form posts (``turkSubmitTo``)."""

    mode: Mode
    endpoint_url: str
    submit_base: str


def resolve_target(
    settings: Settings,
    *,
    project_allow_live: bool = False,
    spending_cap: Decimal | float | None = None,
) -> MTurkTarget:
    """Choose the endpoint.

    * ``MTURK_ENDPOINT_URL`` set → that endpoint (the local emulator serves its own
      ``/mturk/externalSubmit``, so it is also the submit base);
    * else ``MTURK_SANDBOX`` true (the default) → the sandbox;
    * else (live requested) → the live endpoint only if ``MTURK_ALLOW_LIVE``, the project's
      ``allow_live`` and a positive spending cap are all set; otherwise
      :class:`MTurkLiveNotAllowed` naming the missing switches.
    """
    url = settings.mturk_endpoint_url
    if url and url.rstrip("/") != MTURK_LIVE_ENDPOINT:
        base = url.rstrip("/")
        if base == MTURK_SANDBOX_ENDPOINT:
            return MTurkTarget("sandbox", MTURK_SANDBOX_ENDPOINT, MTURK_SANDBOX_SUBMIT)
        return MTurkTarget("custom", base, base)
    if not url and settings.mturk_sandbox:
        return MTurkTarget("sandbox", MTURK_SANDBOX_ENDPOINT, MTURK_SANDBOX_SUBMIT)
    missing = []
    if not settings.mturk_allow_live:
        missing.append("the MTURK_ALLOW_LIVE=true environment switch")
    if not project_allow_live:
        missing.append("the project's allow_live flag")
    if spending_cap is None or Decimal(str(spending_cap)) <= 0:
        missing.append("a positive project spending cap")
    if missing:
        raise MTurkLiveNotAllowed(
            "live MTurk (real money) refused: missing "
            + ", ".join(missing)
            + "; set MTURK_SANDBOX=true to use the sandbox",
            missing=missing,
        )
    return MTurkTarget("live", MTURK_LIVE_ENDPOINT, MTURK_LIVE_SUBMIT)


@dataclass(frozen=True)
class CreatedHIT:
    hit: dict[str, Any]
    adopted: bool  # True: the token was already used and the existing HIT was returned


class MTurkClient:
    """Thin wrapper: each method is one MTurk operation with botocore errors translated."""

    def __init__(self, boto_client: Any, target: MTurkTarget) -> None:
        self._c = boto_client
        self.target = target

    @property
    def endpoint_url(self) -> str:
        return self.target.endpoint_url

    @property
    def submit_base(self) -> str:
        """``turkSubmitTo`` base; the task page posts to ``{submit_base}/mturk/externalSubmit``."""
        return self.target.submit_base

    @property
    def mode(self) -> Mode:
        return self.target.mode

    @property
    def boto_client(self) -> Any:
        """The underlying boto3 client (for event hooks in tests; prefer the methods)."""
        return self._c

    def call(self, operation: str, **params: Any) -> dict[str, Any]:
        """Call any requester operation by its MTurk name, e.g. ``call("GetHIT", HITId=...)``."""
        method = getattr(self._c, _snake(operation))
        try:
            return dict(method(**params))
        except ClientError as exc:
            raise translate_client_error(exc, operation) from exc
        except BotoCoreError as exc:
            raise translate_botocore_error(exc, operation) from exc

    # -- account / HIT types / HITs ------------------------------------------------------------
    def get_account_balance(self) -> dict[str, Any]:
        return self.call("GetAccountBalance")

    def create_hit_type(self, **params: Any) -> str:
        return str(self.call("CreateHITType", **params)["HITTypeId"])

    def create_hit_with_hit_type(self, **params: Any) -> dict[str, Any]:
        return dict(self.call("CreateHITWithHITType", **params)["HIT"])

    def create_hit(self, **params: Any) -> dict[str, Any]:
        return dict(self.call("CreateHIT", **params)["HIT"])

    def create_hit_idempotent(self, **params: Any) -> CreatedHIT:
        """CreateHITWithHITType with a ``UniqueRequestToken``; a ``HitAlreadyExists`` answer
        (a retry after a lost response, or a restart) adopts the existing HIT via GetHIT."""
        if not params.get("UniqueRequestToken"):
            raise ValueError("create_hit_idempotent needs UniqueRequestToken")
        try:
            return CreatedHIT(self.create_hit_with_hit_type(**params), adopted=False)
        except MTurkHitAlreadyExists as exc:
            if not exc.existing_hit_id:
                raise
            return CreatedHIT(self.get_hit(exc.existing_hit_id), adopted=True)

    def get_hit(self, hit_id: str) -> dict[str, Any]:
        return dict(self.call("GetHIT", HITId=hit_id)["HIT"])

    def iter_hits(self, *, page_size: int = 100) -> Iterator[dict[str, Any]]:
        yield from self._paginate("ListHITs", "HITs", MaxResults=page_size)

    def create_additional_assignments(
        self, hit_id: str, number: int, *, unique_request_token: str | None = None
    ) -> bool:
        """Add assignments. Returns False if the token was already processed (a retry)."""
        params: dict[str, Any] = {"HITId": hit_id, "NumberOfAdditionalAssignments": number}
        if unique_request_token:
            params["UniqueRequestToken"] = unique_request_token
        try:
            self.call("CreateAdditionalAssignmentsForHIT", **params)
        except MTurkDuplicateRequest:
            return False
        return True

    def update_expiration(self, hit_id: str, expire_at: datetime) -> None:
        self.call("UpdateExpirationForHIT", HITId=hit_id, ExpireAt=expire_at)

    def expire_hit(self, hit_id: str) -> None:
        """Expire now: a past ExpireAt (MTurk expires the HIT immediately).

        The second-resolution timestamp differs between calls (MTurk refuses a repeated
        HITId+ExpireAt); a botocore retry of the same call resends it and is ignored here."""
        past = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
        with contextlib.suppress(MTurkDuplicateRequest):
            self.call("UpdateExpirationForHIT", HITId=hit_id, ExpireAt=past)

    def update_hit_review_status(self, hit_id: str, *, revert: bool = False) -> None:
        self.call("UpdateHITReviewStatus", HITId=hit_id, Revert=revert)

    def delete_hit(self, hit_id: str) -> None:
        self.call("DeleteHIT", HITId=hit_id)

    # -- assignments -----------------------------------------------------------------------------
    def iter_assignments(
        self, hit_id: str, *, statuses: list[str] | None = None, page_size: int = 100
    ) -> Iterator[dict[str, Any]]:
        extra: dict[str, Any] = {"HITId": hit_id, "MaxResults": page_size}
        if statuses:
            extra["AssignmentStatuses"] = statuses
        yield from self._paginate("ListAssignmentsForHIT", "Assignments", **extra)

    def get_assignment(self, assignment_id: str) -> dict[str, Any]:
        return self.call("GetAssignment", AssignmentId=assignment_id)

    def approve_assignment(
        self, assignment_id: str, *, feedback: str | None = None, override_rejection: bool = False
    ) -> None:
        params: dict[str, Any] = {"AssignmentId": assignment_id}
        if feedback:
            params["RequesterFeedback"] = feedback
        if override_rejection:
            params["OverrideRejection"] = True
        self.call("ApproveAssignment", **params)

    def reject_assignment(self, assignment_id: str, *, feedback: str) -> None:
        self.call("RejectAssignment", AssignmentId=assignment_id, RequesterFeedback=feedback)

    def ensure_approved(self, assignment_id: str, *, feedback: str | None = None) -> bool:
        """Approve unless already approved (idempotent on retry). True if this call approved;
        raises if the assignment was rejected (use ``approve_assignment(override_rejection=)``)."""
        return self._ensure_state(assignment_id, "Approved", feedback)

    def ensure_rejected(self, assignment_id: str, *, feedback: str) -> bool:
        """Reject unless already rejected (idempotent on retry). True if this call rejected."""
        return self._ensure_state(assignment_id, "Rejected", feedback)

    def _ensure_state(self, assignment_id: str, want: str, feedback: str | None) -> bool:
        try:
            if want == "Approved":
                self.approve_assignment(assignment_id, feedback=feedback)
            else:
                self.reject_assignment(assignment_id, feedback=feedback or "")
        except MTurkRequestError as exc:
            if exc.turk_error_code != INVALID_ASSIGNMENT_STATE:
                raise
            status = self.get_assignment(assignment_id)["Assignment"]["AssignmentStatus"]
            if status != want:
                raise
            return False
        return True

    def send_bonus(
        self,
        *,
        worker_id: str,
        assignment_id: str,
        amount: str,
        reason: str,
        unique_request_token: str,
    ) -> bool:
        """Pay a bonus once per token. False if the token was already processed (a retry)."""
        try:
            self.call(
                "SendBonus",
                WorkerId=worker_id,
                AssignmentId=assignment_id,
                BonusAmount=amount,
                Reason=reason,
                UniqueRequestToken=unique_request_token,
            )
        except MTurkDuplicateRequest:
            return False
        return True

    # -- workers ---------------------------------------------------------------------------------
    def create_worker_block(self, worker_id: str, reason: str) -> None:
        self.call("CreateWorkerBlock", WorkerId=worker_id, Reason=reason)

    def delete_worker_block(self, worker_id: str, reason: str | None = None) -> None:
        params: dict[str, Any] = {"WorkerId": worker_id}
        if reason:
            params["Reason"] = reason
        self.call("DeleteWorkerBlock", **params)

    def iter_worker_blocks(self, *, page_size: int = 100) -> Iterator[dict[str, Any]]:
        yield from self._paginate("ListWorkerBlocks", "WorkerBlocks", MaxResults=page_size)

    def notify_workers(
        self, *, subject: str, message: str, worker_ids: list[str]
    ) -> list[dict[str, Any]]:
        """Returns MTurk's per-worker failure entries (empty when all were notified)."""
        resp = self.call(
            "NotifyWorkers", Subject=subject, MessageText=message, WorkerIds=worker_ids
        )
        return list(resp.get("NotifyWorkersFailureStatuses", []))

    # -- qualifications --------------------------------------------------------------------------
    def create_qualification_type(self, **params: Any) -> dict[str, Any]:
        return dict(self.call("CreateQualificationType", **params)["QualificationType"])

    def associate_qualification(
        self, qualification_type_id: str, worker_id: str, value: int = 1, *, notify: bool = False
    ) -> None:
        self.call(
            "AssociateQualificationWithWorker",
            QualificationTypeId=qualification_type_id,
            WorkerId=worker_id,
            IntegerValue=value,
            SendNotification=notify,
        )

    def iter_workers_with_qualification(
        self, qualification_type_id: str, *, page_size: int = 100
    ) -> Iterator[dict[str, Any]]:
        yield from self._paginate(
            "ListWorkersWithQualificationType",
            "Qualifications",
            QualificationTypeId=qualification_type_id,
            MaxResults=page_size,
        )

    def _paginate(self, operation: str, key: str, **params: Any) -> Iterator[dict[str, Any]]:
        # Real MTurk puts a token on every non-empty page and ends with an empty page.
        token: str | None = None
        while True:
            page = self.call(operation, **params, **({"NextToken": token} if token else {}))
            yield from page.get(key, [])
            token = page.get("NextToken")
            if not token or not page.get(key):
                return


def _snake(op: str) -> str:
    # botocore's xform_name, without importing it at call sites.
    return str(xform_name(op))


def make_mturk_client(
    settings: Settings,
    *,
    project_allow_live: bool = False,
    spending_cap: Decimal | float | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    connect_timeout: float = 10.0,
    read_timeout: float = 60.0,
) -> MTurkClient:
    """Build the requester client (see :func:`resolve_target` for the endpoint rules).

    botocore retries in ``standard`` mode (throttling, 5xx and connection errors), so every
    state-changing call must carry an idempotency token or be checked before it is repeated.
    """
    target = resolve_target(
        settings, project_allow_live=project_allow_live, spending_cap=spending_cap
    )
    key, secret = settings.aws_access_key_id, settings.aws_secret_access_key
    if target.mode == "custom" and not (key and secret):
        key, secret = EMULATOR_DUMMY_KEY, EMULATOR_DUMMY_SECRET
    config = Config(
        retries={"mode": "standard", "total_max_attempts": max_attempts},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        # MTurk is us-east-1 only (docs/MTURK.md §5): MTURK_REGION's default.
        region_name=settings.mturk_region,
    )
    with _SESSION_LOCK:  # boto3 sessions are not thread-safe while creating clients
        boto_client = _session().client(
            "mturk",
            endpoint_url=target.endpoint_url,
            config=config,
            aws_access_key_id=key,
            aws_secret_access_key=secret,
        )
    return MTurkClient(boto_client, target)


_SESSION_LOCK = threading.Lock()


@functools.lru_cache(maxsize=1)
def _session() -> boto3.session.Session:
    # One shared session: loading the service model is the slow part of building a client.
    return boto3.session.Session(region_name="us-east-1")


__all__ = [
    "CreatedHIT",
    "MTurkClient",
    "MTurkError",
    "MTurkTarget",
    "make_mturk_client",
    "resolve_target",
]
