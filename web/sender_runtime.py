"""The outbox sender as a running thing: its rate limits from the settings, a thread of its
own (inside ``loyalty serve``, or the whole of ``loyalty worker``), and how it is woken.

Waking, fastest first (no caller has to remember it):
- a sender in the same process is woken directly once a transaction that queued rows has
  committed (``Runtime.wake_sender``, called by ``web.runtime.wake_on_commit`` for every session of a
  runtime), so a reply leaves within milliseconds;
- on PostgreSQL a trigger on ``outbox_messages`` NOTIFYs ``loyalty_outbox`` for every
  statement that inserts rows (rewards/models.py, migrations 0012-0013), delivered when and only
  if the rows are committed, and every sender LISTENs on a connection of its own: a separate
  ``loyalty worker`` hears about a webhook's reply as fast, whoever wrote the rows, at no
  cost of a statement or transaction of the writer's;
- a short poll catches the rest: another process on SQLite, a retry or a 429 pause coming
  due, a dead sender's lease running out, a notification lost while reconnecting.
However it is woken, a row is claimed by one sender only (rewards/outbox.py), so any number
of senders may run; each keeps its own token buckets, though, so the rates hold per sender.
"""
from __future__ import annotations

import logging
import math
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.messages import Reply
from channels.outage import Outage
from channels.sender import Adapter, Limits, PermanentFailure, RetryAfter, Sender, Skipped
from rewards import channel_health
from rewards.errors import ConfigError
from rewards.models import OUTBOX_NOTIFY_CHANNEL, OutboxMessage
from rewards.storage.db import schema_of
from web import providers
from web.settings import Settings

if TYPE_CHECKING:
    from web.runtime import Runtime

log = logging.getLogger("loyalty.sender")

# The providers' limits: Telegram about 30 messages/s overall and 1/s per chat; Twilio about
# one SMS segment a second on a long code; a WhatsApp sender much more. (overall, per chat)
DEFAULT_RATES: dict[str, tuple[float | None, float | None]] = {
    "telegram": (30.0, 1.0),
    "whatsapp": (80.0, None),
    "sms": (1.0, None),
    "web": (None, None),
}
# Messages one chat may get at once before its per-chat rate paces the rest: Telegram lets a
# chat take a short burst, so a two- or three-message answer arrives together (then 1/s).
# The overall rate is a separate bucket, never exceeded by these bursts.
PER_CHAT_BURST: dict[str, int] = {"telegram": 3}


def limits(settings: Settings) -> dict[str, Limits]:
    """Each channel's pace: the defaults above, changed by ``LOYALTY_RATE_<CHANNEL>`` (messages
    a second) and ``LOYALTY_RATE_<CHANNEL>_PER_CHAT`` (0 for no per-chat limit)."""
    rates = {channel: list(pair) for channel, pair in DEFAULT_RATES.items()}
    for name, raw in settings.sender_rates:
        rest = name.removeprefix("LOYALTY_RATE_").lower()
        per_chat = rest.endswith("_per_chat")
        channel = rest.removesuffix("_per_chat")
        if channel not in rates:
            raise ConfigError(f"{name}: there is no channel {channel!r} (known: {', '.join(sorted(rates))})")
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < 0 or (value == 0 and not per_chat):
            raise ConfigError(f"{name}: must be a number of messages a second above 0 (got {raw!r})")
        rates[channel][1 if per_chat else 0] = value or None
    return {
        channel: Limits(rate=overall, per_chat_rate=per_chat,
                        per_chat_burst=PER_CHAT_BURST.get(channel, 1) if per_chat else 1)
        for channel, (overall, per_chat) in rates.items()
        if overall is not None
    }


def describe(limits: Mapping[str, Limits], channels: list[str]) -> str:
    parts = []
    for channel in channels:
        limit = limits.get(channel)
        if limit is None:
            parts.append(f"{channel} unlimited")
        else:
            burst = f" (bursts of {limit.per_chat_burst})" if limit.per_chat_burst > 1 else ""
            per_chat = f", {limit.per_chat_rate:g}/s per chat{burst}" if limit.per_chat_rate else ""
            parts.append(f"{channel} {limit.rate:g}/s{per_chat}")
    return "; ".join(parts)


