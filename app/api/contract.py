"""The HTTP contract beyond the routes: every error body has one documented shape
(``ErrorBody``, also under the name FastAPI gives its 422 schema, ``HTTPValidationError``), every
operation documents it, and the access log never records link credentials."""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.schemas.common import ErrorBody

#: Query parameters that are credentials of the `link` provider (invite tokens, panel keys).
_CREDENTIAL = re.compile(r"(?i)([?&](?:invite|k)=)[^&\s\"]*")
REDACTED = "[redacted]"
ACCESS_LOGGER = "uvicorn.access"


def redact(text: str) -> str:
    return _CREDENTIAL.sub(r"\1" + REDACTED, text)


class RedactLinkCredentials(logging.Filter):
    """Rewrites `invite=` and `k=` query values in log records (uvicorn's access line passes
    the path with its query string as an argument)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


def install_log_redaction() -> None:
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, RedactLinkCredentials) for f in logger.filters):
        logger.addFilter(RedactLinkCredentials())


def _error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    }


def _patch(schema: dict[str, Any]) -> None:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    body = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in body.pop("$defs", {}).items():
        components[name] = sub
    components["ErrorBody"] = body
    # The 422 that FastAPI documents on every operation is our error body too.
    components["HTTPValidationError"] = {**body, "title": "HTTPValidationError"}
    components.pop("ValidationError", None)
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            for code, response in responses.items():
                if code.startswith(("4", "5")) and "content" not in response:
                    response["content"] = _error_response("")["content"]
            responses.setdefault(
                "default", _error_response("an error: `error` names it, `detail` explains it")
            )


#: Routes that read (and bound, with MAX_UPLOAD_BYTES) their own multipart bodies.
UPLOAD_PATHS = re.compile(r"^/api/v1/(projects/[^/]+/(examples|answers/import)|training-files)$")
#: Any other request body (JSON, admin and task forms) is at most this large.
MAX_BODY_BYTES = 16 * 1024 * 1024


class BodyLimit:
    """ASGI middleware: a request body past MAX_BODY_BYTES is a 413, refused from its declared
    Content-Length at once or as soon as the stream passes the limit (never read in full)."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or UPLOAD_PATHS.match(scope["path"]):
            await self.app(scope, receive, send)
            return
        detail = f"the request body exceeds the limit of {self.limit} bytes"
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            response = JSONResponse(
                status_code=413, content={"error": "payload_too_large", "detail": detail}
            )
            await response(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    # An HTTPException passes through FastAPI's body parsing unchanged.
                    raise StarletteHTTPException(413, detail)
            return message

        await self.app(scope, limited, send)


def _allowed_methods(app: FastAPI, request: Request) -> list[str]:
    # Starlette's 405 names only the methods of the first route matching the path; a resource
    # with GET and DELETE routes must list both.
    methods: set[str] = set()
    for route in app.router.routes:
        match, _ = route.matches({**request.scope, "method": "GET"})
        route_methods = getattr(route, "methods", None)
        if match != Match.NONE and route_methods:
            methods.update(route_methods)
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


def install_contract(app: FastAPI) -> None:
    async def method_not_allowed(request: Request, exc: Exception) -> JSONResponse:
        allowed = _allowed_methods(app, request)
        detail = f"{request.method} is not allowed here; allowed: {', '.join(allowed)}"
        if isinstance(exc, StarletteHTTPException) and exc.status_code != 405:
            detail = str(exc.detail)
        return JSONResponse(
            status_code=405,
            content={"error": "method_not_allowed", "detail": detail},
            headers={"Allow": ", ".join(allowed)},
        )

    app.add_exception_handler(405, method_not_allowed)
    app.add_middleware(BodyLimit)
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _patch(original())
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]
    install_log_redaction()
