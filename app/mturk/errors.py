"""MTurk failures as domain errors (the one place botocore exceptions are translated).

Every error raised by :mod:`app.mturk.client` is an :class:`MTurkError`, a subclass of
:class:`app.core.errors.ExternalServiceError`, carrying what the API layer needs to answer with a
4xx/409 body: ``turk_error_code`` (e.g. ``AWS.MechanicalTurk.InvalidAssignmentState``),
``aws_code`` (the wire ``__type``: ``RequestError``, ``ServiceFault``, ``ValidationException``,
``ThrottlingException``, ...), ``operation``, ``http_status`` and ``request_id``.
"""

from __future__ import annotations

import re
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from app.core.errors import DomainError, ExternalServiceError

# TurkErrorCodes used by the real service (docs/MTURK.md §2-3) and by our emulator.
HIT_ALREADY_EXISTS = "AWS.MechanicalTurk.HitAlreadyExists"
HIT_DOES_NOT_EXIST = "AWS.MechanicalTurk.HITDoesNotExist"
ASSIGNMENT_DOES_NOT_EXIST = "AWS.MechanicalTurk.AssignmentDoesNotExist"
INVALID_ASSIGNMENT_STATE = "AWS.MechanicalTurk.InvalidAssignmentState"
INVALID_HIT_STATE = "AWS.MechanicalTurk.InvalidHITState"
INSUFFICIENT_FUNDS = "AWS.MechanicalTurk.InsufficientFunds"
DUPLICATE_REQUEST = "AWS.MechanicalTurk.DuplicateRequest"
INVALID_MAX_ASSIGNMENTS_INCREASE = "AWS.MechanicalTurk.InvalidMaximumAssignmentsIncrease"
QUALIFICATION_TYPE_ALREADY_EXISTS = "AWS.MechanicalTurk.QualificationTypeAlreadyExists"
QUALIFICATION_TYPE_DOES_NOT_EXIST = "AWS.MechanicalTurk.QualificationTypeDoesNotExist"
XML_PARSE_ERROR = "AWS.MechanicalTurk.XMLParseError"
PARAMETER_OUT_OF_RANGE = "AWS.ParameterOutOfRange"
WORKER_DOES_NOT_EXIST = "AWS.MechanicalTurk.WorkerDoesNotExist"

#: Refusals that mean "no such object" (→ 404); every other RequestError is a state or
#: business-rule conflict (→ 409) unless it is a parameter problem (→ 422).
_NOT_FOUND_CODES = frozenset(
    {HIT_DOES_NOT_EXIST, ASSIGNMENT_DOES_NOT_EXIST, QUALIFICATION_TYPE_DOES_NOT_EXIST}
)
_INVALID_INPUT_CODES = frozenset(
    {XML_PARSE_ERROR, PARAMETER_OUT_OF_RANGE, "ValidationException", "ParameterValidationError"}
)
_THROTTLING_CODES = frozenset(
    {"Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException"}
)
# The duplicate-token message names the existing HIT ("... HIT with ID "3X..." ...").
_HIT_ID_IN_MESSAGE = re.compile(r'HIT(?: with)? ?ID:? "?([A-Z0-9]{1,64})\b')


class MTurkError(ExternalServiceError):
    """MTurk refused or failed a call. ``status_code`` is what our API should answer."""

    code = "mturk_error"

    def __init__(
        self,
        detail: str,
        *,
        operation: str,
        turk_error_code: str | None = None,
        aws_code: str | None = None,
        http_status: int | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(
            detail,
            operation=operation,
            turk_error_code=turk_error_code,
            aws_code=aws_code,
            http_status=http_status,
        )
        self.operation = operation
        self.turk_error_code = turk_error_code
        self.aws_code = aws_code
        self.http_status = http_status
        self.request_id = request_id


class MTurkRequestError(MTurkError):
    """A client-side refusal (HTTP 400): wrong state, unknown object, bad parameter, funds."""

    code = "mturk_request_error"

    def __init__(self, detail: str, **kw: Any) -> None:
        super().__init__(detail, **kw)
        tec = self.turk_error_code or self.aws_code
        if tec in _NOT_FOUND_CODES or "does not exist" in detail:
            self.status_code = 404
        elif tec in _INVALID_INPUT_CODES:
            self.status_code = 422
        else:
            self.status_code = 409


class MTurkHitAlreadyExists(MTurkRequestError):
    """``UniqueRequestToken`` was already used within 24 h; ``existing_hit_id`` names the HIT."""

    code = "mturk_hit_already_exists"

    def __init__(self, detail: str, **kw: Any) -> None:
        super().__init__(detail, **kw)
        match = _HIT_ID_IN_MESSAGE.search(detail)
        self.existing_hit_id: str | None = match.group(1) if match else None


class MTurkDuplicateRequest(MTurkRequestError):
    """A repeated idempotency token for SendBonus / extend / UpdateExpirationForHIT."""

    code = "mturk_duplicate_request"


class MTurkUnavailable(MTurkError):
    """ServiceFault, 5xx, throttling or a network failure that survived botocore's retries."""

    code = "mturk_unavailable"
    status_code = 503


class MTurkLiveNotAllowed(DomainError):
    """The live (paid) endpoint was requested without every required switch."""

    status_code = 403
    code = "mturk_live_not_allowed"


def is_duplicate_token_message(message: str) -> bool:
    return "has already been processed" in message or "same Unique Request Token" in message


def translate_client_error(exc: ClientError, operation: str) -> MTurkError:
    """Map a botocore ``ClientError`` to the matching :class:`MTurkError` subclass."""
    resp: dict[str, Any] = dict(exc.response)
    err = resp.get("Error", {})
    aws_code = str(err.get("Code") or "")
    message = str(err.get("Message") or exc)
    meta = resp.get("ResponseMetadata", {})
    status = meta.get("HTTPStatusCode")
    request_id = meta.get("RequestId")
    tec = resp.get("TurkErrorCode")
    kw: dict[str, Any] = {
        "operation": operation,
        "turk_error_code": tec,
        "aws_code": aws_code,
        "http_status": status,
        "request_id": request_id,
    }
    detail = f"MTurk {operation} failed: {message}"
    if tec:
        detail += f" [{tec}]"
    if aws_code in _THROTTLING_CODES or (isinstance(status, int) and status >= 500):
        return MTurkUnavailable(detail, **kw)
    if tec == HIT_ALREADY_EXISTS:
        return MTurkHitAlreadyExists(detail, **kw)
    if tec == DUPLICATE_REQUEST or is_duplicate_token_message(message):
        return MTurkDuplicateRequest(detail, **kw)
    return MTurkRequestError(detail, **kw)


def translate_botocore_error(exc: BotoCoreError, operation: str) -> MTurkError:
    """Network / credential failures raised before or instead of an HTTP answer."""
    if isinstance(exc, NoCredentialsError):
        return MTurkError(
            f"MTurk {operation}: no AWS credentials; set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (any dummy pair works against the local emulator)",
            operation=operation,
        )
    return MTurkUnavailable(f"MTurk {operation} unreachable: {exc}", operation=operation)
