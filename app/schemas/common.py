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
    """A request body: unknown fields and NUL characters are refused with a 422."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        # Postgres text and JSON cannot hold NUL: a 422 here, not a database error later.
        if has_nul(data):
            raise ValueError("text must not contain NUL (\\x00) characters")
        return data
