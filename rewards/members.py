"""Members and their channel identities: joining, finding, profile, export, deletion.

One member, many channels: a phone number known on one channel (the WhatsApp/SMS sender,
a Telegram shared contact, the terminal's --as) links that channel's identity to the
member who has that number.
"""
from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from rewards import erased_contacts, erasure, ledger, referrals, tiers
from rewards.codes import new_member_code, normalize
from rewards.errors import InvalidInput, NotFound, Refused
from rewards.events import Event, PointsEarned
from rewards.inputs import ascii_digits
from rewards.localtime import zone_for_phone
from rewards.models import Code, Identity, LedgerEntry, Member, MemberDay, Program, Purchase
from rewards.phones import looks_like_phone, parse_phone
from rewards.program.config import ProgramConfig
from rewards.storage.prepared import Prepared

# Every message starts here: the identity comes with its program, its member and the
# member's tier in one query, from a statement built once.
_IDENTITY = select(Identity).where(
    Identity.program_id == bindparam("program_id"), Identity.channel == bindparam("channel"),
    Identity.address == bindparam("address"),
).options(joinedload(Identity.program), joinedload(Identity.member))
# "They wrote to us" is written with plain UPDATEs, not through the unit of work: every
# message pays it, and an ORM flush of one changed column cost ten times the statement.
# Prepared (rewards/storage/prepared.py): run on the driver, every message runs them.
_SEEN = Prepared(update(Identity.__table__).where(Identity.__table__.c.id == bindparam("identity_id")).values(
    last_seen_at=bindparam("now"), unreachable_at=None, unreachable_reason=None))
_ACTIVE = Prepared(update(Member.__table__).where(Member.__table__.c.id == bindparam("member_id")).values(
    last_activity_at=bindparam("now")))
# The day a member wrote to us (rewards/metrics/ counts them as active): once a day, the
# primary key keeps the first; each dialect says "or nothing" in its own words.
_DAY = {name: Prepared(dialect.insert(MemberDay.__table__).values(
    program_id=bindparam("program_id"), member_id=bindparam("member_id"), day=bindparam("day"),
    first_at=bindparam("now"),
).on_conflict_do_nothing()) for name, dialect in (("sqlite", sqlite), ("postgresql", postgresql))}
_MENU = Prepared(update(Identity.__table__).where(Identity.__table__.c.id == bindparam("identity_id")).values(
    menu=bindparam("menu")))


@dataclass(frozen=True, slots=True)
class Contact:
    """An identity and its member as plain values, read in one statement without the ORM,
    for answers that only show something (bot/quick.py)."""

    identity_id: int
    flow: str | None
    menu: dict[str, str] | None
    member_id: int | None
    balance: int | None
    language: str | None  # the member's
    deleted: bool
    program_loaded_at: datetime


_I, _M, _P = Identity.__table__.c, Member.__table__.c, Program.__table__.c
_CONTACT = Prepared(
    select(_I.id, _I.flow, _I.menu, _M.id, _M.balance, _M.language, _M.deleted_at.is_not(None), _P.loaded_at)
    .select_from(Identity.__table__.join(Program.__table__, _P.id == _I.program_id)
                 .outerjoin(Member.__table__, _M.id == _I.member_id))
    .where(_I.program_id == bindparam("program_id"), _I.channel == bindparam("channel"),
           _I.address == bindparam("address"))
)


def contact(session: Session, program_id: int, channel: str, address: str) -> Contact | None:
    row = _CONTACT.first(session, {"program_id": program_id, "channel": channel, "address": address})
    return None if row is None else Contact(*row)


def mark_seen(session: Session, identity_id: int, now: datetime) -> None:
    """They wrote to us from this identity ``now``: so it can be reached again, too."""
    _SEEN.run(session, {"identity_id": identity_id, "now": now})


def touch(session: Session, program_id: int, member_id: int, now: datetime, zone: str) -> None:
    """``record_activity`` for a member known by id (no ORM object to keep in step)."""
    _ACTIVE.run(session, {"member_id": member_id, "now": now})
    day = now.astimezone(ZoneInfo(zone)).date()
    _DAY[session.get_bind().dialect.name].run(session, {"program_id": program_id, "member_id": member_id, "day": day,
                                                         "now": now})


