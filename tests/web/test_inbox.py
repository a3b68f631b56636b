"""web/inbox.py: one incoming message in, its effects and outbox rows in one
transaction; a redelivery has no effect; notices find the member's last channel; an
unreachable address gets nothing more until the customer writes again."""
from __future__ import annotations

import threading
from collections import Counter
from dataclasses import replace
from datetime import timedelta

import pytest
from fakes.outputs import CollectingOutput
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from support import T0

from bot.messages import IncomingMessage
from bot.outbox_payload import from_payload
from channels.sender import PermanentFailure, Sender
from rewards import earning, members, referrals
from rewards.models import Identity, InboundMessage, Member, OutboxMessage, Program
from rewards.program.config import ProgramConfig
from rewards.program.programs import config_of, sync_program
from web.inbox import Received, notify, receive

both_databases = pytest.mark.parametrize("engine", ["sqlite", "postgres"], indirect=True)
CHANNELS = ("sms", "telegram")


class Customer:
    """A customer on one channel whose messages go through ``receive``; each delivery gets
    a fresh provider id unless one is given (a provider's retry repeats it)."""

    def __init__(self, sessions: sessionmaker[Session], program: Program, channel: str, address: str,
                 phone: str | None = None) -> None:
        self.sessions, self.program_id = sessions, program.id
        self.channel, self.address, self.phone = channel, address, phone
        self.now = T0
        self.count = 0

    def message(self, text: str, provider_id: str | None = None) -> IncomingMessage:
        self.count += 1
        return IncomingMessage(
            self.program_id, self.channel, self.address, text,
            provider_message_id=provider_id or f"{self.channel}-{self.address}-{self.count}", phone=self.phone,
        )

    def send(self, text: str, provider_id: str | None = None) -> Received:
        with self.sessions.begin() as session:
            return receive(session, self.message(text, provider_id), self.now, CHANNELS)

    def queued_texts(self) -> list[str]:
        with self.sessions() as session:
            rows = session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.channel == self.channel, OutboxMessage.address == self.address)
                .order_by(OutboxMessage.id)
            )
            return [from_payload(row.payload, row.kind).text for row in rows]

    def member_id(self) -> int | None:
        with self.sessions() as session:
            return session.scalar(select(Identity.member_id).where(
                Identity.channel == self.channel, Identity.address == self.address))


def joined(customer: Customer) -> Customer:
    customer.send("hi")
    customer.send("yes")
    assert customer.member_id() is not None
    return customer


def outbox_rows(sessions: sessionmaker[Session]) -> list[OutboxMessage]:
    with sessions() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_replies_are_queued_for_the_address_they_answer(sessions, program) -> None:  # type: ignore[no-untyped-def]
    alice = Customer(sessions, program, "sms", "+15550001111", phone="+15550001111")
    received = alice.send("hi")
    assert received == Received(duplicate=False, queued=1)
    texts = alice.queued_texts()
    assert len(texts) == 1 and "join" in texts[0].lower()
    received = alice.send("yes")
    rows = outbox_rows(sessions)
    assert received.queued == len(rows) - 1 >= 2
    assert {row.kind for row in rows} == {"reply"}
    assert {row.member_id for row in rows[1:]} == {alice.member_id()}
    assert any("You're in!" in text for text in alice.queued_texts())


def test_a_redelivered_message_has_no_effect(sessions, program) -> None:  # type: ignore[no-untyped-def]
    alice = Customer(sessions, program, "sms", "+15550001111", phone="+15550001111")
    alice.send("hi", provider_id="SM1")
    alice.send("yes", provider_id="SM2")
    before = len(outbox_rows(sessions))
    again = alice.send("yes", provider_id="SM2")
    assert again == Received(duplicate=True, queued=0)
    assert len(outbox_rows(sessions)) == before
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Member)) == 1
        assert session.scalar(select(func.count()).select_from(InboundMessage)) == 2


def test_the_same_provider_id_on_another_channel_is_another_message(sessions, program) -> None:  # type: ignore[no-untyped-def]
    Customer(sessions, program, "sms", "+15550001111").send("hi", provider_id="42")
    second = Customer(sessions, program, "telegram", "777").send("hi", provider_id="42")
    assert second.duplicate is False and second.queued == 1


