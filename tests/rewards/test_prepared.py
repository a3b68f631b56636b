"""rewards/storage/prepared.py: a statement run on the driver gives what SQLAlchemy would give.

Every statement the code runs this way is held here to ``Session.execute`` of the same
statement, on SQLite and PostgreSQL: the same rows, with the same Python types (aware
datetimes, JSON, booleans, NULLs), and the same rows written. Then what the session
around it promises: autoflush, rollback, SQLAlchemy's exceptions. Every test runs on both
roads: the driver's, and the Session's that LOYALTY_SQL_THROUGH_ORM=1 switches to.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, bindparam, event, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from rewards import ledger, members, outbox, standing
from rewards.models import Identity, InboundMessage, Member, OutboxMessage
from rewards.storage import bulk
from rewards.storage.prepared import THROUGH_SESSION, Prepared

BOTH = pytest.mark.parametrize("engine", ["sqlite", "postgres"], indirect=True)


@pytest.fixture(autouse=True, params=["driver", "session"])
def road(request: pytest.FixtureRequest, engine: Engine) -> str:
    """The road the statements take: the driver's cursor, or the Session (the switch on)."""
    if request.param == "session":
        engine.update_execution_options(**{THROUGH_SESSION: True})
    return request.param


def as_sqlalchemy(session: Session, prepared: Prepared, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in session.execute(prepared.statement, params).all()]


@BOTH
def test_the_contact_row_is_the_one_sqlalchemy_reads(session: Session, join: Callable[..., Member], T0) -> None:  # type: ignore[no-untyped-def]
    member = join(address="+15550001111")
    identity = session.scalar(select(Identity).where(Identity.member_id == member.id))
    members.set_menu(session, identity.id, {"1": "balance", "2": "rewards"})
    member.deleted_at = T0
    session.flush()
    for address in ("+15550001111", "+19999999999"):
        params = {"program_id": member.program_id, "channel": "terminal", "address": address}
        ours = members._CONTACT.rows(session, params)
        assert ours == as_sqlalchemy(session, members._CONTACT, params)
    (row,) = members._CONTACT.rows(session, {"program_id": member.program_id, "channel": "terminal",
                                             "address": "+15550001111"})
    contact = members.Contact(*row)
    assert contact.menu == {"1": "balance", "2": "rewards"}
    assert contact.deleted is True and contact.member_id == member.id
    assert contact.program_loaded_at == T0 and contact.program_loaded_at.tzinfo is not None


@BOTH
def test_the_ledger_figures_are_the_ones_sqlalchemy_sums(session: Session, join: Callable[..., Member], T0) -> None:  # type: ignore[no-untyped-def]
    member = join()
    ledger.post(session, member, 120, "purchase", "p-1", "a purchase", T0, available_at=T0 + timedelta(days=14))
    ledger.post(session, member, 30, "adjust", "a-1", "a gift", T0 - timedelta(days=400))
    session.flush()
    for now in (T0, T0 + timedelta(days=30), T0 + timedelta(days=800)):
        params = {"member_id": member.id, "now": now, "expiry_cutoff": now - timedelta(days=300),
                  "window_start": now - timedelta(days=365)}
        ours = standing._FIGURES.rows(session, params)
        assert ours == as_sqlalchemy(session, standing._FIGURES, params)
    assert standing._FIGURES.one(session, {"member_id": member.id, "now": T0, "expiry_cutoff": T0,
                                           "window_start": T0 - timedelta(days=1)})[1] == 120  # still pending


@BOTH
def test_updates_write_what_sqlalchemy_writes(session: Session, join: Callable[..., Member], T0) -> None:  # type: ignore[no-untyped-def]
    member = join()
    identity = session.scalar(select(Identity).where(Identity.member_id == member.id))
    identity.unreachable_at, identity.unreachable_reason = T0, "blocked the bot"
    session.flush()
    later = T0 + timedelta(hours=3, microseconds=250)
    assert members._SEEN.run(session, {"identity_id": identity.id, "now": later}) == 1
    members.touch(session, member.program_id, member.id, later, "UTC")
    members.set_menu(session, identity.id, {"1": "balance"})
    session.expire_all()
    identity = session.get(Identity, identity.id)
    assert (identity.last_seen_at, identity.unreachable_at, identity.unreachable_reason, identity.menu) == \
        (later, None, None, {"1": "balance"})
    assert session.get(Member, member.id).last_activity_at == later
    assert members._SEEN.run(session, {"identity_id": -1, "now": later}) == 0  # no such row: nothing changed


@BOTH
def test_single_row_inserts_fill_constant_defaults_and_skip_conflicts(session: Session, program, T0) -> None:  # type: ignore[no-untyped-def]
    payload = {"text": "Balance: 120 points", "buttons": [["1", "Balance"]]}
    first = outbox.enqueue(session, program.id, "telegram", "42", payload, "reply", T0, dedupe_key="k")
    assert first is not None
    assert outbox.enqueue(session, program.id, "telegram", "42", payload, "reply", T0, dedupe_key="k") is None
    row = session.get(OutboxMessage, first)
    assert (row.payload, row.created_at, row.status, row.attempts, row.member_id) == (payload, T0, "queued", 0, None)
    # Without ``attempts`` in the row, the column's constant default is written, as SQLAlchemy would.
    bare = {k: v for k, v in outbox._row(program.id, "sms", "+15550001111", payload, "reply", T0).items()
            if k != "attempts"}
    (new_id,) = bulk.insert_many(session, OutboxMessage.__table__, [bare], returning=("id",))[0]
    assert session.get(OutboxMessage, new_id).attempts == 0