def channel_lines(settings: Settings, adapters: list[str]) -> list[str]:
    """The start-up report: each channel on or off, and why."""
    lines = ["channels:"]
    for status in providers.channel_statuses(settings):
        state = "on " if status.on else "off"
        note = "" if not status.on or status.name in adapters else "  (no sender adapter for it yet: its messages wait)"
        lines.append(f"  {status.name:<9} {state}  {status.why}{note}")
    return lines


# -- counting what happened, for the worker's progress lines --------------------------------


@dataclass
class Tally:
    """Outcomes since start. Written by the sender thread only; read now and then."""

    sent: int = 0
    failed: int = 0  # permanently
    skipped: int = 0
    retried: int = 0  # transient failures, tried again later
    paused: int = 0  # 429s
    by_channel: dict[str, int] = field(default_factory=dict)

    def snapshot(self) -> tuple[int, int, int, int, int]:
        return self.sent, self.failed, self.skipped, self.retried, self.paused


class CountingAdapter:
    """Wraps a channel's adapter to count outcomes; passes everything through unchanged."""

    def __init__(self, channel: str, inner: Adapter, tally: Tally) -> None:
        self.channel, self.inner, self.tally = channel, inner, tally

    def send(self, address: str, reply: Reply) -> str:
        try:
            provider_id = self.inner.send(address, reply)
        except RetryAfter:
            self.tally.paused += 1
            raise
        except PermanentFailure:
            self.tally.failed += 1
            raise
        except Skipped:
            self.tally.skipped += 1
            raise
        except Exception:
            self.tally.retried += 1
            raise
        self.tally.sent += 1
        self.tally.by_channel[self.channel] = self.tally.by_channel.get(self.channel, 0) + 1
        return provider_id


# -- waking ------------------------------------------------------------------------------------


def listen(engine: Engine, on_notify: Callable[[], None], stop: threading.Event, *,
           timeout: float = 0.25, retry_seconds: float = 2.0) -> None:
    """LISTEN on a connection of our own (not the pool's) and call ``on_notify`` for each
    notification of rows in our schema, until ``stop`` is set. ``timeout`` bounds how long
    stopping takes."""
    import psycopg  # PostgreSQL only; an optional dependency

    _, params = engine.dialect.create_connect_args(engine.url)
    # Keepalives: a connection that only listens looks idle; find out soon if it died.
    params = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10,
              "application_name": f"loyalty outbox listener {os.getpid()}", **params}
    outage = Outage(log, "outbox listener")
    while not stop.is_set():
        try:
            with psycopg.connect(**params, autocommit=True) as conn:
                with engine.connect() as ordinary:  # our rows' NOTIFY names their table's schema
                    ours = schema_of(ordinary, OutboxMessage.__tablename__)
                conn.execute(f"LISTEN {OUTBOX_NOTIFY_CHANNEL}")
                outage.recovered()
                on_notify()  # whatever was queued while nobody listened
                while not stop.is_set():
                    # psycopg >= 3.2.4: a notification arriving between two calls is kept for the next.
                    for notification in conn.notifies(timeout=timeout):
                        # Not another deployment's; "" from a trigger older than migration 0013.
                        if ours is None or notification.payload in (ours, ""):
                            on_notify()
        except Exception as error:  # noqa: BLE001 - the poll goes on meanwhile; never let this thread die
            outage.failed(error, "listen for new messages", f"polling meanwhile, reconnecting every {retry_seconds:g} s")
            stop.wait(retry_seconds)


