"""Domain errors. Services raise these; app.main maps them to HTTP in one place."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base class. `detail` says what was wrong and, where possible, how to fix it."""

    status_code = 400
    code = "invalid_input"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class InvalidInput(DomainError):
    status_code = 422
    code = "invalid_input"


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"


class Unauthorized(DomainError):
    status_code = 401
    code = "unauthorized"


class Forbidden(DomainError):
    """Known, but not allowed to do this (another worker's assignment, a forged form, a failed
    CSRF check)."""

    status_code = 403
    code = "forbidden"


class Gone(DomainError):
    status_code = 410
    code = "expired"


class PayloadTooLarge(DomainError):
    status_code = 413
    code = "payload_too_large"


class ExternalServiceError(DomainError):
    """An external service (MTurk) refused or failed; `extra` carries e.g. turk_error_code."""

    status_code = 502
    code = "external_service_error"
