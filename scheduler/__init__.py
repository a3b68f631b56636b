"""The clock: APScheduler jobs that decide what to send and when (campaign fan-out, points
expiry and reminders, expired codes, birthdays, win-back, tier review, the survey).

Jobs only write rows (ledger entries, outbox messages) and are idempotent, so a job run
twice, or by two clocks at once, does no harm. ``jobs`` holds plain functions that take a
session factory and ``now`` (tests call them directly); ``clock`` puts them on a schedule.
May import channels, bot and rewards; never web.
"""
