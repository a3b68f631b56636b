"""The outbox sender: the one place that hands messages to providers.

It claims a batch of outbox rows (rewards/outbox.py), sends each through the adapter for the
row's channel, within a token bucket per channel and per chat, and records each result in a
short transaction of its own. Nothing is held open while a provider is called. A sender that
dies leaves its claimed rows to come back when their lease runs out; only the one being
sent at that moment can go out twice.

An adapter is anything with ``send(address, reply) -> provider message id``; it may raise
``RetryAfter`` (the provider said slow down: the channel pauses and the row waits, no
attempt counted), ``PermanentFailure`` (this message can never go: failed with the reason)
or ``Skipped`` (not to be sent, on purpose). Any other exception is a transient failure
(5xx, network): the message is tried again after a backoff (``Backoff``: doubling, with
jitter, to a ceiling of a minute, so what waited through an outage leaves within about a
minute of the provider's recovery). Before each claim, whatever is too old to be useful
(``outbox.STALE_AFTER``) is skipped as stale instead, whether it waited through failures or
for a sender to run at all. Transient failures, and the first success after them, are noted per
channel (rewards/channel_health.py) for operators.
"""
from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.orm import Session, sessionmaker

from bot.messages import Reply
from bot.outbox_payload import from_payload
from channels.outage import Outage
from channels.ratelimit import TokenBucket
from rewards import channel_health, members, outbox

log = logging.getLogger(__name__)


class Adapter(Protocol):
    def send(self, address: str, reply: Reply) -> str: ...


class RetryAfter(Exception):  # noqa: N818 - the provider's own words (HTTP 429 Retry-After)
    def __init__(self, seconds: float) -> None:
        super().__init__(f"retry after {seconds} s")
        self.seconds = float(seconds)