@BOTH
def test_many_rows_are_written_as_sqlalchemy_writes_them_and_only_new_ones_are_counted(session: Session, program, T0) -> None:  # type: ignore[no-untyped-def]
    later = T0 + timedelta(hours=9, minutes=30)  # a morning several rows share, another instant
    rows = [{**outbox._row(program.id, "telegram", str(100 + i), {"text": f"Sale {i}", "n": i}, "campaign", T0,
                           dedupe_key=f"c:{i}", available_at=later if i % 2 else None)} for i in range(5)]
    assert bulk.insert_count(session, OutboxMessage.__table__, rows, conflict=("program_id", "dedupe_key")) == 5
    # The same rows again, two of them new: only those two go in and are counted.
    again = rows[:3] + [{**row, "dedupe_key": f"d:{i}"} for i, row in enumerate(rows[3:])]
    assert bulk.insert_count(session, OutboxMessage.__table__, again, conflict=("program_id", "dedupe_key")) == 2
    # SQLAlchemy's own executemany of the same rows, for comparison, under other keys.
    session.execute(OutboxMessage.__table__.insert(), [{**row, "dedupe_key": "sa:" + row["dedupe_key"]} for row in rows])
    table = OutboxMessage.__table__.c
    stored = {key: rest for key, *rest in session.execute(
        select(table.dedupe_key, table.address, table.payload, table.available_at, table.created_at, table.status,
               table.priority, table.attempts)).all()}
    assert len(stored) == 12
    for row in rows:
        ours, theirs = stored[row["dedupe_key"]], stored["sa:" + row["dedupe_key"]]
        assert ours == theirs
        assert ours[2] == (later if row["available_at"] == later else T0) and ours[2].tzinfo is not None
    # Compared as the database compares them (SQLite compares the stored text): rows 1 and 3,
    # their copies, and the new row made from row 3.
    assert session.scalar(select(func.count()).select_from(OutboxMessage).where(table.available_at == later)) == 5


def test_many_refuses_a_statement_that_returns_rows(session: Session) -> None:
    returning = Prepared(update(Member.__table__).where(Member.__table__.c.id == bindparam("member_id"))
                         .values(name="x").returning(Member.__table__.c.id))
    with pytest.raises(ValueError, match="return no rows"):
        returning.many(session, [{"member_id": 1}])


@BOTH
def test_pending_orm_changes_are_flushed_first_and_a_rollback_undoes_the_writes(sessions, program, T0) -> None:  # type: ignore[no-untyped-def]
    with sessions() as session:
        session.add(InboundMessage(program_id=program.id, channel="sms", provider_message_id="SM1", received_at=T0))
        seen = Prepared(select(InboundMessage.__table__.c.provider_message_id)
                        .where(InboundMessage.__table__.c.channel == bindparam("channel")))
        assert seen.rows(session, {"channel": "sms"}) == [("SM1",)]  # the pending row was flushed
        session.rollback()
        assert seen.rows(session, {"channel": "sms"}) == []


@BOTH
def test_driver_errors_are_sqlalchemys(session: Session, program, T0) -> None:  # type: ignore[no-untyped-def]
    insert_unknown_program = {"program_id": 10**9, "channel": "sms", "provider_message_id": "SM2", "received_at": T0}
    with pytest.raises(IntegrityError):  # the foreign key: webhooks answer these with a 503
        bulk.insert_many(session, InboundMessage.__table__, [insert_unknown_program])
    session.rollback()


def test_what_it_cannot_run_is_refused_with_a_reason(session: Session, T0) -> None:  # type: ignore[no-untyped-def]
    expanding = Prepared(select(Member.__table__.c.id).where(Member.__table__.c.id.in_([1, 2])))
    with pytest.raises(ValueError, match="IN lists"):
        expanding.rows(session, {})
    with pytest.raises(KeyError, match="member_id"):
        standing._FIGURES.rows(session, {"now": T0, "expiry_cutoff": T0, "window_start": T0})
    renamed = Prepared(update(Member.__table__).where(Member.__table__.c.id == bindparam("member_id")).values(name="x"))
    assert renamed.run(session, {"member_id": -1}) == 0  # a constant in the statement, no such member: nothing changed


@BOTH
def test_the_switch_sends_them_through_the_session_and_its_events(session: Session, engine: Engine, road: str,
                                                                  join: Callable[..., Member], T0) -> None:  # type: ignore[no-untyped-def]
    """What the switch is for: the statements show in SQLAlchemy's echo log and events."""
    member = join()
    session.flush()
    seen: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda _c, _cur, sql, *_: seen.append(sql))
    members.touch(session, member.program_id, member.id, T0 + timedelta(hours=1), "UTC")
    statement = str(members._ACTIVE.statement.compile(dialect=engine.dialect))
    assert (statement in seen) == (road == "session")
    assert session.get(Member, member.id).last_activity_at is not None
