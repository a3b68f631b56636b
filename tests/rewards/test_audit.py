"""The audit checks each cause against its entries, not only balances against sums:
a ledger that adds up but credits a purchase twice, or a code never paid for, is caught."""
from __future__ import annotations

from sqlalchemy import text

from rewards import earning, ledger, redemption


def _raw_entry(engine, member_id: int, amount: int, kind: str, key: str, column: str, value: int) -> None:  # type: ignore[no-untyped-def]
    """Behind the ORM, with the cached balance moved too, so only the cause check can see it."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO ledger_entries (program_id, member_id, amount, kind, reason, idempotency_key,"
                f" created_at, lot_at, {column}) VALUES (1, :m, :a, :k, 'x', :key, '2026-03-02 15:00:00',"
                " '2026-03-02 15:00:00', :v)"
            ),
            {"m": member_id, "a": amount, "k": kind, "key": key, "v": value},
        )
        conn.execute(text("UPDATE members SET balance = balance + :a WHERE id = :m"), {"a": amount, "m": member_id})


def test_a_purchase_credited_twice_is_reported(engine, session, join, program, demo_config, T0) -> None:  # type: ignore[no-untyped-def]
    member = join()
    result = earning.record_purchase(session, program, demo_config, member, "10.00", "R-1", T0)
    member_id, purchase_id = member.id, result.purchase.id
    session.commit()
    assert ledger.audit(session).ok
    session.rollback()  # end the read: on SQLite every transaction holds the write lock
    _raw_entry(engine, member_id, 100, "purchase", "sneaky", "purchase_id", purchase_id)
    session.rollback()
    report = ledger.audit(session)
    assert not report.ok and report.mismatches == []
    assert report.problems == ["purchase R-1: entries sum to 200, expected 100"]
    # Entries cannot be removed: a correction makes the purchase add up again.
    earning.refund(session, program, demo_config, "R-1", T0)
    session.commit()
    assert ledger.audit(session).ok


def test_a_code_returned_without_expiring_is_reported(engine, session, join, program, demo_config, reward_row, T0) -> None:  # type: ignore[no-untyped-def]
    member = join()
    ledger.post(session, member, 500, "bonus", "bonus:1", "gift", T0)
    code_id = redemption.issue(session, demo_config, member, reward_row("free-coffee"), T0).id
    session.commit()
    _raw_entry(engine, member.id, 500, "code_return", "sneaky", "code_id", code_id)
    session.rollback()
    report = ledger.audit(session)
    assert report.problems == [f"code {code_id} (issued): 500 points taken and 500 returned for a cost of 500"]
    session.rollback()
    with engine.begin() as conn:  # expire it, as the job would have: now the return is right
        conn.execute(text("UPDATE codes SET status = 'expired' WHERE id = :id"), {"id": code_id})
    assert ledger.audit(session).ok