def watch_sqlite(engine: Engine, on_change: Callable[[], None], stop: threading.Event, *,
                 interval: float = 0.01) -> None:
    """SQLite's LISTEN: ``PRAGMA data_version`` changes when another connection commits, and
    reading it takes no lock, so a separate ``loyalty worker`` can look a hundred times a
    second and claim only when something was written (a webhook's reply, at once)."""
    import sqlite3

    database = engine.url.database
    if not database or database == ":memory:":
        return
    conn = sqlite3.connect(database, check_same_thread=False)  # only ever reads
    outage = Outage(log, "outbox watcher")
    try:
        last = None
        while not stop.wait(interval):
            try:
                version = conn.execute("PRAGMA data_version").fetchone()[0]
            except sqlite3.Error as error:  # the poll goes on meanwhile
                outage.failed(error, "read the database's change counter", "polling meanwhile")
                stop.wait(1.0)
                continue
            outage.recovered()
            if version != last:
                if last is not None:
                    on_change()
                last = version
    finally:
        conn.close()


class SenderService:
    """A Sender on a thread of its own, plus a LISTEN thread on PostgreSQL."""

    def __init__(
        self, engine: Engine, sessions: sessionmaker[Session], adapters: Mapping[str, Adapter],
        limits: Mapping[str, Limits], *, poll_seconds: float, worker_id: str | None = None, listen: bool = True,
    ) -> None:
        self.engine = engine
        self.sessions = sessions
        self.tally = Tally()
        self.channels = sorted(adapters)
        counted = {channel: CountingAdapter(channel, adapter, self.tally) for channel, adapter in adapters.items()}
        self.sender = Sender(sessions, counted, limits=limits, poll_seconds=poll_seconds, worker_id=worker_id)
        self.listening = listen and engine.dialect.name in ("postgresql", "sqlite")
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def worker_id(self) -> str:
        return self.sender.worker_id

    def start(self) -> None:
        # Daemon threads: a stop that times out must not keep the process alive.
        self._threads.append(threading.Thread(target=self.sender.run, args=(self._stop,), name="outbox-sender",
                                              daemon=True))
        if self.listening:
            watcher = listen if self.engine.dialect.name == "postgresql" else watch_sqlite
            self._threads.append(threading.Thread(target=watcher, args=(self.engine, self.sender.wake, self._stop),
                                                  name="outbox-listener", daemon=True))
        for thread in self._threads:
            thread.start()

    def wake(self) -> None:
        self.sender.wake()

    def stop(self, timeout: float = 30.0) -> bool:
        """Finish the message in hand, give the rest back, and stop. True if it did in time."""
        self._stop.set()
        self.sender.wake()
        for thread in self._threads:
            thread.join(timeout)
        return not any(thread.is_alive() for thread in self._threads)

    def progress(self) -> str:
        """What waits, and which channels are failing: the end of a progress line."""
        now = self.sender.clock()
        with self.sessions() as session:
            reports = channel_health.report(session, now)
        return describe_health(reports, now)


def describe_health(reports: list[channel_health.ChannelReport], now: datetime) -> str:
    """"12 waiting" and, for each failing channel, since when, how often and why."""
    line = f"{sum(r.queued for r in reports)} waiting"
    for r in reports:
        if r.failing_since is not None:
            line += (f"; {r.channel} FAILING for {(now - r.failing_since).total_seconds():.0f} s"
                     f" ({r.consecutive_failures} failures in a row, {r.queued} waiting"
                     + (f", oldest {r.oldest_waiting_seconds} s" if r.oldest_waiting_seconds is not None else "")
                     + f"; last error: {r.last_error})")
    return line


def for_runtime(rt: Runtime, *, poll_seconds: float) -> SenderService:
    """A sender for every channel with an adapter, at the configured rates."""
    adapters = providers.build_adapters(rt.settings, rt.sessions, rt.clock)
    return SenderService(rt.engine, rt.sessions, adapters, limits(rt.settings), poll_seconds=poll_seconds)


def wake_both(*wakers: Callable[[], None]) -> Callable[[], None]:
    def wake() -> None:
        for waker in wakers:
            waker()

    return wake
