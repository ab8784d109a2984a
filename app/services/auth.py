"""Admin tokens (issue 3 §4): random, shown once, stored as sha256, revocable."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.errors import NotFound, Unauthorized

__all__ = [
    "Unauthorized",
    "active_token",
    "create_token",
    "hash_token",
    "list_tokens",
    "revoke_token",
    "verify_token",
]
from app.models import AdminToken
from app.models.crowd import utcnow

#: Body detail of every 401: says nothing about which tokens exist.
UNAUTHORIZED_DETAIL = "missing or invalid bearer token"
TOKEN_PREFIX = "frt_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


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
