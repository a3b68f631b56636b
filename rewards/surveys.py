"""The satisfaction question after a purchase ("how likely are you to recommend us? 0-10")
and its answer. The clock asks (scheduler/jobs.py); the chat records the answer (bot/survey.py).

One question per purchase (UNIQUE purchase_id), at most one per member in
``[automations] survey_every_days``, decided under the member's lock so two clocks asking at
once ask once. An answer is written once (``UPDATE ... WHERE answered_at IS NULL``) and pays
``[earning] survey_bonus`` once, keyed ``survey:<id>`` in the ledger.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from rewards import earning, ledger
from rewards.errors import Inconsistent
from rewards.events import PointsEarned
from rewards.models import Member, Purchase, Survey
from rewards.program.config import ProgramConfig

# Purchases this long past their delay are not asked about any more (the clock was down,
# or the member could not be reached): a question about last week's coffee is noise.
LOOKBACK = timedelta(days=1)
# How long an asked question takes a bare number as its answer.
ANSWER_WINDOW = timedelta(hours=24)


def _asked_since(member_id: object, since: datetime):  # type: ignore[no-untyped-def]
    return exists().where(Survey.member_id == member_id, Survey.asked_at > since)


def due_purchases(session: Session, program_id: int, now: datetime, after_hours: int, every_days: int,
                  after_purchase_id: int = 0, limit: int = 500) -> list[Purchase]:
    """Purchases made ``after_hours`` ago (up to a day more), not refunded, not asked about,
    by members not asked in the last ``every_days``; in id order after ``after_purchase_id``."""
    end = now - timedelta(hours=after_hours)
    return list(session.scalars(
        select(Purchase)
        .where(
            Purchase.program_id == program_id, Purchase.id > after_purchase_id,
            Purchase.created_at > end - LOOKBACK, Purchase.created_at <= end, Purchase.refunded_at.is_(None),
            ~exists().where(Survey.purchase_id == Purchase.id),
            ~_asked_since(Purchase.member_id, now - timedelta(days=every_days)),
        )
        .order_by(Purchase.id)
        .limit(limit)
    ))


def ask(session: Session, member: Member, purchase: Purchase, channel: str, now: datetime, every_days: int) -> Survey | None:
    """Record the question about ``purchase``; None if this member was asked lately or the
    purchase was asked about already (by another clock, say)."""
    member = ledger.lock_member(session, member.id)
    if member.deleted_at is not None:
        return None
    if session.scalar(select(_asked_since(member.id, now - timedelta(days=every_days)))):
        return None
    survey = Survey(program_id=member.program_id, member_id=member.id, purchase_id=purchase.id, channel=channel,
                    asked_at=now)
    try:
        with session.begin_nested():
            session.add(survey)
    except IntegrityError:
        return None
    return survey


def answer(session: Session, config: ProgramConfig, survey_id: int, score: int,
           now: datetime) -> tuple[bool, PointsEarned | None]:
    """Store the answer once: (stored, the bonus paid). ``score`` must be 0 to 10 (the
    database refuses anything else)."""
    stored = session.execute(
        update(Survey).where(Survey.id == survey_id, Survey.answered_at.is_(None))
        .values(score=score, answered_at=now).execution_options(synchronize_session=False)
    ).rowcount == 1
    if not stored:
        return False, None
    survey = session.get(Survey, survey_id, populate_existing=True)
    if survey is None:
        raise Inconsistent("survey is missing")
    member = session.get(Member, survey.member_id)
    if member is None or member.deleted_at is not None:
        return True, None
    bonus = earning.award(session, member, "survey", config.earning.survey_bonus, f"survey:{survey_id}",
                          "survey answered", now)
    return True, bonus
