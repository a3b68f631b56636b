"""Deleted members' phone numbers and addresses, kept as keyed hashes so they earn nothing twice.

"Delete my data" erases the number itself. What is kept is HMAC-SHA256 of the number (and
of each channel address, as ``<channel>:<address>``) under the program's own random key
(``programs.privacy_key``, made here on first use): enough to recognise them when they join
again (no welcome bonus, no referral for either side), not enough to read a number back
out of the ``erased_contacts`` table alone. Like every domain module: takes ``session`` and
``now``, never commits.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from rewards.errors import Inconsistent
from rewards.models import ErasedContact, Program
from rewards.storage.bulk import insert_many


def address_key(channel: str, address: str) -> str:
    return f"{channel}:{address}"


def _key(session: Session, program_id: int, create: bool) -> bytes | None:
    """The program's key. Made once: two deletions at the same moment both write only where
    it is still NULL, then both read the one that won."""
    key = session.scalar(select(Program.privacy_key).where(Program.id == program_id))
    if key is None and create:
        session.execute(
            update(Program).where(Program.id == program_id, Program.privacy_key.is_(None))
            .values(privacy_key=secrets.token_hex(32)).execution_options(synchronize_session=False)
        )
        key = session.scalar(select(Program.privacy_key).where(Program.id == program_id))
    return None if key is None else bytes.fromhex(key)


def _hashes(key: bytes, contacts: Iterable[str]) -> list[str]:
    return sorted({hmac.new(key, contact.encode(), hashlib.sha256).hexdigest() for contact in contacts})


def remember(session: Session, program_id: int, contacts: Iterable[str], now: datetime) -> None:
    """Keep the hashes of a deleted member's phone and ``address_key``s (each once)."""
    key = _key(session, program_id, create=True)
    if key is None:
        raise Inconsistent("key is missing")
    rows = [{"program_id": program_id, "contact_hash": h, "erased_at": now} for h in _hashes(key, contacts)]
    if rows:
        insert_many(session, ErasedContact.__table__, rows, conflict=("program_id", "contact_hash"))


def any_erased(session: Session, program_id: int, contacts: Iterable[str | None]) -> bool:
    """Did a member with any of these (phone numbers, ``address_key``s) delete their data?"""
    wanted = [c for c in contacts if c]
    key = _key(session, program_id, create=False) if wanted else None
    if key is None:
        return False  # nobody was ever deleted here: no key made just to answer no
    return session.scalar(select(ErasedContact.id).where(
        ErasedContact.program_id == program_id, ErasedContact.contact_hash.in_(_hashes(key, wanted)),
    ).limit(1)) is not None