def set_menu(session: Session, identity_id: int, menu: dict[str, str] | None) -> None:
    """The numbered options just shown on this identity (no ORM object to keep in step)."""
    _MENU.run(session, {"identity_id": identity_id, "menu": menu})


def get_identity(session: Session, program_id: int, channel: str, address: str, now: datetime) -> Identity:
    """The identity for this channel address, created on first contact; marked seen ``now``
    (and reachable again: they wrote, so they unblocked the bot, say)."""
    identity = session.scalar(_IDENTITY, {"program_id": program_id, "channel": channel, "address": address})
    if identity is None:
        if session.get(Program, program_id) is None:
            raise InvalidInput(f"no program with id {program_id}")
        identity = Identity(
            program_id=program_id, channel=channel, address=address, first_seen_at=now, last_seen_at=now
        )
        session.add(identity)
        session.flush()
        return identity
    mark_seen(session, identity.id, now)
    for name, value in (("last_seen_at", now), ("unreachable_at", None), ("unreachable_reason", None)):
        set_committed_value(identity, name, value)  # what the row now holds, with nothing left to flush
    return identity


def record_activity(session: Session, member: Member, now: datetime, zone: str) -> None:
    """The member wrote to us: ``last_activity_at`` for audiences, and the day (in the
    program's time zone ``zone``) for the figures of who was active."""
    touch(session, member.program_id, member.id, now, zone)
    set_committed_value(member, "last_activity_at", now)


def notice_identity(session: Session, member: Member, channels: Collection[str]) -> Identity | None:
    """Where to tell ``member`` something: the identity on one of ``channels`` they wrote
    from most recently, leaving out addresses the provider said are unreachable and
    addresses where the customer sent STOP."""
    return session.scalars(
        select(Identity)
        .where(
            Identity.member_id == member.id,
            Identity.channel.in_(list(channels)),
            Identity.unreachable_at.is_(None),
            Identity.stopped_at.is_(None),
        )
        .order_by(Identity.last_seen_at.desc(), Identity.id.desc())
        .limit(1)
    ).first()


def mark_unreachable(session: Session, program_id: int, channel: str, address: str, reason: str, now: datetime) -> None:
    """The provider said this address can never be reached: stop sending there."""
    session.execute(
        update(Identity)
        .where(Identity.program_id == program_id, Identity.channel == channel, Identity.address == address)
        .values(unreachable_at=now, unreachable_reason=reason[:500])
        .execution_options(synchronize_session=False)
    )


def stop_messages(identity: Identity, now: datetime) -> bool:
    """The customer sent STOP on this address. False when it was stopped already."""
    if identity.stopped_at is not None:
        return False
    identity.stopped_at = now
    return True


def resume_messages(identity: Identity) -> bool:
    """The customer sent START. False when the address was not stopped."""
    if identity.stopped_at is None:
        return False
    identity.stopped_at = None
    return True


def by_phone(session: Session, program_id: int, phone: str) -> Member | None:
    return session.scalar(
        select(Member).where(Member.program_id == program_id, Member.phone == phone, Member.deleted_at.is_(None))
    )


def by_code(session: Session, program_id: int, code: str) -> Member | None:
    return session.scalar(
        select(Member).where(
            Member.program_id == program_id, Member.code == normalize(code), Member.deleted_at.is_(None)
        )
    )


def find(session: Session, program_id: int, ref: str, region: str | None = None) -> Member:
    """A member by phone or membership code, as staff type it; a phone without +country is
    read in ``region`` (the program's ``phone_region``). A code is tried first: a code of
    all digits could also be dialled."""
    ref = ref.strip()
    member = None if ref.startswith("+") else by_code(session, program_id, ref)
    if member is None and looks_like_phone(ref, region):
        member = by_phone(session, program_id, parse_phone(ref, region))
    if member is None:
        raise NotFound(f'no member with phone or code "{ref}"', reason="unknown_member")
    return member


