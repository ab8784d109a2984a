"""Pieces shared by the request models of every resource."""

from __future__ import annotations

import types
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, model_validator

#: JSON Schema of "text without NUL" (documented on every string field of a request body).
NO_NUL_PATTERN = "^[^\\u0000]*$"


def has_nul(value: Any) -> bool:
    """Whether a NUL character hides in ``value`` (strings, dict keys and values, lists)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(has_nul(v) for v in value)
    return False


def _unwrap(annotation: Any) -> Any:
    """`X` from `Annotated[X, ...]` and from `X | None`."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation


def _integral(annotation: Any, value: Any) -> Any:
    """5.0 for an integer field is 5 (JSON Schema's "integer" includes it); lists likewise."""
    inner = _unwrap(annotation)
    if inner is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if get_origin(inner) is list and isinstance(value, list) and get_args(inner):
        return [_integral(get_args(inner)[0], v) for v in value]
    return value


def _document_no_nul(schema: dict[str, Any]) -> None:
    # Say in the schema what the validator enforces: no NUL in any text field.
    def visit(node: Any) -> None:
        if isinstance(node, dict):
            free_text = not any(k in node for k in ("pattern", "enum", "const", "format"))
            if node.get("type") == "string" and free_text:
                node["pattern"] = NO_NUL_PATTERN
            for key in ("anyOf", "oneOf", "allOf"):
                for sub in node.get(key, []):
                    visit(sub)
            if "items" in node:
                visit(node["items"])

    for prop in schema.get("properties", {}).values():
        visit(prop)


class RequestModel(BaseModel):
    """A request body: unknown fields, NUL characters and loosely typed values (`true` or "3"
    for an integer, 1 for a boolean) are refused with a 422."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_document_no_nul)

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        # Postgres text and JSON cannot hold NUL: a 422 here, not a database error later.
        if has_nul(data):
            raise ValueError("text must not contain NUL (\\x00) characters")
        if isinstance(data, dict):
            fields = cls.model_fields
            data = {
                k: _integral(fields[k].annotation, v) if k in fields else v for k, v in data.items()
            }
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
