"""Server-side input validation from botocore's MTurk service model (docs/MTURK.md §7 item 8).

botocore itself checks only required members, types and minimums; real MTurk also enforces
maximums, patterns and enums and answers a Coral ``ValidationException`` naming the member in
lowerCamelCase, e.g. ``Value '0.9752' at 'bonusAmount' failed to satisfy constraint: Member must
satisfy regular expression pattern: ^[0-9]+(\\.)?[0-9]{0,2}$``. Type mismatches give
``SerializationException``.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape

from app.mturk.emulator.protocol import EmuError, validation_error


@lru_cache(maxsize=1)
def service_model() -> ServiceModel:
    return botocore.session.get_session().get_service_model("mturk")


def operation_model(name: str) -> OperationModel | None:
    model = service_model()
    return model.operation_model(name) if name in model.operation_names else None


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def _show(value: Any) -> str:
    return "null" if value is None else f"'{value}'"


def validate_input(op: OperationModel, params: Any) -> None:
    """Raise ``ValidationException`` / ``SerializationException`` for a bad request body."""
    if not isinstance(params, dict):
        raise EmuError("SerializationException", "Request body must be a JSON object", coral=True)
    shape = op.input_shape
    if shape is None:
        return
    problems: list[str] = []
    _walk(shape, params, "", problems)
    if problems:
        raise validation_error(problems)


def _walk(shape: Shape, value: Any, path: str, problems: list[str]) -> None:
    t = shape.type_name
    if t == "structure":
        if not isinstance(value, dict):
            raise EmuError("SerializationException", f"Expected an object at '{path}'", coral=True)
        members = shape.members  # type: ignore[attr-defined]
        for req in shape.required_members:  # type: ignore[attr-defined]
            if value.get(req) is None:
                problems.append(
                    f"Value null at '{_join(path, _camel(req))}' failed to satisfy constraint: "
                    "Member must not be null"
                )
        for key, sub in value.items():
            if key in members and sub is not None:
                _walk(members[key], sub, _join(path, _camel(key)), problems)
        return
    if t == "list":
        if not isinstance(value, list):
            raise EmuError("SerializationException", f"Expected a list at '{path}'", coral=True)
        _range(len(value), shape, path, value, problems, "length")
        for i, item in enumerate(value, start=1):
            _walk(shape.member, item, f"{path}.{i}.member", problems)  # type: ignore[attr-defined]
        return
    if t == "string":
        if not isinstance(value, str):
            raise EmuError("SerializationException", f"Expected a string at '{path}'", coral=True)
        _range(len(value), shape, path, value, problems, "length")
        pattern = shape.metadata.get("pattern")
        if pattern and not re.search(pattern, value):
            problems.append(
                f"Value {_show(value)} at '{path}' failed to satisfy constraint: "
                f"Member must satisfy regular expression pattern: {pattern}"
            )
        enum = shape.enum  # type: ignore[attr-defined]
        if enum and value not in enum:
            problems.append(
                f"Value {_show(value)} at '{path}' failed to satisfy constraint: "
                f"Member must satisfy enum value set: [{', '.join(enum)}]"
            )
        return
    if t in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            raise EmuError("SerializationException", f"Expected an integer at '{path}'", coral=True)
        _range(value, shape, path, value, problems, "value")
        return
    if t == "boolean":
        if not isinstance(value, bool):
            raise EmuError("SerializationException", f"Expected a boolean at '{path}'", coral=True)
        return
    if t == "timestamp":
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise EmuError(
                "SerializationException", f"Expected epoch seconds at '{path}'", coral=True
            )
        return


def _range(n: int, shape: Shape, path: str, value: Any, problems: list[str], what: str) -> None:
    lo, hi = shape.metadata.get("min"), shape.metadata.get("max")
    if lo is not None and n < lo:
        word = f"{what} greater than or equal to"
        problems.append(f"{_fail(value, path)}Member must have {word} {lo}")
    if hi is not None and n > hi:
        word = f"{what} less than or equal to"
        problems.append(f"{_fail(value, path)}Member must have {word} {hi}")


def _fail(value: Any, path: str) -> str:
    return f"Value {_show(value)} at '{path}' failed to satisfy constraint: "


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name
