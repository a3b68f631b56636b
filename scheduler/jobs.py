"""The clock's jobs as plain functions: ``run_<job>(sessions, program_id, now, channels)``.

Each reads members a chunk at a time (keyset on id, never every member at once), commits
each chunk in a short transaction of its own, and is idempotent: the ledger's idempotency
keys and the outbox's dedupe keys make a second run (the same day, or by a second clock at
the same moment) pay and queue nothing twice. Each returns a ``JobResult`` for the progress
line. The rules come from the program file's ``[automations]`` table (rewards/program/config_automations.py).
"""
from __future__ import annotations

import calendar
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, extract, or_, select
from sqlalchemy.orm import Session, sessionmaker

from rewards import earning, erasure, ledger, members, redemption, surveys, tiers
from rewards.errors import Inconsistent
from rewards.events import Birthday, PointsExpired, PointsExpiring, SurveyQuestion, WinBack
from rewards.metrics import summaries
from rewards.models import Member, Program
from rewards.program.config import ProgramConfig
from rewards.program.programs import config_of
from scheduler import campaigns
from scheduler.notices import deliver_at, sent_keys, tell

CHUNK = 500  # members per transaction: short enough that a webhook never waits long for SQLite's lock


@dataclass
class JobResult:
    job: str
    looked_at: int = 0  # members (or purchases, codes) examined
    changed: int = 0  # what the job did: points expired, bonuses paid, tiers moved, questions asked...
    points: int = 0  # points moved, where the job moves points
    queued: int = 0  # messages written to the outbox
    off: str | None = None  # why the job did nothing: switched off in the program file
    problems: list[str] = field(default_factory=list)  # one line each, for the operator: what failed and why

    def line(self) -> str:
        if self.off:
            return f"{self.job}: off ({self.off})"
        points = f", {self.points:,} points" if self.points else ""
        return f"{self.job}: {self.looked_at:,} looked at, {self.changed:,} done{points}, {self.queued:,} messages queued"


def _config(sessions: sessionmaker[Session], program_id: int) -> ProgramConfig:
    with sessions() as session:
        program = session.get(Program, program_id)
        if program is None:
            raise Inconsistent(f"no program {program_id}")
        return config_of(program)


def _chunks(sessions: sessionmaker[Session], step: Callable[[Session, int], int | None]) -> None:
    """Call ``step(session, after_id)`` in a transaction each until it returns None; it
    returns the last id it looked at, where the next chunk starts."""
    after: int | None = 0
    while after is not None:
        with sessions.begin() as session:
            after = step(session, after)


# --- points -------------------------------------------------------------------------


def run_points_expiry(sessions: sessionmaker[Session], program_id: int, now: datetime, channels: Collection[str],
                      chunk: int = CHUNK) -> JobResult:
    """Expire points earned more than ``[expiry] after_days`` ago, oldest first, and tell
    each member "N points expired" (one message per expiry, keyed like its ledger entry)."""
    result, config = JobResult("points expiry"), _config(sessions, program_id)
    if not config.automations.points_expiry or config.expiry.after_days <= 0:
        result.off = "[automations] points_expiry" if config.expiry.after_days > 0 else "[expiry] after_days = 0"
        return result
    cutoff = now - timedelta(days=config.expiry.after_days)

    def step(session: Session, after: int) -> int | None:
        ids = ledger.expirable_members(session, program_id, cutoff, after, chunk)
        for member_id in ids:
            result.looked_at += 1
            expired = ledger.expire_member(session, member_id, cutoff, now)
            if expired is None:
                continue
            member = session.get(Member, member_id)
            if member is None:
                raise Inconsistent("member is missing")
            result.changed, result.points = result.changed + 1, result.points + expired.points
            event = PointsExpired(member_id, expired.points, member.balance)
            if tell(session, config, member, event, f"expired:{member_id}:{cutoff:%Y%m%dT%H%M%S}", now, channels):
                result.queued += 1
        return ids[-1] if len(ids) == chunk else None

    _chunks(sessions, step)
    return result


