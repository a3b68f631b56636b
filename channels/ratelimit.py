"""Token buckets for the sender: one per channel, one per chat.

Kept in integer nanoseconds (the GCRA form of a token bucket: the time the next token is
due), so no rounding lets a message through early: with ``burst=1`` no window of one
second ever holds more than ``rate`` messages; with ``burst=b``, at most ``rate + b - 1``.
The clock is injectable (monotonic seconds) so tests run on a fake one.

A taker is always a little late: a thread asked to wake when a token is due wakes some
hundreds of microseconds after (measured on the 2-core bench machine: 30/s became 29.2/s).
``slack`` forgives that much: a token taken up to ``slack`` seconds after it was due keeps
the next one on the schedule, instead of pushing it back by the delay. Tokens are never
taken before their time, and at most ``slack`` after it, so a window of T seconds holds at
most the tokens of T + ``slack`` (the sender's Limits keep that under the provider's count).
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable

NS = 1_000_000_000


class TokenBucket:
    def __init__(self, rate: float, burst: int = 1, clock: Callable[[], float] = time.monotonic,
                 slack: float = 0.0) -> None:
        if rate <= 0 or burst < 1 or slack < 0:
            raise ValueError("a token bucket needs rate > 0, burst >= 1 and slack >= 0")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        # Rounded up: a hair under the rate, never over it.
        self._interval = math.ceil(NS / rate)
        self._tolerance = (burst - 1) * self._interval
        self._slack = math.floor(slack * NS)  # rounded down: never more forgiving than asked
        self._due = self._now()  # when the next token is due if the bucket were empty now

    def _now(self) -> int:
        return round(self._clock() * NS)

    def wait_time(self) -> float:
        """Seconds until ``take()`` would succeed (0.0 when it would now)."""
        return max(0, self._due - self._tolerance - self._now()) / NS

    def take(self) -> bool:
        """Spend a token if one is there; False (and nothing spent) if not."""
        now = self._now()
        if now < self._due - self._tolerance:
            return False
        self._due = max(self._due, now - self._slack) + self._interval
        return True

    def idle(self) -> bool:
        """Full again: forgetting this bucket changes nothing."""
        return self._now() >= self._due
