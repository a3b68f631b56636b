"""Finding members for the console's list and its CSV export: by phone, membership code or
name, sorted by balance, last visit or join date, a page at a time.

A busy shop has 100,000 members, so every search is an index look-up, never a scan
(migration 0022): the phone and the code are the members' unique keys; a name is matched
from its start, case-insensitively, on an index of ``lower(name)``; each sort reads its own
index (``program_id``, the column, ``id``) in order and stops at the page's end. The export
walks the same order a chunk at a time from a cursor (the last row's sort value and id), so
no chunk costs more than the first.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select, tuple_, union
from sqlalchemy.orm import Session

from rewards.codes import normalize
from rewards.errors import InvalidInput
from rewards.models import Member, Tier
from rewards.phones import looks_like_phone, parse_phone

# What the list can be sorted by: the column, named as the console's links name it.
SORTS: dict[str, Any] = {"joined": Member.joined_at, "balance": Member.balance, "last_visit": Member.last_activity_at}
MAX_QUERY = 100  # characters of a search; longer is cut


@dataclass(frozen=True, slots=True)
class Search:
    """What to list: ``text`` (a phone as dialled, a member code or the start of a name;
    empty: everyone), the sort and its direction, and the region a phone without +country
    is read in (the program's ``phone_region``)."""

    text: str = ""
    sort: str = "joined"
    descending: bool = True
    region: str | None = None

    def __post_init__(self) -> None:
        if self.sort not in SORTS:
            raise InvalidInput(f'cannot sort members by "{self.sort}"', reason="bad_sort")


@dataclass(frozen=True, slots=True)
class MemberRow:
    id: int
    code: str
    name: str | None
    phone: str | None
    balance: int
    tier: str | None
    joined_at: datetime
    last_activity_at: datetime
    language: str
    marketing_consent: bool

    def sort_value(self, sort: str) -> Any:
        return {"joined": self.joined_at, "balance": self.balance, "last_visit": self.last_activity_at}[sort]


def _name_starts_with(session: Session, prefix: str) -> Any:
    """``lower(name)`` begins with ``prefix``, in a form each database answers from the
    index of ``lower(name)``: PostgreSQL a LIKE (the index has text_pattern_ops), SQLite a
    range (it uses an index for LIKE only on a plain column)."""
    lowered = func.lower(Member.name)
    if session.get_bind().dialect.name == "postgresql":
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return lowered.like(escaped + "%", escape="\\")
    return (lowered >= prefix) & (lowered < prefix + "\U0010ffff")


def matching(session: Session, program_id: int, search: Search) -> list[Any]:
    """The condition of ``search``'s text: the member ids its phone, its code or the start
    of a name find, each through its own index (a UNION, which every planner reads as the
    index look-ups it is; an OR beside ORDER BY ... LIMIT may be read as a walk of the whole
    sort index instead)."""
    text = "".join(ch for ch in search.text if ch.isprintable()).strip()[:MAX_QUERY]  # no NUL for PostgreSQL
    if not text:
        return []
    mine = Member.program_id == program_id
    lookups = [select(Member.id).where(mine, _name_starts_with(session, text.lower()))]
    code = normalize(text)
    if code and not text.startswith("+"):
        lookups.append(select(Member.id).where(mine, Member.code == code))
    if looks_like_phone(text, search.region):
        try:
            lookups.append(select(Member.id).where(mine, Member.phone == parse_phone(text, search.region)))
        except InvalidInput:
            pass  # not a number after all: the name and the code may still match
    return [Member.id.in_(union(*lookups) if len(lookups) > 1 else lookups[0])]


def statement(session: Session, program_id: int, search: Search) -> Select[Any]:
    """The SELECT of the rows ``search`` finds, in its order (tests read its query plan)."""
    column = SORTS[search.sort]
    order = (column.desc(), Member.id.desc()) if search.descending else (column.asc(), Member.id.asc())
    return (
        select(Member.id, Member.code, Member.name, Member.phone, Member.balance, Tier.name, Member.joined_at,
               Member.last_activity_at, Member.language, Member.marketing_consent)
        .select_from(Member)
        .outerjoin(Tier, Tier.id == Member.tier_id)
        .where(Member.program_id == program_id, Member.deleted_at.is_(None), *matching(session, program_id, search))
        .order_by(*order)
    )


def count_statement(session: Session, program_id: int, search: Search) -> Select[Any]:
    """The SELECT of how many members ``search`` finds (tests read its query plan). With a
    search it counts the few ids the look-ups find, each through its index, read by primary
    key; without one, every member of the program, in one pass over the table."""
    return (
        select(func.count()).select_from(Member)
        .where(Member.program_id == program_id, Member.deleted_at.is_(None), *matching(session, program_id, search))
    )


def count(session: Session, program_id: int, search: Search) -> int:
    """How many members the list of ``search`` holds, over all its pages."""
    return int(session.scalar(count_statement(session, program_id, search)) or 0)


def page(session: Session, program_id: int, search: Search, limit: int, offset: int = 0) -> list[MemberRow]:
    """One page of the list: ``limit`` rows from ``offset`` (ask one more than shown to
    know whether there is a next page)."""
    rows = session.execute(statement(session, program_id, search).limit(limit).offset(max(0, offset)))
    return [MemberRow(*row) for row in rows]


def after(session: Session, program_id: int, search: Search, cursor: tuple[Any, int] | None,
          limit: int) -> list[MemberRow]:
    """The next ``limit`` rows after ``cursor`` (the last row's sort value and id; None:
    from the start), for a walk through them all."""
    query = statement(session, program_id, search)
    if cursor is not None:
        key = tuple_(SORTS[search.sort], Member.id)
        query = query.where(key < tuple_(*cursor) if search.descending else key > tuple_(*cursor))
    return [MemberRow(*row) for row in session.execute(query.limit(limit))]
