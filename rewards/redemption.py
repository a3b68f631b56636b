"""Redemption codes: issuing one for points, using it once at the till, expiring or
cancelling it.

Single use is the database's job: ``UPDATE codes SET status='redeemed' WHERE id=:id AND
status='issued'`` succeeds for exactly one of any number of concurrent attempts.
Wrong codes are counted per actor (a cashier, an API key, a chat) and throttled: at most
THROTTLE_LIMIT answers in a window, even to concurrent guesses (the actor is locked
while its attempts are counted).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from rewards import catalog, ledger
from rewards.codes import new_redemption_code, normalize
from rewards.errors import InsufficientPoints, Refused
from rewards.localtime import show
from rewards.models import Code, CodeAttempt, Member, Program, Reward
from rewards.program.config import ProgramConfig
from rewards.storage.db import lock_for_transaction

THROTTLE_WINDOW = timedelta(minutes=15)
THROTTLE_LIMIT = 10  # wrong codes per actor per window

_BLOCKED_MESSAGES = {
    "dates": "this reward is not available now",
    "tier": "this reward needs a higher tier",
    "stock": "this reward is out of stock",
    "limit": "this member already has the most codes allowed for this reward",
    "points": "not enough spendable points",
}


def issue(
    session: Session, config: ProgramConfig, member: Member, reward: Reward, now: datetime
) -> Code:
    """Debit the reward's cost and issue a single-use code; all or nothing."""
    with session.begin_nested():
        member = ledger.lock_member(session, member.id)
        available = ledger.spendable(session, member, now)
        blocked = catalog.blocked_reason(session, config, member, reward, now, available)
        if blocked == "points":
            raise InsufficientPoints(_BLOCKED_MESSAGES[blocked], needed=reward.cost, available=available)
        if blocked:
            raise Refused(_BLOCKED_MESSAGES[blocked], reason=blocked)
        if reward.stock is not None:
            taken = session.execute(
                update(Reward)
                .where(Reward.id == reward.id, Reward.stock > 0)
                .values(stock=Reward.stock - 1)
                .execution_options(synchronize_session=False)
            )
            if taken.rowcount != 1:
                raise Refused(_BLOCKED_MESSAGES["stock"], reason="stock")
            session.refresh(reward, ["stock"])
        code = Code(
            program_id=member.program_id, member_id=member.id, reward_id=reward.id, code=_fresh_code(session),
            status="issued", cost=reward.cost, issued_at=now, expires_at=now + timedelta(days=reward.code_valid_days),
        )
        session.add(code)
        session.flush()
        ledger.post(
            session, member, -reward.cost, "redeem", f"code:{code.id}", f"redeemed {reward.name}", now,
            code_id=code.id, require_spendable=True,
        )
    return code


def _fresh_code(session: Session) -> str:
    while True:  # 65 random bits: a collision is astronomically rare, but cheap to rule out
        text = new_redemption_code()
        if session.scalar(select(Code.id).where(Code.code == text)) is None:
            return text


@dataclass(frozen=True)
class CodeCheck:
    code: Code | None
    refused: str | None  # None when usable/used now; else unknown | used | expired | cancelled | throttled
    message: str


def _refuse(reason: str, message: str, code: Code | None = None) -> CodeCheck:
    return CodeCheck(code, reason, message)


def _throttled(session: Session, program_id: int, actor: str, now: datetime) -> bool:
    # Count and (for a wrong code) insert must be one step per actor, or 50 concurrent wrong
    # codes all count 9 and all get an answer: the actor's lock makes them take turns.
    lock_for_transaction(session, f"code-attempts:{program_id}:{actor}")
    recent = session.scalar(
        select(func.count(CodeAttempt.id)).where(
            CodeAttempt.program_id == program_id, CodeAttempt.actor == actor, CodeAttempt.at > now - THROTTLE_WINDOW
        )
    )
    return (recent or 0) >= THROTTLE_LIMIT


def _zone(session: Session, program_id: int) -> str:
    return session.scalar(select(Program.timezone).where(Program.id == program_id)) or "UTC"


