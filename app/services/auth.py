"""Admin tokens: random, shown once, stored as sha256, revocable."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.core.errors import NotFound, Unauthorized

__all__ = [
    "Unauthorized",
    "active_token",
    "create_token",
    "end_session",
    "find_session",
    "hash_token",
    "list_tokens",
    "revoke_token",
    "start_session",
    "verify_token",
]
from app.core.security import token_hash
from app.models import AdminSession, AdminToken
from app.models.crowd import utcnow

#: Body detail of every 401: says nothing about which tokens exist.
UNAUTHORIZED_DETAIL = "missing or invalid bearer token"
TOKEN_PREFIX = "frt_"


hash_token = token_hash


@dataclass(frozen=True)
class IssuedToken:
    id: int
    name: str
    token: str


def create_token(*, session: Session, name: str = "") -> IssuedToken:
    """Create a token; the plaintext is returned once and never stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = AdminToken(name=name, token_hash=hash_token(token))
    session.add(row)
    session.commit()
    return IssuedToken(id=row.id, name=row.name, token=token)


def revoke_token(*, session: Session, token_id: int | None = None, token: str | None = None) -> int:
    """Revoke by id or by plaintext; returns the id. Revoking twice is harmless."""
    if (token_id is None) == (token is None):
        raise ValueError("give exactly one of token_id or token")
    stmt = select(AdminToken)
    if token_id is not None:
        stmt = stmt.where(AdminToken.id == token_id)
    else:
        stmt = stmt.where(AdminToken.token_hash == hash_token(str(token)))
    row = session.scalars(stmt).one_or_none()
    if row is None:
        raise NotFound("no such admin token")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    session.commit()
    return row.id


def list_tokens(*, session: Session) -> list[AdminToken]:
    return list(session.scalars(select(AdminToken).order_by(AdminToken.id)))


def verify_token(*, session: Session, token: str | None) -> AdminToken:
    """Return the active token row or raise Unauthorized (same message for every failure)."""
    if not token:
        raise Unauthorized(UNAUTHORIZED_DETAIL)
    row = session.scalars(
        select(AdminToken).where(
            AdminToken.token_hash == hash_token(token), AdminToken.revoked_at.is_(None)
        )
    ).one_or_none()
    if row is None:
        raise Unauthorized(UNAUTHORIZED_DETAIL)
    return row


def active_token(*, session: Session, token_id: int) -> AdminToken:
    """The token row by id if it is not revoked, else Unauthorized (admin web-page sessions
    store only the id, so a revoked token's session stops working at once)."""
    row = session.get(AdminToken, token_id)
    if row is None or row.revoked_at is not None:
        raise Unauthorized(UNAUTHORIZED_DETAIL)
    return row


# -- admin web-page sessions: server-side, so signing out ends them ----------------------------
def start_session(*, session: Session, token_id: int, max_age: int) -> tuple[str, str]:
    """A new session for an active token: (session id for the cookie, CSRF value). Only the
    id's sha256 is stored; expired sessions are purged on the way."""
    active_token(session=session, token_id=token_id)
    now = utcnow()
    session.execute(delete(AdminSession).where(AdminSession.expires_at < now))
    session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    session.add(
        AdminSession(
            session_hash=hash_token(session_id),
            token_id=token_id,
            csrf=csrf,
            expires_at=now + timedelta(seconds=max_age),
        )
    )
    session.commit()
    return session_id, csrf


def find_session(*, session: Session, session_id: str) -> tuple[AdminToken, str] | None:
    """(token row, CSRF value) of a live session, or None (unknown, ended, expired, revoked)."""
    row = session.scalars(
        select(AdminSession).where(AdminSession.session_hash == hash_token(session_id))
    ).one_or_none()
    if row is None:
        return None
    expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=UTC)
    if expires <= utcnow():
        return None
    try:
        token = active_token(session=session, token_id=row.token_id)
    except Unauthorized:
        return None
    return token, row.csrf


def end_session(*, session: Session, session_id: str) -> None:
    """Sign out: the session row goes, so the cookie (or any copy of it) is worthless."""
    session.execute(delete(AdminSession).where(AdminSession.session_hash == hash_token(session_id)))
    session.commit()
