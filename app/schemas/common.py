"""Pieces shared by the request models of every resource."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator


def has_nul(value: Any) -> bool:
    """Whether a NUL character hides in ``value`` (strings, dict keys and values, lists)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(has_nul(v) for v in value)
    return False


class RequestModel(BaseModel):
    """A request body: unknown fields, NUL characters and loosely typed values (`true` or "3"
    for an integer, 1 for a boolean) are refused with a 422."""

    model_config = ConfigDict(extra="forbid", strict=True)

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        # Postgres text and JSON cannot hold NUL: a 422 here, not a database error later.
        if has_nul(data):
            raise ValueError("text must not contain NUL (\\x00) characters")
        return data


class FieldError(BaseModel):
    """One invalid request field: where (`loc`), what (`msg`), and pydantic's error `type`."""

    loc: list[str]
    msg: str
    type: str


class ErrorBody(BaseModel):
    """Every 4xx/5xx JSON body. `error` is a stable code (invalid_input, unauthorized,
    not_found, conflict, payload_too_large, database_unavailable, ...); `detail` says what is
    wrong and how to fix it; `errors` lists the invalid fields of a 422. Errors about a table
    row add `row` and `column`."""

    model_config = ConfigDict(extra="allow")

    error: str
    detail: str
    errors: list[FieldError] | None = None