@both_databases
def test_one_delivery_racing_in_on_many_workers_has_one_effect(sessions, program) -> None:  # type: ignore[no-untyped-def]
    alice = joined(Customer(sessions, program, "sms", "+15550001111", phone="+15550001111"))
    before = len(outbox_rows(sessions))
    results: list[Received] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(10)

    def deliver() -> None:
        try:
            barrier.wait()
            with sessions.begin() as session:
                results.append(receive(session, alice.message("balance", "SM-RETRIED"), T0, CHANNELS))
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=deliver) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    assert Counter(r.duplicate for r in results) == {True: 9, False: 1}
    assert len(outbox_rows(sessions)) == before + 1


def test_a_notice_goes_to_the_channel_the_member_last_wrote_from(sessions, program) -> None:  # type: ignore[no-untyped-def]
    sms = joined(Customer(sessions, program, "sms", "+15550001111", phone="+15550001111"))
    telegram = Customer(sessions, program, "telegram", "9001", phone="+15550001111")
    telegram.now = T0 + timedelta(hours=1)
    telegram.send("balance")  # a verified phone links this chat to the same wallet
    member_id = sms.member_id()
    assert telegram.member_id() == member_id
    with sessions.begin() as session:
        program_row = session.get(Program, program.id)
        member = session.get(Member, member_id)
        result = earning.record_purchase(session, program_row, config_of(program_row), member, "10.00", "R-1", T0)
        assert notify(session, result.events, T0, CHANNELS) == 1
        # With Telegram off, the member hears on the channel they used before it.
        assert notify(session, result.events, T0, ("sms",)) == 1
        assert notify(session, result.events, T0, ("whatsapp",)) == 0
    notices = [(row.channel, row.address) for row in outbox_rows(sessions) if row.kind == "notice"]
    assert notices == [("telegram", "9001"), ("sms", "+15550001111")]
    assert "100 points" in telegram.queued_texts()[-1]


def test_a_referrer_paid_at_join_is_told_on_their_own_channel(sessions, program, demo_config: ProgramConfig) -> None:  # type: ignore[no-untyped-def]
    with sessions.begin() as session:
        sync_program(session, replace(demo_config, referrals=replace(demo_config.referrals, qualify_on="join")), T0)
    ann = joined(Customer(sessions, program, "telegram", "1001", phone="+15550002222"))
    ann_id = ann.member_id()
    with sessions() as session:
        code = session.get(Member, ann_id).code
    friend = Customer(sessions, program, "sms", "+15550003333", phone="+15550003333")
    friend.send(f"JOIN {code}")
    friend.send("yes")
    with sessions() as session:
        assert referrals.stats(session, session.get(Member, ann_id)).qualified == 1
    told = [row for row in outbox_rows(sessions) if row.address == "1001" and row.kind == "notice"]
    assert len(told) == 1 and told[0].member_id == ann_id
    assert "200" in from_payload(told[0].payload).text


class Blocked(CollectingOutput):
    def send(self, address: str, reply):  # type: ignore[no-untyped-def]
        raise PermanentFailure("Forbidden: bot was blocked by the user")


@both_databases
def test_a_blocked_address_gets_nothing_more_until_the_customer_writes_again(sessions, program) -> None:  # type: ignore[no-untyped-def]
    bob = joined(Customer(sessions, program, "telegram", "4242"))
    bob_id = bob.member_id()
    queued = len(outbox_rows(sessions))
    sender = Sender(sessions, {"telegram": Blocked()}, worker_id="test", batch_size=1, clock=lambda: T0)
    assert sender.run_once() == 1
    rows = outbox_rows(sessions)
    assert Counter(row.status for row in rows) == {"failed": 1, "skipped": queued - 1}
    assert all("blocked" in (row.error or "") for row in rows)
    with sessions() as session:
        identity = session.scalar(select(Identity).where(Identity.address == "4242"))
        assert identity.unreachable_at == T0 and "blocked" in identity.unreachable_reason
        member = session.get(Member, bob_id)
        assert members.notice_identity(session, member, CHANNELS) is None
    bob.now = T0 + timedelta(days=1)
    bob.send("balance")  # they unblocked the bot and wrote
    with sessions() as session:
        member = session.get(Member, bob_id)
        identity = members.notice_identity(session, member, CHANNELS)
        assert identity is not None and identity.unreachable_at is None
    assert outbox_rows(sessions)[-1].status == "queued"
