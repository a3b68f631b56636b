"""The merchant's staff who sign in to the console: owners, managers and cashiers.

Passwords are kept only as Werkzeug's salted slow hash (scrypt). Signing in is
throttled per account and per client address, counted in the database so every process of
the app sees the same count; a refusal never says whether the email exists.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from secrets import token_hex

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from rewards.errors import AlreadyDone, InvalidInput, NotFound, Refused
from rewards.models import AppSecret, SignInFailure, StaffUser
from rewards.phones import parse_phone

ROLES = ("owner", "manager", "cashier")
LANGUAGES = ("en", "es")
MIN_PASSWORD = 10
MAX_PASSWORD = 200
# Sign-in throttle: at most this many failures in the window, per account and per address.
WINDOW = timedelta(minutes=15)
FAILURES_PER_ACCOUNT = 5
FAILURES_PER_ADDRESS = 20
EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]+")
# Werkzeug's method for new password hashes: scrypt, slow on purpose (a tenth of a second
# of CPU), so a stolen table is slow to guess from. Only the tests change it (tests/conftest.py
# sets one round of PBKDF2: the console's tests sign in hundreds of times); nothing in the
# product or its settings does.
PASSWORD_HASH_METHOD = "scrypt"


@cache
def _dummy_hash(method: str) -> str:
    """Checked against when the email is unknown, so that a wrong email takes as long as a
    wrong password and the time of the answer does not tell whether the account exists.
    Made by the process's first sign-in, whatever its email (not on import: every
    ``loyalty`` command and worker would pay for a hash it never uses)."""
    return generate_password_hash("not a password of anyone", method=method)


def _hash(password: str) -> str:
    return generate_password_hash(password, method=PASSWORD_HASH_METHOD)


def clean_email(email: str) -> str:
    email = email.strip().lower()
    if len(email) > 254 or not EMAIL.fullmatch(email):
        raise InvalidInput(f'"{email[:60]}" is not an email address', field="email",
                           problem="is not an email address")
    return email


def check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidInput(f'the role must be one of {", ".join(ROLES)}, not "{role[:20]}"', field="role",
                           problem=f'must be one of {", ".join(ROLES)}')
    return role


def check_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidInput(f"the password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters long",
                           field="password", problem=f"must be {MIN_PASSWORD} to {MAX_PASSWORD} characters long")
    return password


def find(session: Session, program_id: int, email: str) -> StaffUser:
    user = session.scalar(select(StaffUser).where(StaffUser.program_id == program_id,
                                                  StaffUser.email == email.strip().lower()))
    if user is None:
        raise NotFound(f"there is no console user {email.strip()[:60]}")
    return user


def create(session: Session, program_id: int, email: str, role: str, password: str, now: datetime,
           language: str = "en") -> StaffUser:
    email, role, password = clean_email(email), check_role(role), check_password(password)
    if language not in LANGUAGES:
        raise InvalidInput(f"the language must be one of {', '.join(LANGUAGES)}", field="language")
    taken = session.scalar(select(StaffUser.id).where(StaffUser.program_id == program_id, StaffUser.email == email))
    if taken is not None:
        raise AlreadyDone(f"{email} already has an account", reason="exists")
    user = StaffUser(program_id=program_id, email=email, role=role, password_hash=_hash(password),
                     language=language, created_at=now, session_version=1)
    session.add(user)
    session.flush()
    return user


def list_users(session: Session, program_id: int) -> list[StaffUser]:
    return list(session.scalars(select(StaffUser).where(StaffUser.program_id == program_id).order_by(StaffUser.email)))


def get(session: Session, program_id: int, user_id: int) -> StaffUser:
    user = session.get(StaffUser, user_id)
    if user is None or user.program_id != program_id:
        raise NotFound(f"there is no console user #{user_id}")
    return user


def _keep_an_owner(session: Session, user: StaffUser) -> None:
    """Refuse to disable or demote the last active owner: nobody could then manage the
    console's users but from the shell. The active owners' rows are locked (PostgreSQL), so
    two owners disabling each other at once cannot both succeed."""
    if user.role != "owner" or user.disabled_at is not None:
        return
    owners = session.scalars(select(StaffUser.id).where(
        StaffUser.program_id == user.program_id, StaffUser.role == "owner",
        StaffUser.disabled_at.is_(None)).with_for_update()).all()
    if not set(owners) - {user.id}:
        raise Refused(f"{user.email} is the last active owner: make another user owner first",
                      reason="last_owner")


def set_password(user: StaffUser, password: str) -> None:
    """A new password; every session signed in with the old one ends."""
    user.password_hash = _hash(check_password(password))
    user.session_version += 1


def change_own_password(session: Session, user: StaffUser, current: str, new: str, now: datetime) -> None:
    """A user's own new password, given their current one. A wrong current password counts
    as a failed sign-in for the account (so a left-open session cannot be used to guess it)."""
    check_password(new)
    account = _key(f"{user.program_id}:{user.email}")
    since = now - WINDOW
    if _failures(session, "email", account, since) >= FAILURES_PER_ACCOUNT:
        raise Refused("too many wrong passwords: wait 15 minutes", reason="throttled")
    if not check_password_hash(user.password_hash, current[:MAX_PASSWORD + 1]):
        session.add(SignInFailure(scope="email", key=account, at=now))
        raise Refused("the current password is not right", reason="wrong_password")
    set_password(user, new)


def disable(session: Session, user: StaffUser, now: datetime) -> None:
    """The user can no longer sign in, and their open sessions end at their next click.
    Never the last active owner."""
    if user.disabled_at is None:
        _keep_an_owner(session, user)
        user.disabled_at = now
        user.session_version += 1


def enable(user: StaffUser) -> None:
    user.disabled_at = None


def set_role(session: Session, user: StaffUser, role: str) -> None:
    """A new role (their sessions end: the pages they may open changed). The last active
    owner stays an owner."""
    role = check_role(role)
    if role == user.role:
        return
    _keep_an_owner(session, user)
    user.role = role
    user.session_version += 1


def set_language(user: StaffUser, language: str) -> None:
    if language not in LANGUAGES:
        raise InvalidInput(f"the language must be one of {', '.join(LANGUAGES)}", field="language")
    user.language = language


def set_phone(user: StaffUser, text: str, region: str | None) -> None:
    """The user's own phone (E.164, read in ``region`` without +country); empty removes it."""
    user.phone = parse_phone(text, region) if text.strip() else None


