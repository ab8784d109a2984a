"""MTurk's JSON 1.1 wire protocol: targets, error bodies and statuses (docs/MTURK.md §1).

Request: ``POST /`` with ``X-Amz-Target: MTurkRequesterServiceV20170117.<Op>``,
``Content-Type: application/x-amz-json-1.1`` and a SigV4 ``Authorization`` header (its shape is
checked, its signature is not). Success: 200 with the output JSON and ``x-amzn-RequestId``.
Errors: ``{"__type", "Message", "TurkErrorCode"}`` with 400 (``RequestError``) or 500
(``ServiceFault``); Coral-style ``ValidationException`` / ``ThrottlingException`` (400,
lower-case ``message``) for shape violations and throttling.
"""

from __future__ import annotations

import re
import time
from typing import Any

TARGET_PREFIX = "MTurkRequesterServiceV20170117"
CONTENT_TYPE = "application/x-amz-json-1.1"
_AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<akid>[^/\s,]+)/\d{8}/[a-z0-9-]+/mturk-requester/"
    r"aws4_request,"
    r"\s*SignedHeaders=[a-z0-9;-]+,\s*Signature=[0-9a-f]{64}$"
)


class EmuError(Exception):
    """An error answer. ``body`` is the exact JSON sent; ``status`` the HTTP status."""

    def __init__(
        self,
        type_: str,
        message: str,
        *,
        status: int = 400,
        turk_error_code: str | None = None,
        coral: bool = False,
    ) -> None:
        super().__init__(message)
        self.type = type_
        self.message = message
        self.status = status
        self.turk_error_code = turk_error_code
        self.coral = coral

    @property
    def body(self) -> dict[str, Any]:
        if self.coral:
            return {"__type": self.type, "message": self.message}
        out: dict[str, Any] = {"__type": self.type, "Message": self.message}
        if self.turk_error_code:
            out["TurkErrorCode"] = self.turk_error_code
        return out


def _stamp(message: str) -> str:
    # Real MTurk messages end with " (<epoch-ms>)".
    return f"{message} ({int(time.time() * 1000)})"


def request_error(message: str, turk_error_code: str) -> EmuError:
    """A business-rule refusal: HTTP 400 ``RequestError`` (never retried by botocore)."""
    return EmuError("RequestError", _stamp(message), status=400, turk_error_code=turk_error_code)


def service_fault(
    message: str = "The service is temporarily unavailable.", status: int = 500
) -> EmuError:
    return EmuError(
        "ServiceFault", _stamp(message), status=status, turk_error_code="AWS.ServiceUnavailable"
    )


def validation_error(problems: list[str]) -> EmuError:
    n = len(problems)
    head = f"{n} validation error{'s' if n > 1 else ''} detected: "
    return EmuError("ValidationException", head + "; ".join(problems), coral=True)


def parameter_validation_error(value: str, parameter: str) -> EmuError:
    # Unmodeled code the real service sends for e.g. an unknown WorkerId (aws-sdk-java#2055).
    return EmuError(
        "ParameterValidationError",
        _stamp(f'The value "{value}" is not valid for the parameter {parameter}.'),
        turk_error_code="AWS.ParameterValidationError",
    )


THROTTLED = EmuError("ThrottlingException", "Rate exceeded", status=400, coral=True)


def check_authorization(header: str | None) -> str:
    """Return the access key id from a well-formed SigV4 header, else raise (403 like AWS)."""
    if not header:
        raise EmuError(
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
            status=403,
            coral=True,
        )
    m = _AUTH_RE.match(header.strip())
    if not m:
        raise EmuError(
            "IncompleteSignatureException",
            "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' "
            "for AWS4-HMAC-SHA256 with service mturk-requester",
            status=403,
            coral=True,
        )
    return m.group("akid")


def parse_target(target: str | None) -> str:
    prefix, _, op = (target or "").partition(".")
    if prefix != TARGET_PREFIX or not op:
        raise EmuError("UnknownOperationException", f"Unknown target {target!r}", coral=True)
    return op