def check(session: Session, program_id: int, text: str, now: datetime, actor: str) -> CodeCheck:
    """Look a code up for ``actor`` without using it. A wrong code counts toward the throttle:
    commit the session even when refused."""
    if _throttled(session, program_id, actor, now):
        return _refuse("throttled", f"too many wrong codes; try again in {THROTTLE_WINDOW.seconds // 60} minutes")
    normalized = normalize(text)
    code = session.scalar(select(Code).where(Code.program_id == program_id, Code.code == normalized)) if normalized else None
    if code is None:
        session.add(CodeAttempt(program_id=program_id, actor=actor, at=now))
        session.flush()
        return _refuse("unknown", f'no code "{text.strip()}": check it and try again')
    if code.status == "redeemed":
        # in the program's time zone, as staff read every other time
        when = show(code.used_at, _zone(session, program_id)) if code.used_at else "earlier"
        return _refuse("used", f"code already used ({when})", code)
    if code.status == "cancelled":
        return _refuse("cancelled", "code was cancelled", code)
    if code.status == "expired" or code.expires_at <= now:
        return _refuse("expired", f"code expired on {show(code.expires_at, _zone(session, program_id))[:10]}", code)
    return CodeCheck(code, None, f"{code.reward.name} for member {code.member.code}")


def use(session: Session, program_id: int, text: str, now: datetime, actor: str) -> CodeCheck:
    """Use a code once, ever. ``refused`` is None only for the one attempt that won."""
    result = check(session, program_id, text, now, actor)
    if result.refused or result.code is None:
        return result
    won = session.execute(
        update(Code)
        .where(Code.id == result.code.id, Code.status == "issued", Code.expires_at > now)
        .values(status="redeemed", used_at=now, used_by=actor)
        .execution_options(synchronize_session=False)
    )
    session.refresh(result.code)
    if won.rowcount != 1:
        return _refuse("used", "code already used", result.code)
    return CodeCheck(result.code, None, f"{result.code.reward.name}: accepted")


def expire_codes(session: Session, program_id: int, now: datetime, limit: int | None = None) -> list[Code]:
    """Expire unused codes past their date and give their points back. Safe to run twice.
    ``limit``: at most that many, oldest first (the clock commits a chunk at a time)."""
    due = session.scalars(
        select(Code).where(Code.program_id == program_id, Code.status == "issued", Code.expires_at <= now)
        .order_by(Code.expires_at, Code.id).limit(limit)
    ).all()
    expired: list[Code] = []
    for code in due:
        changed = session.execute(
            update(Code)
            .where(Code.id == code.id, Code.status == "issued")
            .values(status="expired")
            # synchronized, so the codes returned (and this session) say "expired"
            .execution_options(synchronize_session="evaluate")
        )
        if changed.rowcount != 1:
            continue
        member = session.get(Member, code.member_id)
        if member is not None and code.cost > 0 and member.deleted_at is None:
            ledger.post(
                session, member, code.cost, "code_return", f"code-return:{code.id}",
                f"unused code for {code.reward.name} expired", now, code_id=code.id,
            )
        expired.append(code)
    return expired


def cancel(session: Session, code: Code, now: datetime, actor: str | None = None) -> int:
    """Staff cancel an unused code (issued by mistake, say): the till and the chat refuse it
    from now on (``check`` says "cancelled"), and its points go back to the member, as for a
    code that expired unused. Returns the points given back. Refused when the code was
    already used, expired or cancelled: one conditional UPDATE decides, so a code used at
    the till at the same moment is either used or cancelled, never both."""
    member = ledger.lock_member(session, code.member_id)
    changed = session.execute(
        update(Code)
        .where(Code.id == code.id, Code.status == "issued")
        .values(status="cancelled")
        .execution_options(synchronize_session=False)
    )
    session.refresh(code)
    if changed.rowcount != 1:
        raise Refused(f"this code cannot be cancelled: it is {code.status}", reason=f"code_{code.status}")
    if code.cost <= 0 or member.deleted_at is not None:
        return 0
    entry = ledger.post(
        session, member, code.cost, "code_return", f"code-return:{code.id}",
        f"code for {code.reward.name} cancelled", now, code_id=code.id, actor=actor,
    )
    return code.cost if entry is not None else 0
