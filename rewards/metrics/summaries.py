"""The clock's summaries of the figures, and how the figures read them.

- ``metric_days``: one row for each local day from the program's first to today so far
  (made again each run), with that day's additive figures (``events.DayTotals``). A
  period sums its days' rows, and reads from the events what happened since a row was made.
- ``metric_cohorts``: the monthly cohort table of the six complete months before today
  (``cohorts.py``), read again from the purchases when one of them was refunded since.
- ``metric_windows``: the figures that count members (purchasers, repeat purchasers,
  retention, active members, referrers), for the windows today's periods of 1, 7, 30 and
  90 days need: "the last N days" so far (made again each run) and the N days before
  them. The reader looks up, member by member, those who did something since.

Exact, not estimated: a summary made at ``cutoff`` counted what happened before then (a
message day by when it began, ``member_days.first_at``) and a purchase as kept unless it
was refunded before then, and the reader takes out, day by day and member by member, the
purchases refunded since (read from the refunds' time index; a handful). A day is summed
up only ``MARGIN`` after it ended, so no event of it is still being written. What is
written later with a past date (``loyalty demo --busy``) calls ``forget`` from its first
day on, and the clock sums those days up again. A test compares every figure read this
way with the same figures read from the events alone.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from rewards.metrics import cohorts, events
from rewards.metrics.events import DayTotals, Points, WindowCounts
from rewards.metrics.periods import Period, midnight
from rewards.models import Member, MetricCohorts, MetricDay, MetricWindow

MARGIN = timedelta(minutes=10)  # a day is summed up this long after it ended
WINDOW_DAYS = (1, 7, 30, 90)  # the periods kept ready: /stats's today and week, the dashboard's choices
DAYS_A_TRANSACTION = 31


# --- writing (the clock) -----------------------------------------------------------------


def forget(session: Session, program_id: int, since: date) -> None:
    """Events were written dated ``since`` or later after those days were summed up: drop
    the summaries that include them, for the clock to make again."""
    session.execute(delete(MetricDay).where(MetricDay.program_id == program_id, MetricDay.day >= since))
    session.execute(delete(MetricWindow).where(MetricWindow.program_id == program_id, MetricWindow.end >= since))
    session.execute(delete(MetricCohorts).where(MetricCohorts.program_id == program_id))


def last_closed_day(zone: ZoneInfo, now: datetime) -> date:
    """The last local day that ended at least ``MARGIN`` ago."""
    return (now - MARGIN).astimezone(zone).date() - timedelta(days=1)


def needed_windows(today: date) -> list[tuple[date, date, date]]:
    """(start, end, prev_start) of the windows today's periods of ``WINDOW_DAYS`` read:
    the last N days so far, and the N days before them."""
    out = []
    for n in WINDOW_DAYS:
        out.append((today - timedelta(days=n - 1), today, today - timedelta(days=2 * n - 1)))
        out.append((today - timedelta(days=2 * n - 1), today - timedelta(days=n), today - timedelta(days=3 * n - 1)))
    return out


@dataclass
class Filled:
    days: int = 0  # rows written: the days summed up for the first time, and today's again
    windows: int = 0
    cohorts: int = 0
    closed: int = 0  # of the days, those that had ended: what the clock's report counts

    @property
    def total(self) -> int:
        return self.days + self.windows + self.cohorts


def fill(sessions: sessionmaker[Session], program_id: int, zone: ZoneInfo, now: datetime) -> Filled:
    """Sum up the days not summed up yet (from the program's first day, a month a
    transaction), today so far, the windows today's periods read and the cohort table. Each
    is read in a transaction that does not hold SQLite's write lock, and written in a short
    one. Idempotent: a second run at the same moment writes nothing again."""
    done, cutoff = Filled(), now - MARGIN
    last, today = last_closed_day(zone, now), now.astimezone(zone).date()
    with reading(sessions) as session:
        latest = session.execute(select(MetricDay.day, MetricDay.cutoff).where(MetricDay.program_id == program_id)
                                 .order_by(MetricDay.day.desc()).limit(3)).all()
        first = session.scalar(select(func.min(Member.joined_at)).where(Member.program_id == program_id))
    if first is None:
        return done
    through = latest[0].day if latest else first.astimezone(zone).date() - timedelta(days=1)
    # Days summed up while they went on are made again; then the days no summary holds yet
    # (a month a transaction), in order, so the rows always run from the first day with no
    # gap; then today so far.
    done.days += _day_again(sessions, program_id, zone, cutoff,
                            [day for day, made in reversed(latest) if made < Period(day, day, zone).ends])
    while through < last:
        span = Period(through + timedelta(days=1), min(last, through + timedelta(days=DAYS_A_TRANSACTION)), zone)
        with reading(sessions) as session:
            totals = events.day_totals(session, program_id, span, kept_at=cutoff)
        written = _write(sessions, [_day_row(program_id, t, cutoff) for t in totals.values()])
        done.days += written
        done.closed += written
        through = span.end
    done.days += _day_again(sessions, program_id, zone, cutoff, _dates(through + timedelta(days=1), today))
    for start, end, prev_start in needed_windows(now.astimezone(zone).date()):
        window = Period(start, end, zone)
        key = (program_id, start, end, prev_start)
        with reading(sessions) as session:
            if _fresh(session.get(MetricWindow, key), window, cutoff):
                continue
            counts = events.window_counts(session, program_id, window, Period(prev_start, start - timedelta(days=1), zone),
                                          kept_at=cutoff, before=cutoff)
        row = MetricWindow(program_id=program_id, start=start, end=end, prev_start=prev_start, cutoff=cutoff,
                           **{name: getattr(counts, name) for name in WindowCounts.FIELDS})
        done.windows += _replace(sessions, row, MetricWindow, program_id=program_id, start=start, end=end,
                                 prev_start=prev_start)
    with reading(sessions) as session:
        table = cohorts.fill(session, program_id, zone.key, cutoff.astimezone(zone).date(), cutoff)
    if table is not None:
        with sessions.begin() as session:
            session.execute(delete(MetricCohorts).where(MetricCohorts.program_id == program_id,
                                                        MetricCohorts.first_month == table.first_month,
                                                        MetricCohorts.months == table.months))
            session.add(table)
        done.cohorts += 1
    return done


@contextmanager
def reading(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """A session for reading only: on SQLite a plain BEGIN, which lets writers go on
    (every other transaction takes the write lock as it starts)."""
    engine = sessions.kw.get("bind")
    with (sessions(bind=engine.execution_options(read_only=True)) if engine is not None else sessions()) as session:
        yield session
        session.rollback()


def _write(sessions: sessionmaker[Session], rows: list[MetricDay] | list[MetricWindow]) -> int:
    try:
        with sessions.begin() as session:
            session.add_all(rows)
    except IntegrityError:  # another clock wrote them first
        return 0
    return len(rows)


def _replace(sessions: sessionmaker[Session], row: MetricDay | MetricWindow, table: type[MetricDay] | type[MetricWindow],
             **key: object) -> int:
    """Write ``row`` in place of the one with its ``key``."""
    try:
        with sessions.begin() as session:
            session.execute(delete(table).where(*(getattr(table, name) == value for name, value in key.items())))
            session.add(row)
    except IntegrityError:  # another clock wrote it first
        return 0
    return 1


def _day_again(sessions: sessionmaker[Session], program_id: int, zone: ZoneInfo, cutoff: datetime,
               days: list[date]) -> int:
    """Sum up ``days`` as of ``cutoff``, each in place of the row it had."""
    written = 0
    for day in days:
        period = Period(day, day, zone)
        with reading(sessions) as session:
            if _fresh(session.get(MetricDay, (program_id, day)), period, cutoff):
                continue
            totals = events.day_totals(session, program_id, period, kept_at=cutoff, before=cutoff)
        written += _replace(sessions, _day_row(program_id, totals[day], cutoff), MetricDay, program_id=program_id, day=day)
    return written


def _fresh(kept: MetricDay | MetricWindow | None, span: Period, cutoff: datetime) -> bool:
    """Whether a summary of ``span`` is as new as one made at ``cutoff`` can be: its days
    were over when it was made, or it was made at this cutoff."""
    return kept is not None and kept.cutoff >= min(span.ends, cutoff)


def _dates(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _day_row(program_id: int, t: DayTotals, cutoff: datetime) -> MetricDay:
    p = t.points
    return MetricDay(
        program_id=program_id, day=t.day, cutoff=cutoff, new_members=t.new_members, deleted_members=t.deleted_members,
        referred=t.referred, purchases=t.purchases, sales_minor=t.sales_minor, earned=p.earned, redeemed=p.redeemed,
        returned=p.returned, refunded=p.refunded, expired=p.expired, adjusted=p.adjusted,
        nps_responses=t.nps_responses, nps_promoters=t.nps_promoters, nps_detractors=t.nps_detractors,
        rewards={str(k): v for k, v in t.rewards.items()},
    )


def _day_totals(row: MetricDay) -> DayTotals:
    return DayTotals(
        row.day, row.new_members, row.deleted_members, row.referred, row.purchases, row.sales_minor,
        Points(row.earned, row.redeemed, row.returned, row.refunded, row.expired, row.adjusted),
        row.nps_responses, row.nps_promoters, row.nps_detractors,
        {int(k): list(v) for k, v in row.rewards.items()},
    )


# --- reading (the figures) ---------------------------------------------------------------


def _runs(days: list[date]) -> list[list[date]]:
    """Consecutive days together: [1, 2, 3, 7, 8] -> [[1, 2, 3], [7, 8]]."""
    runs: list[list[date]] = []
    for day in days:
        if runs and runs[-1][-1] + timedelta(days=1) == day:
            runs[-1].append(day)
        else:
            runs.append([day])
    return runs


class Reader:
    """The figures' days and windows: from the summaries where the clock made them (with
    ``use``), else from the events."""

    def __init__(self, session: Session, program_id: int, zone: ZoneInfo, now: datetime, use: bool = True) -> None:
        self.session, self.program_id, self.zone, self.use = session, program_id, zone, use
        self.today = now.astimezone(zone).date()

    def days(self, span: Period) -> dict[date, DayTotals]:
        """Every day of ``span``: the summed-up ones from their rows, with what happened
        since a row was made and less the purchases refunded since; the rest from the events."""
        rows = []
        if self.use:
            rows = list(self.session.scalars(select(MetricDay).where(
                MetricDay.program_id == self.program_id, MetricDay.day >= span.start, MetricDay.day <= span.end)))
        out = {row.day: _day_totals(row) for row in rows}
        cutoffs = {row.day: row.cutoff for row in rows}
        through = {row.day: min(row.cutoff, Period(row.day, row.day, self.zone).ends) for row in rows}
        for row in rows:
            day = Period(row.day, row.day, self.zone)
            if through[row.day] < day.ends:  # made while the day went on
                out[row.day].add(events.day_totals(self.session, self.program_id, day, since=through[row.day])[row.day])
        for run in _runs([d for d in span.dates() if d not in out]):
            out.update(events.day_totals(self.session, self.program_id, Period(run[0], run[-1], self.zone)))
        if rows:
            first, last = min(through), max(through)
            for _member, made, refunded, amount in events.refunded_since(
                self.session, self.program_id, min(cutoffs.values()),
                midnight(first, self.zone), midnight(last + timedelta(days=1), self.zone),
            ):
                day = made.astimezone(self.zone).date()
                if day in through and made < through[day] and refunded >= cutoffs[day]:
                    out[day].purchases -= 1
                    out[day].sales_minor -= amount
        return {d: out[d] for d in span.dates()}

    def held_before(self, day: date) -> tuple[int, int]:
        """(members, points held) at the start of local ``day``: the summed-up days before
        it, and the events since the last of them was made."""
        members, points, begins = 0, 0, None
        if self.use:
            members, points = self.session.execute(select(
                func.coalesce(func.sum(MetricDay.new_members - MetricDay.deleted_members), 0),
                func.coalesce(func.sum(MetricDay.earned - MetricDay.refunded - MetricDay.redeemed + MetricDay.returned
                                       - MetricDay.expired + MetricDay.adjusted), 0),
            ).where(MetricDay.program_id == self.program_id, MetricDay.day < day)).one()
            latest = self.session.scalars(select(MetricDay).where(
                MetricDay.program_id == self.program_id, MetricDay.day < day).order_by(MetricDay.day.desc()).limit(1)).first()
            if latest is not None:
                begins = min(latest.cutoff, Period(latest.day, latest.day, self.zone).ends)
        more_members, more_points = events.held_between(self.session, self.program_id, begins, midnight(day, self.zone))
        return int(members) + more_members, int(points) + more_points

    def window(self, window: Period) -> WindowCounts:
        """The member counts of ``window``: the clock's summary of it so far, corrected
        member by member for those who did something since, or had a purchase refunded."""
        prev_start = window.start - timedelta(days=window.days)
        row, end = None, min(window.end, self.today)  # the clock keeps today's periods so far
        if self.use and end >= window.start:
            row = self.session.get(MetricWindow, (self.program_id, window.start, end, prev_start))
        if row is None:
            return events.window_counts(self.session, self.program_id, window)
        out = WindowCounts(**{name: getattr(row, name) for name in WindowCounts.FIELDS})
        through = min(row.cutoff, Period(window.start, row.end, self.zone).ends)
        changed = {member for member, _made, _refunded, _amount in events.refunded_since(
            self.session, self.program_id, row.cutoff, window.previous().begins, through)}
        if through < window.ends:
            changed |= events.members_since(self.session, self.program_id, through, window)
        then, now = events.member_shares(self.session, self.program_id, changed, window, through, row.cutoff)
        out.shift(then, -1)
        out.shift(now, +1)
        return out
