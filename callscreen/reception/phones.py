"""Desk-phone tokens: one random token per extension, stored only as a hash.

Desk phones fetch their XML screen with a plain GET and cannot log in, so the token sits in
the URL configured on the phone. Anyone who can read that URL can read the screen of that
one extension, and nothing else.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import UTC, datetime

import structlog

from callscreen.store import reception as store
from callscreen.store.db import Database

log = structlog.get_logger(__name__)

EXTENSION = re.compile(r"^\d{2,8}$")
MAX_TOKEN_CHARS = 100


def token_hash(token: str) -> str:
    """Return the sha256 hex digest stored in place of a token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


async def add_phone(db: Database, extension: str, model: str) -> str:
    """Register (or re-key) the phone of `extension`; return its new token.

    Raises ValueError for an extension that is not 2 to 8 digits or an unknown model.
    """
    if not EXTENSION.match(extension):
        raise ValueError(f"invalid extension {extension!r}: use 2 to 8 digits")

    token = secrets.token_urlsafe(24)
    await store.save_phone(db, extension=extension, model=model, token_hash=token_hash(token),
                           now=datetime.now(UTC))

    log.info("phone_added", extension=extension, model=model)
    return token


async def phone_allowed(db: Database, extension: str, model: str, token: str) -> bool:
    """Return whether `token` is the current token of `extension` for a phone of `model`."""
    if not token or len(token) > MAX_TOKEN_CHARS or not EXTENSION.match(extension):
        return False

    phone = await store.get_phone(db, extension)
    if phone is None or phone.model != model:
        return False

    return hmac.compare_digest(phone.token_hash, token_hash(token))
