"""Transient failures through a provider outage (channels/sender.py): backoff to a ceiling,
the staleness rule, the channel's health record, and an outage of the fake Bot API longer
than the longest backoff, all on a fake clock (the real Telegram adapter, over HTTP)."""
from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fakes.outputs import CollectingOutput
from fakes.telegram_api import FakeTelegram
from sqlalchemy.orm import Session, sessionmaker
from support import T0
from test_sender import FakeClock, Scripted, make_sender, most_in_any_window, queue, rows

from bot.messages import Reply
from bot.outbox_payload import to_payload
from channels.sender import Backoff, Limits, Sender
from channels.telegram import TelegramAdapter
from rewards import channel_health, outbox
from rewards.models import OutboxMessage, Program

both_databases = pytest.mark.parametrize("engine", ["sqlite", "postgres"], indirect=True)


def test_the_backoff_doubles_to_its_ceiling_and_jitter_only_shortens_it() -> None:
    backoff = Backoff()
    assert [backoff.delay(n, 0.0) for n in range(1, 9)] == [5, 10, 20, 40, 60, 60, 60, 60]
    assert backoff.delay(10_000, 0.0) == 60  # no overflow after a day of failures
    assert all(30 <= backoff.delay(n, draw) <= 60 for n in (5, 500) for draw in (0.0, 0.5, 0.999))
    assert Backoff(first=0.1, ceiling=0.5).delay(9, 0.0) == 0.5


@both_databases
def test_transient_failures_are_retried_until_the_message_is_stale(
    sessions: sessionmaker[Session], program: Program,
) -> None:
    """A reply is worth sending for 6 hours, a campaign message for a day (outbox.STALE_AFTER);
    until then every retry comes within the backoff's ceiling; then each is skipped as stale."""
    with sessions.begin() as s:
        reply = queue(s, program, "reply", "Your balance: 10")
        promotion = queue(s, program, "campaign", "Sale today!", "chat-2")
    down = Scripted({"Your balance: 10": [ConnectionError("reset")] * 10_000,
                     "Sale today!": [ConnectionError("reset")] * 10_000})
    clock = FakeClock()
    sender = make_sender(sessions, {"fake": down}, clock)
    while clock.wall() < T0 + timedelta(hours=25):
        sender.run_once()
        for row in rows(sessions).values():
            if row.status == "queued":
                assert row.available_at <= clock.wall() + timedelta(seconds=Backoff().ceiling)
        state = rows(sessions)
        before_six_hours = clock.wall() < T0 + outbox.STALE_AFTER["reply"]
        assert state[reply].status == ("queued" if before_six_hours else "skipped")
        assert state[promotion].status == ("queued" if clock.wall() < T0 + outbox.STALE_AFTER["campaign"] else "skipped")
        clock.sleep(300)
    state = rows(sessions)
    for row in (state[reply], state[promotion]):
        assert row.error.startswith("stale: not sent within")
        assert row.error.endswith("last error: ConnectionError('reset')")
        assert row.attempts > 5  # tried all along, not given up after a few
    assert down.sent == []


