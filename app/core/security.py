"""Signatures: HMAC-SHA256 under ``Settings.secret_key`` with a purpose prefix, so a value signed
for one purpose is never valid for another; compared in constant time. The task page's form
tokens, answer-field names, link keys, link assignment ids and completion codes are all made
with :func:`sign` (app.services.recruiting.links); admin tokens are hashed in app.services.auth.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from app.core.config import Settings


def sign(settings: Settings, purpose: str, *parts: object) -> str:
    """URL-safe HMAC of ``parts`` for ``purpose`` (43 characters)."""
    msg = "\x1f".join([purpose, *(str(p) for p in parts)]).encode()
    digest = hmac.new(settings.secret_key.encode(), msg, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def verify_plain(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a presented signature with the expected one."""
    return bool(given) and hmac.compare_digest(str(given).encode(), expected.encode())


def token_hash(token: str) -> str:
    """The stored form of a bearer token (sha256 hex): the plaintext is never stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