def link_phone(session: Session, identity: Identity, phone: str) -> Member | None:
    """Attach ``identity`` to the member who owns ``phone``, if there is one."""
    member = by_phone(session, identity.program_id, phone)
    if member is not None:
        identity.member_id = member.id
        identity.member = member
    return member


@dataclass
class Joined:
    member: Member
    events: list[Event] = field(default_factory=list)
    referral: referrals.Attribution | None = None
    # This phone or address belonged to a member who deleted their data: no welcome bonus,
    # no referral (rewards/erased_contacts.py).
    returning: bool = False


def join(
    session: Session,
    program: Program,
    config: ProgramConfig,
    identity: Identity,
    now: datetime,
    *,
    phone: str | None,
    language: str,
    name: str | None = None,
) -> Joined:
    """Create the member for ``identity`` (who has consented), pay the join bonus, settle
    any referral the identity came with. A phone or address that deleted its data before
    joins without either: bonuses are for first-time members."""
    # One sign-up per contact even when "yes" arrives twice at once: lock the identity row
    # and read it again (flushing first, so the refresh keeps this turn's changes). OF
    # identities: the member comes joined on the nullable side, which PostgreSQL cannot lock.
    session.flush()
    session.refresh(identity, with_for_update={"of": Identity})
    if identity.member_id is not None:
        raise Refused("already a member", reason="already_member")
    if phone is not None and by_phone(session, program.id, phone) is not None:
        raise Refused("this phone number already belongs to a member", reason="already_member")
    member = Member(
        program_id=program.id,
        code=_unique_member_code(session, program.id),
        phone=phone,
        name=name,
        language=language,
        joined_at=now,
        last_activity_at=now,
        balance=0,
        marketing_consent=True,
        timezone=zone_for_phone(phone, program.timezone) if phone else None,
    )
    try:
        with session.begin_nested():
            session.add(member)
    except IntegrityError:
        if phone is None:
            raise
        # The same phone joined a moment ago from another channel (UNIQUE program, phone).
        raise Refused("this phone number already belongs to a member", reason="already_member") from None
    identity.member_id = member.id
    identity.member = member
    result = Joined(member, returning=erased_contacts.any_erased(
        session, program.id, (phone, erased_contacts.address_key(identity.channel, identity.address))))
    lowest = tiers.active_tiers(session, program.id)
    if lowest:
        member.tier_id = lowest[0].id
        member.tier = lowest[0]
    if result.returning:
        return result
    if config.earning.join_bonus:
        ledger.post(session, member, config.earning.join_bonus, "join", f"join:{member.id}", "welcome bonus", now)
        result.events.append(PointsEarned(member.id, config.earning.join_bonus, member.balance, "join"))
    result.referral = referrals.on_join(session, config, identity, member, now)
    result.events.extend(result.referral.events if result.referral else [])
    return result


def _unique_member_code(session: Session, program_id: int) -> str:
    for _ in range(10):
        code = new_member_code()
        if session.scalar(select(Member.id).where(Member.program_id == program_id, Member.code == code)) is None:
            return code
    raise RuntimeError("could not find a free member code")  # 40 bits: practically unreachable


def set_birthday(member: Member, text: str, now: datetime) -> date:
    """Accepts 1990-05-14, 14/05/1990, 14.05.90, 14/05 (day first, as most of the world writes it),
    in ASCII digits."""
    text = text.strip()
    parsed: date | None = None
    try:
        parsed = date.fromisoformat(text)
    except ValueError:
        parts = re.split(r"[/.\-]", text)
        try:
            if not all(ascii_digits(p) and len(p) <= 4 for p in parts):
                raise ValueError(text)  # int() would take "١٤" here; the chat converts those on purpose
            numbers = [int(p) for p in parts]
            if len(numbers) == 2:
                parsed = date(2000, numbers[1], numbers[0])  # a leap year, so 29/02 is accepted
            elif len(numbers) == 3:
                year = numbers[2]
                if year < 100:
                    year += 2000 if year <= now.year % 100 else 1900
                parsed = date(year, numbers[1], numbers[0])
        except ValueError:
            parsed = None
    if parsed is None or parsed > now.date() or parsed.year < 1900:
        raise InvalidInput(f'"{text}" is not a date I can read', reason="bad_birthday")
    member.birthday = parsed
    return parsed