@dataclass(frozen=True)
class SignIn:
    user: StaffUser | None
    refused: str | None = None  # "wrong" (email or password) or "throttled"


def _key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _failures(session: Session, scope: str, key: str, since: datetime) -> int:
    return session.scalar(select(func.count()).select_from(SignInFailure).where(
        SignInFailure.scope == scope, SignInFailure.key == key, SignInFailure.at > since)) or 0


def sign_in(session: Session, program_id: int, email: str, password: str, address: str, now: datetime) -> SignIn:
    """Check an email and password typed on /login. Refused as "throttled" after
    FAILURES_PER_ACCOUNT failures for the email or FAILURES_PER_ADDRESS from the address
    within WINDOW (even with the right password: the guesser must not learn it was right);
    else "wrong" for an unknown email, a disabled user or a wrong password alike."""
    email = email.strip().lower()[:254]
    since = now - WINDOW
    account, client = _key(f"{program_id}:{email}"), _key(address)
    session.execute(delete(SignInFailure).where(SignInFailure.at <= since))
    if (_failures(session, "email", account, since) >= FAILURES_PER_ACCOUNT
            or _failures(session, "address", client, since) >= FAILURES_PER_ADDRESS):
        return SignIn(None, "throttled")
    dummy = _dummy_hash(PASSWORD_HASH_METHOD)  # the first sign-in makes it, known email or not
    user = session.scalar(select(StaffUser).where(StaffUser.program_id == program_id, StaffUser.email == email))
    good = check_password_hash(user.password_hash if user else dummy, password)
    if user is None or not good or user.disabled_at is not None:
        session.add_all([SignInFailure(scope="email", key=account, at=now),
                         SignInFailure(scope="address", key=client, at=now)])
        return SignIn(None, "wrong")
    user.last_login_at = now
    return SignIn(user)


def app_secret(session: Session, name: str) -> str:
    """The stored random secret ``name``, made on first use (two processes making it at
    once: the second one's insert fails on the key and the caller runs again)."""
    row = session.get(AppSecret, name)
    if row is None:
        row = AppSecret(name=name, value=token_hex(32))
        session.add(row)
        session.flush()
    return row.value