class PermanentFailure(Exception):  # noqa: N818 - reads as what happened to the message
    """This message can never go. ``unreachable`` (the default) says the address is dead too
    (bot blocked, number invalid); False when only this message was refused (too long, a bad
    button), which must not silence the customer's later messages."""

    def __init__(self, reason: str, unreachable: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.unreachable = unreachable


class Skipped(Exception):  # noqa: N818 - reads as what happened to the message
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Limits:
    """A channel's allowed pace: ``rate`` messages a second overall (``burst`` at once) and
    ``per_chat_rate`` to any one address, as the provider counts them; ``per_chat_burst``
    of them may go to one address at once (each bucket is separate, so a chat's burst still
    waits for the overall bucket: no second ever holds more than ``rate``).

    The provider counts arrivals, and the time a request takes to arrive varies: two sends
    paced exactly 1/rate apart can land closer. So the sender paces a ``headroom`` share
    below each rate (1.5%: about 15 ms of room across a one-second window) and with
    ``burst=1`` no second at the provider holds more than ``rate`` messages. A tenth of that
    room is for the sender's own lateness (``slack``): a thread wakes a little after the time
    it asked for (0.3 ms on average on the 2-core bench machine), which without the slack
    pushed every later message back. Measured there (bench/sender.py, 30/s): 1% of headroom
    and no slack reached 96.9-98.4% of the limit; 1% with slack 98.9-99.0%, but a window
    held 31 in some runs (a send 9-10 ms late beside one on time); 1.5% with slack,
    98.3-98.5% and never above 30."""

    rate: float
    burst: int = 1
    per_chat_rate: float | None = None
    per_chat_burst: int = 1
    headroom: float = 0.015

    def paced(self, rate: float) -> float:
        return rate * (1.0 - self.headroom)

    @property
    def slack(self) -> float:
        """Seconds of lateness a bucket forgives: a tenth of the room the headroom leaves in
        a one-second window (1.5 ms at 1.5%)."""
        return self.headroom / (1.0 - self.headroom) / 10


@dataclass(frozen=True, slots=True)
class Backoff:
    """How long a message waits after its ``n``-th transient failure in a row: ``first``
    seconds, doubling each time up to ``ceiling``, less a random share of up to ``jitter``
    so that messages that failed together do not all come back at the same moment. The
    ceiling bounds how long after a provider's recovery a waiting message is tried again."""

    first: float = 5.0
    ceiling: float = 60.0
    jitter: float = 0.5

    def delay(self, failures: int, draw: float) -> float:
        """Seconds to wait after ``failures`` (1 or more) failures; ``draw`` is in [0, 1)."""
        full = min(self.ceiling, self.first * 2.0 ** min(max(failures - 1, 0), 32))
        return full * (1.0 - self.jitter * draw)


@dataclass(frozen=True, slots=True)
class _Job:
    id: int
    program_id: int
    channel: str
    address: str
    kind: str
    payload: dict[str, Any]
    attempts: int


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Sender:
    # Idle chat buckets are forgotten past this many, so a campaign does not keep a bucket
    # per recipient for ever.
    MAX_CHAT_BUCKETS = 10_000

    def __init__(
        self,
        sessions: sessionmaker[Session],
        adapters: Mapping[str, Adapter],
        *,
        limits: Mapping[str, Limits] | None = None,
        worker_id: str | None = None,
        batch_size: int = 20,
        lease_seconds: float = 120.0,
        poll_seconds: float = 1.0,
        backoff: Backoff = Backoff(),
        draw: Callable[[], float] = random.random,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] | None = None,
    ) -> None:
        self.sessions = sessions
        self.adapters = dict(adapters)
        self.limits = dict(limits or {})
        self.worker_id = worker_id or default_worker_id()
        self.batch_size = batch_size
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.backoff = backoff
        self._draw = draw
        self._clock = clock
        self._monotonic = monotonic
        self._stop = threading.Event()
        self._sleep_fn = sleep
        self._wake = threading.Event()
        self._paused_until: dict[str, float] = {}
        self._channel_buckets: dict[str, TokenBucket] = {}
        self._chat_buckets: dict[tuple[str, str], TokenBucket] = {}
        # Channels whose health record may say "failing": cleared by their next success.
        # All of them at start, since another sender (or this one before a restart) may
        # have noted a failure.
        self._maybe_failing: set[str] = set(self.adapters)
        self._outage = Outage(log, f"outbox sender {self.worker_id}", monotonic)

    def clock(self) -> datetime:
        """The sender's idea of now (injected in tests)."""
        return self._clock()

    # -- running ----------------------------------------------------------------------------

    def wake(self) -> None:
        """Something was queued: look now instead of at the next poll."""
        self._wake.set()

    def run(self, stop_event: threading.Event) -> None:
        """Send until ``stop_event`` is set (then finish the message in hand, give the rest
        of the batch back, and return)."""
        self._stop = stop_event
        while not stop_event.is_set():
            self._wake.clear()
            if not self.attempt():
                self._idle(stop_event)

    def attempt(self) -> int:
        """``run_once``, going on through failures (the database away for a while): the first
        of a run of them is logged, one line, and the first success after them; 0 meanwhile."""
        try:
            handled = self.run_once()
        except Exception as error:  # noqa: BLE001 - whatever it was, the next attempt may work
            self._outage.failed(error, "claim or record a batch", f"trying again every {self.poll_seconds:g} s")
            return 0
        self._outage.recovered()
        return handled

    def _idle(self, stop_event: threading.Event) -> None:
        timeout = self.poll_seconds
        if self._paused_until:
            timeout = min(timeout, max(0.0, min(self._paused_until.values()) - self._monotonic()))
        deadline = time.monotonic() + timeout
        while not stop_event.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._wake.wait(min(remaining, 0.1)):
                return

    def run_once(self) -> int:
        """Claim one batch and deliver it. Returns how many rows were dealt with."""
        channels = [channel for channel in self.adapters if self._pause_left(channel) <= 0]
        if not channels:
            return 0
        with self.sessions.begin() as session:
            now = self._clock()
            stale = outbox.skip_stale(session, now, channels)
            rows = outbox.claim(session, self.worker_id, now, self.batch_size, self.lease_seconds, channels)
            jobs = [_Job(r.id, r.program_id, r.channel, r.address, r.kind, dict(r.payload), r.attempts) for r in rows]
        if stale:
            log.warning("outbox sender %s: %d message(s) too old to send, skipped as stale", self.worker_id, stale)
        pending = list(jobs)
        while pending:
            if self._stop.is_set():
                for job in pending:
                    self._record(outbox.release, job.id, self.worker_id, self._clock())
                break
            waits: list[float] = []
            for job in list(pending):
                paused = self._pause_left(job.channel)
                if paused > 0:
                    self._record(outbox.release, job.id, self.worker_id, self._clock() + timedelta(seconds=paused))
                    pending.remove(job)
                    continue
                buckets = self._buckets(job)
                wait = max((bucket.wait_time() for bucket in buckets), default=0.0)
                if wait > 0:
                    waits.append(wait)
                    continue
                for bucket in buckets:
                    bucket.take()
                self._deliver(job)
                pending.remove(job)
                if self._stop.is_set():
                    break
            else:
                if pending:  # every one left is waiting for a token
                    self._sleep(min(waits))
        return stale + len(jobs)

    def _sleep(self, seconds: float) -> None:
        if self._sleep_fn is not None:
            self._sleep_fn(seconds)
        else:
            self._stop.wait(seconds)

    # -- one message --------------------------------------------------------------------------

    def _deliver(self, job: _Job) -> None:
        adapter = self.adapters[job.channel]
        try:
            reply = from_payload(job.payload, job.kind)
        except (KeyError, TypeError, ValueError) as error:
            self._record(outbox.mark_failed, job.id, self.worker_id, f"bad payload: {error!r}", self._clock())
            return
        try:
            provider_id = adapter.send(job.address, reply)
        except RetryAfter as error:
            self._paused_until[job.channel] = self._monotonic() + error.seconds
            log.warning("channel %s asked to wait %.1f s", job.channel, error.seconds)
            self._record(outbox.release, job.id, self.worker_id, self._clock() + timedelta(seconds=error.seconds))
        except PermanentFailure as error:
            now = self._clock()
            with self.sessions.begin() as session:
                if outbox.mark_failed(session, job.id, self.worker_id, error.reason, now) and error.unreachable:
                    # Never again to this address (bot blocked, number invalid) until they write.
                    members.mark_unreachable(session, job.program_id, job.channel, job.address, error.reason, now)
                    outbox.skip_queued(session, job.program_id, job.channel, job.address, f"unreachable: {error.reason}")
        except Skipped as error:
            self._record(outbox.mark_skipped, job.id, self.worker_id, error.reason, self._clock())
        except Exception as error:  # noqa: BLE001 - a provider's transient trouble: retried
            self._transient(job, repr(error))
        else:
            now = self._clock()
            with self.sessions.begin() as session:
                if not outbox.mark_sent(session, job.id, self.worker_id, provider_id, now):
                    log.warning("outbox %s: lease lost before mark_sent; another sender has it", job.id)
                if job.channel in self._maybe_failing:
                    if channel_health.note_recovery(session, job.channel, now):
                        log.warning("channel %s: sending again", job.channel)
            self._maybe_failing.discard(job.channel)

    def _transient(self, job: _Job, error: str) -> None:
        """Try again after a backoff (the claim skips it as stale if it has grown too old by then)."""
        now = self._clock()
        self._maybe_failing.add(job.channel)
        with self.sessions.begin() as session:
            channel_health.note_failure(session, job.channel, error, now)
            wait = self.backoff.delay(job.attempts + 1, self._draw())
            log.warning("outbox %s via %s failed (%s); trying again in %.0f s", job.id, job.channel, error, wait)
            done = outbox.mark_failed(session, job.id, self.worker_id, error, now, now + timedelta(seconds=wait))
            if not done:
                log.warning("outbox %s: lease lost before its failure was noted; another sender has it", job.id)

    def _record(self, change: Callable[..., bool], *args: Any) -> None:
        with self.sessions.begin() as session:
            if not change(session, *args):
                log.warning("outbox %s: lease lost before %s; another sender has it", args[0], change.__name__)

    # -- pace -----------------------------------------------------------------------------------

    def _pause_left(self, channel: str) -> float:
        until = self._paused_until.get(channel)
        if until is None:
            return 0.0
        left = until - self._monotonic()
        if left <= 0:
            del self._paused_until[channel]
            return 0.0
        return left

    def _buckets(self, job: _Job) -> list[TokenBucket]:
        limits = self.limits.get(job.channel)
        if limits is None:
            return []
        channel_bucket = self._channel_buckets.get(job.channel)
        if channel_bucket is None:
            channel_bucket = TokenBucket(limits.paced(limits.rate), limits.burst, self._monotonic, limits.slack)
            self._channel_buckets[job.channel] = channel_bucket
        buckets = [channel_bucket]
        if limits.per_chat_rate:
            key = (job.channel, job.address)
            bucket = self._chat_buckets.get(key)
            if bucket is None:
                if len(self._chat_buckets) >= self.MAX_CHAT_BUCKETS:
                    self._chat_buckets = {k: b for k, b in self._chat_buckets.items() if not b.idle()}
                bucket = TokenBucket(limits.paced(limits.per_chat_rate), limits.per_chat_burst, self._monotonic,
                                     limits.slack)
                self._chat_buckets[key] = bucket
            buckets.append(bucket)
        return buckets