def run_expiry_reminders(sessions: sessionmaker[Session], program_id: int, now: datetime, channels: Collection[str],
                         chunk: int = CHUNK) -> JobResult:
    """Members with points that expire within ``[expiry] remind_days_before`` days are told
    how many and from when; once per member and expiry date (the date of their oldest
    unspent points), so the next batch of points to expire gets a reminder of its own."""
    result, config = JobResult("expiry reminders"), _config(sessions, program_id)
    days, after_days = config.expiry.remind_days_before, config.expiry.after_days
    if not config.automations.points_expiry or after_days <= 0 or days <= 0:
        result.off = "[automations] points_expiry" if after_days > 0 and days > 0 else "[expiry] days = 0"
        return result
    horizon = now + timedelta(days=days) - timedelta(days=after_days)  # earned by then: expired in `days` days
    zone = ZoneInfo(config.timezone)

    def step(session: Session, after: int) -> int | None:
        ids = ledger.expirable_members(session, program_id, horizon, after, chunk)
        for member_id in ids:
            result.looked_at += 1
            lot = ledger.oldest_open_lot(session, member_id, horizon)
            member = session.get(Member, member_id)
            if lot is None or member is None:
                continue
            expires_on = (lot + timedelta(days=after_days)).astimezone(zone).date()
            points = min(ledger.expirable(session, member_id, horizon), member.balance)
            key = f"expiry-reminder:{member_id}:{expires_on:%Y-%m-%d}"
            event = PointsExpiring(member_id, points, expires_on, days)
            if points > 0 and tell(session, config, member, event, key, now, channels):
                result.changed += 1
                result.queued += 1
        return ids[-1] if len(ids) == chunk else None

    _chunks(sessions, step)
    return result


def run_code_expiry(sessions: sessionmaker[Session], program_id: int, now: datetime, channels: Collection[str],
                    chunk: int = CHUNK) -> JobResult:
    """Unused codes past their date expire and give their points back (always on: a code
    past its date cannot be used anyway, and the points belong to the member)."""
    result = JobResult("expired codes")
    while True:
        with sessions.begin() as session:
            codes = redemption.expire_codes(session, program_id, now, limit=chunk)
            result.looked_at += len(codes)
            result.changed += len(codes)
            result.points += sum(code.cost for code in codes)
        if len(codes) < chunk:
            return result


# --- members ------------------------------------------------------------------------


def _birthday_today(today: date):  # type: ignore[no-untyped-def]
    same_day = and_(extract("month", Member.birthday) == today.month, extract("day", Member.birthday) == today.day)
    if (today.month, today.day) == (2, 28) and not calendar.isleap(today.year):
        return or_(same_day, and_(extract("month", Member.birthday) == 2, extract("day", Member.birthday) == 29))
    return same_day


def run_birthdays(sessions: sessionmaker[Session], program_id: int, now: datetime, channels: Collection[str],
                  chunk: int = CHUNK) -> JobResult:
    """On a member's birthday in the program's time zone: ``[earning] birthday_bonus`` (once a
    year, keyed ``birthday:<member>:<year>``) and a greeting (keyed the same way)."""
    result, config = JobResult("birthdays"), _config(sessions, program_id)
    if not config.automations.birthday:
        result.off = "[automations] birthday"
        return result
    today = now.astimezone(ZoneInfo(config.timezone)).date()

    def step(session: Session, after: int) -> int | None:
        chunk_members = list(session.scalars(
            select(Member).where(Member.program_id == program_id, Member.id > after, Member.deleted_at.is_(None),
                                 Member.birthday.is_not(None), _birthday_today(today))
            .order_by(Member.id).limit(chunk)
        ))
        keys = {m.id: f"birthday:{m.id}:{today.year}" for m in chunk_members}
        told = sent_keys(session, program_id, keys.values())
        for member in chunk_members:
            result.looked_at += 1
            bonus = earning.birthday_bonus(session, config, member, now)
            if bonus is not None:
                result.changed, result.points = result.changed + 1, result.points + bonus.points
            elif config.earning.birthday_bonus:
                continue  # paid by an earlier run, which also said so
            if keys[member.id] not in told and tell(
                session, config, member, Birthday(member.id, bonus.points if bonus else 0, member.balance),
                keys[member.id], now, channels,
            ):
                result.queued += 1
        return chunk_members[-1].id if len(chunk_members) == chunk else None

    _chunks(sessions, step)
    return result


