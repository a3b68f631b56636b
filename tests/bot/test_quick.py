"""bot/quick.py answers "balance" without the ORM; it must answer and write exactly what the
full road (bot.handler.respond) would. Two twin programs in one database live the same
conversations, one with quick answers and one without; their replies and rows must match,
on both databases."""
from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from support import T0

from bot import quick
from bot.messages import IncomingMessage
from bot.outbox_payload import from_payload
from rewards import earning
from rewards.models import Identity, Member, OutboxMessage, Program
from rewards.program.config import ProgramConfig
from rewards.program.programs import config_of, sync_program
from web.inbox import receive

both_databases = pytest.mark.parametrize("engine", ["sqlite", "postgres"], indirect=True)
CHANNELS = ("sms", "telegram")
DAY = timedelta(days=1)


class Twin:
    """One program's customers, each message through ``web.inbox.receive``."""

    def __init__(self, sessions: sessionmaker[Session], program_id: int, quick_answers: bool,
                 monkeypatch: pytest.MonkeyPatch) -> None:
        self.sessions, self.program_id, self.quick_answers = sessions, program_id, quick_answers
        self.monkeypatch = monkeypatch
        self.quick_count = 0
        self.sent = 0
        self.trace: list[tuple[Any, ...]] = []  # the identity after each message

    def send(self, channel: str, address: str, text: str, now: Any, payload: str | None = None,
             phone: str | None = None) -> None:
        self.sent += 1
        message = IncomingMessage(self.program_id, channel, address, text, provider_message_id=f"{address}-{self.sent}",
                                  phone=phone, payload=payload)
        answer = quick.answer

        def counted(session: Session, msg: IncomingMessage, at: Any) -> Any:
            result = answer(session, msg, at) if self.quick_answers else None
            self.quick_count += result is not None
            return result

        with self.monkeypatch.context() as patch:
            patch.setattr(quick, "answer", counted)
            with self.sessions.begin() as session:
                receive(session, message, now, CHANNELS)
        with self.sessions() as session:
            identity = session.scalars(select(Identity).where(
                Identity.program_id == self.program_id, Identity.address == address)).one()
            self.trace.append((identity.menu, identity.flow, identity.last_seen_at, identity.language))

    def buy(self, address: str, amount: str, receipt: str, now: Any) -> None:
        with self.sessions.begin() as session:
            program = session.get_one(Program, self.program_id)
            member_id = session.scalar(select(Identity.member_id).where(
                Identity.program_id == self.program_id, Identity.address == address))
            member = session.get_one(Member, member_id)
            earning.record_purchase(session, program, config_of(program), member, amount, receipt, now)

    def seen(self) -> dict[str, Any]:
        """Everything a customer or a later query could see, member codes blanked out."""
        with self.sessions() as session:
            replies = [
                (row.channel, row.address, row.kind, re.sub(r"\b[A-Z0-9]{6,}\b", "CODE", from_payload(row.payload, row.kind).text),
                 [(b.title, b.payload) for b in from_payload(row.payload, row.kind).buttons])
                for row in session.scalars(select(OutboxMessage).where(OutboxMessage.program_id == self.program_id)
                                           .order_by(OutboxMessage.id))
            ]
            identities = [
                (i.channel, i.address, i.menu, i.flow, i.last_seen_at, i.unreachable_at, i.language)
                for i in session.scalars(select(Identity).where(Identity.program_id == self.program_id).order_by(Identity.id))
            ]
            people = [
                (m.balance, m.last_activity_at, m.language, m.tier.name if m.tier else None)
                for m in session.scalars(select(Member).where(Member.program_id == self.program_id).order_by(Member.id))
            ]
        return {"replies": replies, "identities": identities, "members": people}


def conversation(twin: Twin) -> None:
    ana, ben = "+15550001111", "+15550002222"
    now = T0
    twin.send("sms", ana, "hi", now, phone=ana)
    twin.send("sms", ana, "yes", now, phone=ana)
    twin.send("telegram", "777", "hola", now)
    twin.send("telegram", "777", "si", now)
    for words in ("balance", "BALANCE please", "1", "points"):
        now += DAY
        twin.send("sms", ana, words, now, phone=ana)
    twin.send("telegram", "777", "", now, payload="balance")  # the button
    twin.send("telegram", "777", "saldo", now)  # a Spanish-speaking member
    twin.buy(ana, "38.00", "R-1", now)
    twin.send("sms", ana, "balance", now + DAY, phone=ana)  # tier progress and points that will expire
    twin.send("sms", ana, "balance", now + 360 * DAY, phone=ana)
    twin.send("sms", ana, "rewards", now + 360 * DAY, phone=ana)  # another menu...
    twin.send("sms", ana, "balance", now + 360 * DAY, phone=ana)  # ...replaced by the main one
    # An open question takes the full road; "balance" then abandons it.
    twin.send("sms", ana, "redeem 1", now + 361 * DAY, phone=ana)
    twin.send("sms", ana, "balance", now + 361 * DAY, phone=ana)
    twin.send("sms", ana, "rewards", now + 362 * DAY, phone=ana)
    twin.send("sms", ana, "1", now + 362 * DAY, phone=ana)  # the first reward now, not "balance"
    twin.send("sms", ben, "balance", now, phone=ben)  # not a member yet: the full road
    twin.send("sms", ana, "balance", now + 363 * DAY, phone=ana)


@both_databases
def test_quick_answers_say_and_write_what_the_full_road_would(
    sessions: sessionmaker[Session], program: Program, demo_config: ProgramConfig, monkeypatch: pytest.MonkeyPatch,
) -> None:
    with sessions.begin() as session:
        twin_id = sync_program(session, replace(demo_config, slug="twin"), T0).id
    fast = Twin(sessions, program.id, True, monkeypatch)
    full = Twin(sessions, twin_id, False, monkeypatch)
    conversation(fast)
    conversation(full)
    assert fast.quick_count >= 8 and full.quick_count == 0  # the quick answers did answer
    assert fast.trace == full.trace
    seen_fast, seen_full = fast.seen(), full.seen()
    assert seen_fast["replies"] == seen_full["replies"]
    assert seen_fast["identities"] == seen_full["identities"]
    assert seen_fast["members"] == seen_full["members"]
    texts = [text for _, _, _, text, _ in seen_fast["replies"]]
    assert any("points to" in text for text in texts) and any("Tienes" in text for text in texts)
