"""Points have a deliberate range: at most MAX_POINTS in one entry that a person or the
program file asks for (refused in one line, a 422, a chat reply, storing nothing), and
64-bit balances and ledger amounts for what adds up (an expiry of a whole balance)."""
from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo
from sqlalchemy import select
from test_api import BEN, Shop, any_shop, shop  # noqa: F401 - the fixtures

from bot.handler import respond
from bot.messages import IncomingMessage
from rewards import ledger, members
from rewards.errors import ConfigError
from rewards.models import LedgerEntry
from rewards.program.config import DEMO_PROGRAM_PATH, MAX_POINTS, load_program_file
from rewards.program.config_staff import Staff
from rewards.program.programs import sync_program
from web.cli import cli


def test_an_adjustment_beyond_the_limit_is_one_line_and_stores_nothing(any_shop: Shop) -> None:  # noqa: F811
    before = any_shop.snapshot()
    for points in ("5000000000", "-99999999999999999999999"):
        result = CliRunner().invoke(cli, ["adjust", "--reason", "typo", BEN, "--", points],
                                    obj=ScriptInfo(create_app=lambda: any_shop.app))
        assert result.exit_code == 1, result.output
        assert result.output.strip().splitlines() == [
            f"Error: an adjustment: {int(points):,} points is over the limit of 1,000,000,000 points per entry"]
    assert any_shop.snapshot() == before
    ok = CliRunner().invoke(cli, ["adjust", BEN, str(MAX_POINTS), "--reason", "the most at once"],
                            obj=ScriptInfo(create_app=lambda: any_shop.app))
    assert ok.exit_code == 0, ok.output


def _generous_program(tmp_path: Path) -> Path:
    path = tmp_path / "generous.toml"
    path.write_text(DEMO_PROGRAM_PATH.read_text(encoding="utf-8").replace(
        "points_per_unit = 10 ", "points_per_unit = 5000 ", 1), encoding="utf-8")
    assert load_program_file(path).earning.points_per_unit == 5000
    return path


def test_a_purchase_worth_more_points_than_the_limit_is_422_and_stores_nothing(any_shop: Shop, tmp_path: Path) -> None:  # noqa: F811
    any_shop.rt.load_program_file(str(_generous_program(tmp_path)))
    before = any_shop.snapshot()
    response = any_shop.post("/purchases", {"customer": BEN, "amount": "999999.99", "receipt_id": "R-big"})
    assert response.status_code == 422
    assert response.json["error"] == "too_many_points" and "over the limit of 1,000,000,000 points" in response.json["message"]
    assert any_shop.snapshot() == before
    assert any_shop.post("/purchases", {"customer": BEN, "amount": "100.00", "receipt_id": "R-big"}).status_code == 201


def test_a_staff_chat_purchase_beyond_the_limit_gets_a_reply(any_shop: Shop, tmp_path: Path) -> None:  # noqa: F811
    config = load_program_file(str(_generous_program(tmp_path)))
    with any_shop.rt.transaction() as session:
        sync_program(session, dataclasses.replace(config, staff=Staff(("9001",), ())), any_shop.rt.clock())
    before = any_shop.snapshot()
    with any_shop.rt.transaction() as session:
        handled = respond(session, IncomingMessage(any_shop.program_id, "telegram", "9001",
                                                   f"/purchase {BEN} 999999.99 R-chat"), any_shop.rt.clock())
    assert [r.text for r in handled.replies] == [
        "Not recorded: a purchase of 999999.99 USD: 7,499,999,925 points is over the limit of 1,000,000,000 points per entry."]
    assert any_shop.snapshot() == before


def test_a_program_file_with_points_beyond_the_limit_is_refused_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(DEMO_PROGRAM_PATH.read_text(encoding="utf-8").replace(
        "join_bonus = 50", "join_bonus = 5000000000", 1), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[earning\] join_bonus: must be at most 1,000,000,000 \(got 5,000,000,000\)"):
        load_program_file(path)


def test_a_balance_beyond_32_bits_expires_whole(any_shop: Shop) -> None:  # noqa: F811
    """Three entries at the limit make a balance of 3 billion: its expiry is one entry of
    -3 billion, which a 32-bit column could not hold."""
    now = any_shop.rt.clock()
    with any_shop.rt.transaction() as session:
        member = members.find(session, any_shop.program_id, BEN)
        for i in range(3):
            ledger.post(session, member, MAX_POINTS, "bonus", f"big:{i}", "a big bonus", now - timedelta(days=400))
        held = member.balance
        expired = ledger.expire_member(session, member.id, now, now)
    assert expired is not None and expired.points == held > 3 * MAX_POINTS
    with any_shop.rt.transaction() as session:
        amounts = session.scalars(select(LedgerEntry.amount).where(LedgerEntry.kind == "expire")).all()
        assert -held in amounts