def run_win_back(sessions: sessionmaker[Session], program_id: int, now: datetime, channels: Collection[str],
                 chunk: int = CHUNK) -> JobResult:
    """Members with no purchase or chat for ``[automations] win_back_days`` get one "we miss
    you" per spell of inactivity (keyed on their last activity, so coming back and going
    quiet again starts a new spell). A promotion: members who said no to them are left out."""
    result, config = JobResult("win-back"), _config(sessions, program_id)
    days = config.automations.win_back_days
    if days <= 0:
        result.off = "[automations] win_back_days = 0"
        return result

    def step(session: Session, after: int) -> int | None:
        chunk_members = list(session.scalars(
            select(Member).where(Member.program_id == program_id, Member.id > after, Member.deleted_at.is_(None),
                                 Member.marketing_consent.is_(True), Member.last_activity_at <= now - timedelta(days=days))
            .order_by(Member.id).limit(chunk)
        ))
        keys = {m.id: f"win-back:{m.id}:{m.last_activity_at:%Y%m%dT%H%M%S}" for m in chunk_members}
        told = sent_keys(session, program_id, keys.values())
        for member in chunk_members:
            result.looked_at += 1
            if keys[member.id] in told:
                continue
            event = WinBack(member.id, (now - member.last_activity_at).days)
            if tell(session, config, member, event, keys[member.id], now, channels, promotional=True):
                result.changed += 1
                result.queued += 1
        return chunk_members[-1].id if len(chunk_members) == chunk else None

    _chunks(sessions, step)
    return result


def run_tier_review(sessions: sessionmaker[Session], program_id: int, now: datetime, channels: Collection[str],
                    chunk: int = CHUNK) -> JobResult:
    """Tiers count points earned in a rolling window, so a member can fall below their tier
    without doing anything: move them, and tell them (congratulations when up)."""
    result, config = JobResult("tier review"), _config(sessions, program_id)
    if not config.automations.tier_review:
        result.off = "[automations] tier_review"
        return result
    window, today = config.tier_rules.window_days, now.astimezone(ZoneInfo(config.timezone)).date()

    def step(session: Session, after: int) -> int | None:
        changes, looked_at = tiers.review(session, program_id, now, window, after, chunk)
        result.looked_at += len(looked_at)
        for change in changes:
            member = session.get(Member, change.member_id)
            if member is None:
                raise Inconsistent("member is missing")
            result.changed += 1
            if tell(session, config, member, change, f"tier:{member.id}:{change.new_tier}:{today:%Y-%m-%d}", now, channels):
                result.queued += 1
        return looked_at[-1] if len(looked_at) == chunk else None

    _chunks(sessions, step)
    return result


