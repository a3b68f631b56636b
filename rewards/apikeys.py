"""API keys for the REST API: created once (the text is shown once), checked, revoked.

Only a sha256 of the key is stored; the first 8 characters are kept in the clear to find
the row (and to name a key when revoking it).
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from rewards.errors import AlreadyDone, InvalidInput, NotFound
from rewards.models import ApiKey

KEY_PREFIX = "lk_"
PREFIX_LENGTH = 8
LAST_USED_PRECISION = timedelta(minutes=1)


def _hash(key_text: str) -> str:
    return hashlib.sha256(key_text.encode("utf-8")).hexdigest()


def create(session: Session, program_id: int, name: str, now: datetime) -> tuple[ApiKey, str]:
    """A new key for ``program_id``; returns the row and the key text (never stored)."""
    name = name.strip()
    if not name or len(name) > 100 or not name.isprintable():
        raise InvalidInput("a key name is 1 to 100 printable characters", reason="invalid")
    key_text = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        program_id=program_id, name=name, prefix=key_text[:PREFIX_LENGTH], key_hash=_hash(key_text), created_at=now
    )
    session.add(key)
    session.flush()
    return key, key_text


def authenticate(session: Session, key_text: str, now: datetime) -> ApiKey | None:
    """The live key matching ``key_text``, or None. Records when it was last used."""
    if not key_text.startswith(KEY_PREFIX) or len(key_text) > 200 or not key_text.isascii():
        return None
    digest = _hash(key_text)
    candidates = session.scalars(select(ApiKey).where(ApiKey.prefix == key_text[:PREFIX_LENGTH]))
    for key in candidates:
        # Constant-time: the comparison takes as long whether one character or all differ.
        if hmac.compare_digest(key.key_hash, digest):
            if key.revoked_at is not None:
                return None
            # Written at most once a minute, so busy tills do not all queue on this row.
            if key.last_used_at is None or now - key.last_used_at > LAST_USED_PRECISION:
                key.last_used_at = now
            return key
    return None


def list_keys(session: Session, program_id: int) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).where(ApiKey.program_id == program_id).order_by(ApiKey.id)))


def revoke(session: Session, program_id: int, prefix: str, now: datetime) -> ApiKey:
    """Revoke the key whose text starts with ``prefix`` (its first 8 characters)."""
    prefix = prefix.strip()[:PREFIX_LENGTH]
    keys = list(session.scalars(select(ApiKey).where(ApiKey.program_id == program_id, ApiKey.prefix == prefix)))
    live = [k for k in keys if k.revoked_at is None]
    if not keys:
        raise NotFound(f'no API key starting with "{prefix}"', reason="not_found")
    if not live:
        raise AlreadyDone(f'the API key "{prefix}" was already revoked', reason="already_done")
    if len(live) > 1:
        raise InvalidInput(f'several keys start with "{prefix}"; revoke them from the shell by id', reason="invalid")
    live[0].revoked_at = now
    return live[0]


def revoke_id(session: Session, program_id: int, key_id: int, now: datetime) -> ApiKey:
    """Revoke the key with this id (the console's button: one row, whatever its prefix)."""
    key = session.get(ApiKey, key_id)
    if key is None or key.program_id != program_id:
        raise NotFound(f"no API key #{key_id}", reason="not_found")
    if key.revoked_at is not None:
        raise AlreadyDone(f'the API key "{key.prefix}" was already revoked', reason="already_done")
    key.revoked_at = now
    return key
