"""Request dependencies: one session per request, settings, admin bearer-token check."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

import anyio
from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.datastructures import UploadFile as StarletteUpload
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Message, Receive

from app.core.config import MAX_ID, Settings
from app.core.errors import InvalidInput, PayloadTooLarge
from app.models import AdminToken
from app.services import auth as auth_service


async def get_settings_dep(request: Request) -> Settings:
    # async: a plain lookup, so no trip through the threadpool (as a sync dependency would take).
    settings: Settings = request.app.state.settings
    return settings


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One session per request; services commit, anything left open is rolled back.

    Made on the event loop (no I/O until first used, so no trip through the threadpool); closed
    there too when nothing is open, else in the threadpool (the rollback talks to the database
    and must not block the loop), shielded so that a client hanging up cannot skip it."""
    session: Session = request.app.state.session_factory()
    try:
        yield session
    finally:
        if session.in_transaction():
            with anyio.CancelScope(shield=True):
                await run_in_threadpool(session.close)
        else:
            session.close()


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SessionDep = Annotated[Session, Depends(get_session)]

_bearer = HTTPBearer(auto_error=False, description="Admin token from `frtrain admin create-token`")


def require_admin(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> AdminToken:
    token = credentials.credentials if credentials is not None else None
    return auth_service.verify_token(session=session, token=token)


AdminDep = Annotated[AdminToken, Depends(require_admin)]

#: Primary keys are 32-bit on every database we support; larger ids are a 422, never a DB error.
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]


#: Bytes a multipart body may carry beyond its file (boundaries, part headers, small fields).
MULTIPART_OVERHEAD = 64 * 1024
FILE_FIELD = "file"


def _too_large(limit: int, what: str) -> PayloadTooLarge:
    return PayloadTooLarge(f"{what} exceeds the limit of {limit} bytes", limit=limit)


def limited_request(request: Request, limit: int, what: str) -> Request:
    """`request` whose body is refused (413) past `limit` bytes: at once from a declared
    Content-Length, else as soon as the stream passes the limit (nothing beyond is read)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise InvalidInput("the Content-Length header is not a number")
        if int(declared) > limit:
            raise _too_large(limit, what)
    received = 0
    upstream: Receive = request.receive

    async def receive() -> Message:
        nonlocal received
        message = await upstream()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise _too_large(limit, what)
        return message

    return Request(request.scope, receive)


async def read_form(
    request: Request,
    *,
    limit: int,
    max_fields: int,
    max_field_bytes: int,
    max_files: int = 0,
    what: str = "the form",
) -> FormData:
    """The request's form, bounded in total size, number of fields and size of each field."""
    bounded = limited_request(request, limit, what)
    try:
        return await bounded.form(
            max_files=max_files, max_fields=max_fields, max_part_size=max_field_bytes
        )
    except StarletteHTTPException as exc:  # the parser's own limits (fields, part size)
        raise InvalidInput(f"the form is refused: {exc.detail}") from None


@dataclass(frozen=True)
class Upload:
    data: bytes
    filename: str | None


#: OpenAPI of an upload route's body: the routes read it themselves, after the admin check.
UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {FILE_FIELD: {"type": "string", "format": "binary"}},
                    "required": [FILE_FIELD],
                }
            }
        },
    }
}


async def read_file_upload(request: Request, settings: Settings) -> Upload:
    """The multipart field `file`, read only now (routes call this after the admin check, so
    an unauthenticated body is never read) and refused past MAX_UPLOAD_BYTES while streaming."""
    limit = settings.max_upload_bytes
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise InvalidInput(
            f"send the table as multipart/form-data, in a field named {FILE_FIELD!r}"
        )
    form = await read_form(
        request,
        limit=limit + MULTIPART_OVERHEAD,
        max_fields=10,
        max_field_bytes=MULTIPART_OVERHEAD,
        max_files=1,
        what="the upload (MAX_UPLOAD_BYTES)",
    )
    try:
        file = form.get(FILE_FIELD)
        if not isinstance(file, StarletteUpload):
            raise InvalidInput(f"the multipart body has no file field named {FILE_FIELD!r}")
        return Upload(data=await read_upload(file, settings), filename=file.filename)
    finally:
        await form.close()


async def read_upload(file: StarletteUpload, settings: Settings) -> bytes:
    """The whole upload, or PayloadTooLarge past Settings.max_upload_bytes (read in chunks)."""
    limit = settings.max_upload_bytes
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await file.read(1 << 20)
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            raise _too_large(limit, "the upload (MAX_UPLOAD_BYTES)")
        chunks.append(chunk)
    return b"".join(chunks)