def run_surveys(sessions: sessionmaker[Session], program_id: int, now: datetime, channels: Collection[str],
                chunk: int = CHUNK) -> JobResult:
    """``[automations] survey_after_hours`` after a purchase, ask the 0-10 question (once per
    purchase, at most once per member per ``survey_every_days``) and open the question on
    the member's chat so a bare number answers it (bot/survey.py)."""
    result, config = JobResult("survey"), _config(sessions, program_id)
    rules = config.automations
    if rules.survey_after_hours <= 0:
        result.off = "[automations] survey_after_hours = 0"
        return result

    def step(session: Session, after: int) -> int | None:
        due = surveys.due_purchases(session, program_id, now, rules.survey_after_hours, rules.survey_every_days, after, chunk)
        for purchase in due:
            result.looked_at += 1
            member = session.get(Member, purchase.member_id)
            if member is None:
                raise Inconsistent("member is missing")
            identity = members.notice_identity(session, member, channels)
            # A conversation in progress there (a redeem to confirm, say): ask on a later run.
            if identity is None or (identity.flow is not None and identity.flow_expires_at and identity.flow_expires_at > now):
                continue
            survey = surveys.ask(session, member, purchase, identity.channel, now, rules.survey_every_days)
            if survey is None:
                continue
            tell_to = tell(session, config, member, SurveyQuestion(member.id), f"survey:{survey.id}", now, [identity.channel])
            result.changed += 1
            if tell_to is not None:
                result.queued += 1
                tell_to.flow, tell_to.flow_data, tell_to.menu = "survey", {"survey": survey.id}, None
                tell_to.flow_expires_at = deliver_at(config, member, now) + surveys.ANSWER_WINDOW
        return due[-1].id if len(due) == chunk else None

    _chunks(sessions, step)
    return result


# --- campaigns ------------------------------------------------------------------------


def run_campaigns(sessions: sessionmaker[Session], program_id: int, now: datetime, channels: Collection[str]) -> JobResult:
    """Fan out every campaign due now (scheduler/campaigns.py): a run twice sends nothing twice.
    A campaign that fails is marked so (it is not due again: said once) and the rest go out."""
    result = JobResult("campaigns")
    for totals in campaigns.send_due(sessions, lambda: now, channels, program_id):
        said = f'campaign {totals.campaign_id} "{totals.name}"'
        if totals.failed:
            result.problems.append(f"{said} failed and will not run again: {totals.failed}")
            continue
        if totals.retry:
            result.problems.append(f"{said} waits for the next run (database error): {totals.retry}")
            continue
        result.changed += 1
        result.looked_at += totals.looked_at
        result.queued += totals.queued
    return result


# --- metrics --------------------------------------------------------------------------


def run_metrics(sessions: sessionmaker[Session], program_id: int, now: datetime, channels: Collection[str]) -> JobResult:
    """Sum up the days that ended, today so far, the windows today's periods read and the
    cohort table (rewards/metrics/summaries.py), so the dashboard, ``loyalty metrics``, the
    API and ``/stats`` read a row a day. Idempotent."""
    config = _config(sessions, program_id)
    filled = summaries.fill(sessions, program_id, ZoneInfo(config.timezone), now)
    # Today's row and windows are made again at every run: the report counts the days that
    # ended and were summed up (once a day, or many after an upgrade), not each refresh.
    return JobResult("metrics", looked_at=filled.total, changed=filled.closed)


# --- privacy --------------------------------------------------------------------------


def run_privacy(sessions: sessionmaker[Session], program_id: int, now: datetime, channels: Collection[str]) -> JobResult:
    """Erase what is kept no longer (rewards/erasure.py): ephemeral messages (a data export,
    the deletion's confirmation) once sent; delivery records, wrong-code records, the
    address and text of sent messages, strangers' identities, old flows' data and untaken
    invites' addresses after ``[privacy] message_retention_days``. In
    batches, each its own transaction; a second run finds nothing left to do."""
    result, config = JobResult("privacy"), _config(sessions, program_id)
    while True:
        with sessions.begin() as session:
            erased = erasure.erase_ephemeral(session, program_id)
        result.changed += erased
        if erased < erasure.BATCH:
            break
    while True:
        with sessions.begin() as session:
            pruned = erasure.prune(session, program_id, now, config.privacy.message_retention_days)
        result.changed += pruned.total
        if pruned.most < erasure.BATCH:
            return result


DAILY: tuple[Callable[..., JobResult], ...] = (
    # expiry before its reminders, so a reminder never counts points expired this morning
    run_code_expiry, run_points_expiry, run_expiry_reminders, run_tier_review, run_birthdays, run_win_back,
)