def set_marketing(member: Member, identity: Identity, consent: bool) -> None:
    member.marketing_consent = consent
    identity.marketing_opt_out = not consent


def export(session: Session, member: Member) -> dict[str, Any]:
    """Everything we hold about the member, as plain data."""
    identities = session.scalars(select(Identity).where(Identity.member_id == member.id))
    entries = session.scalars(select(LedgerEntry).where(LedgerEntry.member_id == member.id).order_by(LedgerEntry.id))
    codes = session.scalars(select(Code).where(Code.member_id == member.id).order_by(Code.id))
    purchases = session.scalars(select(Purchase).where(Purchase.member_id == member.id).order_by(Purchase.id))
    return {
        "member_code": member.code,
        "phone": member.phone,
        "name": member.name,
        "language": member.language,
        "language_offered_at": member.language_offered_at.isoformat() if member.language_offered_at else None,
        "birthday": member.birthday.isoformat() if member.birthday else None,
        "marketing_consent": member.marketing_consent,
        "joined_at": member.joined_at.isoformat(),
        "balance": member.balance,
        "tier": member.tier.name if member.tier else None,
        "channels": [{"channel": i.channel, "address": i.address} for i in identities],
        "purchases": [
            {"receipt_id": p.receipt_id, "amount_minor": p.amount_minor, "points": p.points,
             "at": p.created_at.isoformat(), "refunded": p.refunded_at is not None}
            for p in purchases
        ],
        "codes": [
            {"reward": c.reward.name, "status": c.status, "issued_at": c.issued_at.isoformat()} for c in codes
        ],
        "ledger": [
            {"at": e.created_at.isoformat(), "points": e.amount, "kind": e.kind, "reason": e.reason} for e in entries
        ],
    }


def delete_member(session: Session, member: Member, now: datetime) -> int:
    """Erase personal data; the ledger keeps its amounts. Returns points forfeited.

    Gone: the phone, name, birthday and time zone; every identity (and any other identity
    on the phone number, or whose unfinished sign-up holds it); the address and text of
    every message to those addresses (what was still queued is skipped); delivery records
    whose id embeds an address; the addresses in referrals (hers, and those of friends she
    invited who never joined). Kept: the member row (id, code, dates), the ledger, purchases,
    codes, survey scores and campaign counts, none of which names the person; and keyed
    hashes of the number and addresses (rewards/erased_contacts.py)."""
    member = ledger.lock_member(session, member.id)
    forfeited = 0
    session.execute(
        update(Code)
        .where(Code.member_id == member.id, Code.status == "issued")
        .values(status="cancelled")
        # synchronized: codes this session already holds must read "cancelled" from now on
        .execution_options(synchronize_session="evaluate")
    )
    if member.balance > 0:
        forfeited = member.balance
        ledger.post(session, member, -forfeited, "forfeit", f"forfeit:{member.id}", "member deleted their data", now)
    mine = [Identity.member_id == member.id]
    if member.phone:
        # her number as another channel's address, or shared in a sign-up never finished
        # (a Telegram contact is the sender's own: the chat is hers)
        mine += [Identity.address == member.phone,
                 (Identity.member_id.is_(None)) & (Identity.flow_data["phone"].as_string() == member.phone)]
    identities = session.execute(
        select(Identity.id, Identity.channel, Identity.address).where(Identity.program_id == member.program_id, or_(*mine))
    ).all()
    addresses = {(channel, address) for _, channel, address in identities}
    erasure.forget_addresses(session, member.program_id, addresses)
    for channel, address in addresses:
        erasure.forget_inbound(session, member.program_id, channel, f"{address}:")
    referrals.forget(session, member, addresses)
    session.execute(delete(Identity).where(Identity.id.in_([row.id for row in identities])))
    erased_contacts.remember(
        session, member.program_id,
        [erased_contacts.address_key(c, a) for c, a in addresses] + ([member.phone] if member.phone else []), now,
    )
    member.phone = None
    member.timezone = None
    member.name = None
    member.birthday = None
    member.marketing_consent = False
    member.deleted_at = now
    return forfeited
