"""The console's member search reads indexes, never the whole table, on both databases: a
phone, a member code and the start of a name each find their rows through an index, and
each sort of the list walks its own index (what keeps it fast at 100,000 members); counting
what a search finds reads the same look-ups. The plans are read on a few thousand analysed
members, so each planner sees a table worth searching."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Select, insert, text
from sqlalchemy.orm import Session

from rewards import member_search
from rewards.member_search import Search
from rewards.models import Member, Program

both_databases = pytest.mark.parametrize("engine", ["sqlite", "postgres"], indirect=True)
MEMBERS = 5000


@pytest.fixture
def crowded(session: Session, program: Program, T0) -> Program:  # type: ignore[no-untyped-def]
    session.execute(insert(Member), [
        {"program_id": program.id, "code": f"M{n:07d}", "phone": f"+1555{n:07d}", "name": f"Name{n} Family",
         "language": "en", "joined_at": T0 - timedelta(minutes=n), "last_activity_at": T0 - timedelta(seconds=n),
         "balance": 0, "marketing_consent": True}
        for n in range(MEMBERS)
    ])
    session.commit()
    session.execute(text("ANALYZE members"))  # this table only: other tests own other schemas
    session.commit()
    return program


def plan(session: Session, program: Program, search: Search, limit: int = 51) -> str:
    return explain(session, member_search.statement(session, program.id, search).limit(limit))


def explain(session: Session, query: Select[Any]) -> str:
    sql = str(query.compile(session.get_bind(), compile_kwargs={"literal_binds": True}))
    if session.get_bind().dialect.name == "postgresql":
        return "\n".join(row[0] for row in session.execute(text(f"EXPLAIN {sql}")))
    return "\n".join(row[-1] for row in session.execute(text(f"EXPLAIN QUERY PLAN {sql}")))


# What each look-up reads: PostgreSQL names the unique constraints' indexes, SQLite its own
# automatic indexes by their columns.
PHONE = ("uq_members_program_id_phone", "(program_id=? AND phone=?)")
CODE = ("uq_members_program_id_code", "(program_id=? AND code=?)")
NAME = ("ix_members_program_name", "ix_members_program_name")
SEARCH_INDEXES = {"+15550000002": [PHONE, NAME], "(555) 000-0002": [PHONE, NAME], "M0000042": [CODE, NAME],
                  "Name4242": [CODE, NAME], "name42_%": [NAME]}


def reads_only_the_search_indexes(session: Session, found: str, typed: str, also_not: str) -> None:
    """The query ``plan`` says reads the indexes of what was ``typed``, never the whole table."""
    postgres = session.get_bind().dialect.name == "postgresql"
    for index in SEARCH_INDEXES[typed]:
        assert index[0 if postgres else 1] in found, found
    for whole_table in ("Seq Scan on members", "SCAN members\n", also_not):
        assert whole_table not in found + "\n", found


@both_databases
@pytest.mark.parametrize("typed", sorted(SEARCH_INDEXES))
def test_a_search_reads_indexes_not_the_table(session: Session, crowded: Program, typed: str) -> None:
    found = plan(session, crowded, Search(text=typed, region="US"))
    reads_only_the_search_indexes(session, found, typed, "ix_members_program_joined")


@both_databases
@pytest.mark.parametrize("sort", sorted(member_search.SORTS))
def test_each_sort_walks_its_own_index(session: Session, crowded: Program, sort: str) -> None:
    index = {"joined": "ix_members_program_joined", "balance": "ix_members_program_balance",
             "last_visit": "ix_members_program_last_activity"}[sort]
    for descending in (True, False):
        found = plan(session, crowded, Search(sort=sort, descending=descending))
        assert index in found, found
        assert "TEMP B-TREE" not in found and "Sort Key" not in found and "Seq Scan on members" not in found, found


@both_databases
@pytest.mark.parametrize("typed", sorted(SEARCH_INDEXES))
def test_counting_a_search_reads_indexes_not_the_table(session: Session, crowded: Program, typed: str) -> None:
    found = explain(session, member_search.count_statement(session, crowded.id, Search(text=typed, region="US")))
    reads_only_the_search_indexes(session, found, typed, "SCAN members USING")


@both_databases
def test_the_count_is_the_number_of_members_the_search_lists(session: Session, crowded: Program) -> None:
    assert member_search.count(session, crowded.id, Search()) == MEMBERS
    assert member_search.count(session, crowded.id, Search(text="name42", region="US")) == 111  # 42, 420-429, 4200-4299
    assert member_search.count(session, crowded.id, Search(text="+15550000042", region="US")) == 1
    assert member_search.count(session, crowded.id, Search(text="nobody", region="US")) == 0
    assert member_search.count(session, crowded.id + 1, Search()) == 0
