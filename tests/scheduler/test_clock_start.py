"""The clock catches up when it starts: a clock that was down at ``run_at`` runs the daily
jobs at once (the real APScheduler, the program's clock injected), not a day late."""
from __future__ import annotations

import time
from datetime import date

from support import T0

from scheduler.clock import Clock


def test_a_clock_started_after_run_at_runs_the_daily_jobs_at_once(world) -> None:  # type: ignore[no-untyped-def]
    member = world.join(T0, birthday=date(1990, T0.month, T0.day))
    now = T0.replace(hour=20)  # 15:00 in New York: long after the 09:00 run, the same day
    said: list[str] = []
    clock = Clock(world.sessions, world.program_id, world.config.timezone, (9, 0), ["terminal"],
                  clock=lambda: now, report=said.append)
    clock.start()
    try:
        deadline = time.monotonic() + 10
        while not any(line.startswith("job daily finished") for line in said):
            assert time.monotonic() < deadline, f"the daily jobs did not run at start: {said}"
            time.sleep(0.02)
    finally:
        clock.stop()
    assert len(world.messages(f"birthday:{member}:")) == 1
