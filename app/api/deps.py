"""Request dependencies: one session per request, settings, admin bearer-token check."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Path, Request, UploadFile
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.errors import PayloadTooLarge
from app.models import AdminToken
from app.services import auth as auth_service


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """One session per request; services commit, anything left open is rolled back."""
    session: Session = request.app.state.session_factory()
    try:
        yield session
    finally:
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
MAX_ID = 2_147_483_647
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]


async def read_upload(file: UploadFile, settings: Settings) -> bytes:
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
            raise PayloadTooLarge(
                f"upload exceeds the limit of {limit} bytes (MAX_UPLOAD_BYTES)", limit=limit
            )
        chunks.append(chunk)
    return b"".join(chunks)