@both_databases
def test_what_waited_too_long_for_a_sender_is_skipped_as_stale_not_sent(
    sessions: sessionmaker[Session], program: Program,
) -> None:
    """No sender ran for a day (or none could reach the database): when one starts, a reply
    queued 7 hours ago and a campaign message queued 25 hours ago are skipped as stale, not
    sent; what is fresh goes. A campaign message quiet hours held back counts from the
    morning it was due, and one re-queued by an operator from when it was re-queued."""
    def old(kind: str, text: str, hours: float, held: float | None = None) -> int:
        queued = T0 - timedelta(hours=hours)
        row_id = outbox.enqueue(s, program.id, "fake", f"chat-{text}", to_payload(Reply(text)), kind, queued,
                                available_at=None if held is None else queued + timedelta(hours=held))
        assert row_id is not None
        return row_id

    with sessions.begin() as s:
        reply = old("reply", "Your balance: 10", 7)
        promotion = old("campaign", "Sale yesterday!", 25)
        failing = old("notice", "You earned 5 points", 30)
        s.get(OutboxMessage, failing).error = "ConnectionError('reset')"  # it was being retried
        fresh_reply = old("reply", "Your balance: 20", 5)
        morning = old("campaign", "Sale this morning!", 25, held=12)  # queued at 21:00, due at 09:00
        crashed = old("campaign", "Sale before the crash!", 26)
        s.get(OutboxMessage, crashed).status = "sending"  # its sender died holding it
        s.get(OutboxMessage, crashed).claimed_until = T0 - timedelta(hours=25)
    output = CollectingOutput()
    assert make_sender(sessions, {"fake": output}).run_once() == 6

    assert sorted(output.texts()) == ["Sale this morning!", "Your balance: 20"]
    state = rows(sessions)
    assert {row_id: state[row_id].status for row_id in (reply, promotion, failing, crashed)} == dict.fromkeys(
        (reply, promotion, failing, crashed), "skipped")
    assert state[reply].error == "stale: not sent within 6 hours of being due"
    assert state[promotion].error == state[crashed].error == "stale: not sent within 24 hours of being due"
    assert state[failing].error == "stale: not sent within 24 hours of being due; last error: ConnectionError('reset')"
    assert state[fresh_reply].status == state[morning].status == "sent"

    # An operator's retry (``loyalty outbox retry --status skipped``) makes them due from now.
    with sessions.begin() as s:
        assert outbox.requeue(s, program.id, T0, status="skipped") == 4
    assert make_sender(sessions, {"fake": output}).run_once() == 4
    assert {row.status for row in rows(sessions).values()} == {"sent"}


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram() as server:
        yield server


OUTAGE = 150.0  # seconds: longer than the longest backoff (60 s)
MESSAGES = 50


@both_databases
def test_an_outage_longer_than_the_longest_backoff_loses_nothing_and_sends_each_once(
    sessions: sessionmaker[Session], program: Program, fake: FakeTelegram,
) -> None:
    """Telegram answers 502 for 150 s in the middle of 50 messages, then recovers: every
    message arrives exactly once, those that waited leave within the backoff's ceiling of the
    recovery and at the channel's rate, and the channel's health says failing, then not."""
    with sessions.begin() as s:
        outbox.enqueue_many(s, (dict(program_id=program.id, channel="telegram", address=str(1000 + i),
                                     payload={"text": f"m{i}"}, kind="reply" if i % 5 == 0 else "campaign")
                                for i in range(MESSAGES)), T0)
    clock = FakeClock()
    arrived: list[float] = []
    telegram = TelegramAdapter(fake.token, fake.base_url, timeout=5)

    class Timed:
        def send(self, address: str, reply: Reply) -> str:
            provider_id = telegram.send(address, reply)
            arrived.append(clock())
            return provider_id

    limits = Limits(rate=30, per_chat_rate=1)
    sender = Sender(sessions, {"telegram": Timed()}, worker_id="test", clock=clock.wall, monotonic=clock,
                    sleep=clock.sleep, batch_size=20, limits={"telegram": limits}, draw=random.Random(11).random)

    def run_until(stop: float) -> None:
        while clock() < stop and len(arrived) < MESSAGES:
            if not sender.run_once():
                clock.sleep(0.5)

    try:
        assert sender.run_once() == 20  # a first batch goes out, then the provider falls over
        fake.fail(502, "Bad Gateway", times=None)
        started = clock()
        run_until(started + OUTAGE)
        with sessions() as s:
            [health] = channel_health.report(s, clock.wall())
        assert health.failing and health.queued == MESSAGES - 20 == health.retrying
        assert health.failing_since is not None and health.consecutive_failures > MESSAGES - 20
        assert "Bad Gateway" in (health.last_error or "")
        assert Counter(r.status for r in rows(sessions).values()) == {"sent": 20, "queued": MESSAGES - 20}

        fake.heal()
        recovered = clock()
        run_until(recovered + 10 * Backoff().ceiling)
    finally:
        telegram.close()

    delivered = Counter(call.text for call in fake.sent())
    assert delivered == Counter(f"m{i}" for i in range(MESSAGES))  # each exactly once
    assert Counter(r.status for r in rows(sessions).values()) == {"sent": MESSAGES}
    assert max(arrived) - recovered <= Backoff().ceiling + 1  # the wait after recovery, plus the pace
    assert most_in_any_window(arrived) <= limits.rate
    with sessions() as s:
        [health] = channel_health.report(s, clock.wall())
    assert not health.failing and health.consecutive_failures == 0 and health.queued == 0
