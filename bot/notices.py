"""Messages a member gets because something happened (points earned at the till, a tier
change, a referral paying out), rendered in the member's language."""
from __future__ import annotations

from sqlalchemy.orm import Session

from bot.i18n import Translator, translator
from bot.messages import Reply
from rewards.events import (
    Birthday,
    Event,
    PointsAdjusted,
    PointsEarned,
    PointsExpired,
    PointsExpiring,
    PointsReversed,
    ReferralQualified,
    ReferralReversed,
    SurveyQuestion,
    TierChanged,
    WinBack,
)
from rewards.models import Member


def text(event: Event, t: Translator) -> str:
    n = t.format_number
    if isinstance(event, PointsEarned):
        return t.gettext("+{points} points. Balance: {balance}.", points=n(event.points), balance=n(event.balance))
    if isinstance(event, PointsAdjusted):
        if event.points > 0:
            return t.gettext("+{points} points. Balance: {balance}.", points=n(event.points), balance=n(event.balance))
        return t.gettext("The shop took {points} points off your balance. Balance: {balance}.",
                         points=n(-event.points), balance=n(event.balance))
    if isinstance(event, PointsReversed):
        return t.gettext(
            "Refund of receipt {receipt}: -{points} points. Balance: {balance}.",
            receipt=event.receipt_id, points=n(event.points), balance=n(event.balance),
        )
    if isinstance(event, TierChanged):
        if event.upgraded:
            return t.gettext("Congratulations, you reached {tier}!", tier=event.new_tier)
        return t.gettext("Your tier is now {tier}.", tier=event.new_tier)
    if isinstance(event, ReferralQualified):
        if event.friend_side:
            return t.gettext("Welcome gift from your friend's invite: {points} points.", points=n(event.points))
        return t.gettext("Your friend made their first purchase: you earned {points} points.", points=n(event.points))
    if isinstance(event, ReferralReversed):
        if event.friend_side:
            return t.gettext("Your first purchase was refunded, so the {points} points from your friend's invite were"
                             " taken back. Balance: {balance}.", points=n(event.points), balance=n(event.balance))
        return t.gettext("Your friend's first purchase was refunded, so the {points} points for inviting them were"
                         " taken back. Balance: {balance}.", points=n(event.points), balance=n(event.balance))
    return _automation_text(event, t)


def _automation_text(event: Event, t: Translator) -> str:
    """What the clock's jobs tell members (scheduler/jobs.py)."""
    n = t.format_number
    if isinstance(event, PointsExpired):
        return t.gettext("{points} points expired. Balance: {balance}.", points=n(event.points), balance=n(event.balance))
    if isinstance(event, PointsExpiring):
        return t.gettext("{points} of your points expire in the next {days} days, starting {date}. Say REWARDS to use them.",
                         points=n(event.points), days=n(event.within_days),
                         date=t.format_date(event.expires_on, format="d MMMM"))
    if isinstance(event, Birthday):
        if event.points:
            return t.gettext("Happy birthday! Here are {points} points from us. Balance: {balance}.",
                             points=n(event.points), balance=n(event.balance))
        return t.gettext("Happy birthday from all of us!")
    if isinstance(event, WinBack):
        return t.gettext("We miss you! It has been {days} days since your last visit. Come and see us soon.",
                         days=n(event.days))
    if isinstance(event, SurveyQuestion):
        return t.gettext("Thanks for your visit! How likely are you to recommend us to a friend? Reply 0-10.")
    raise TypeError(f"no message for {event!r}")


def render(event: Event, t: Translator, kind: str = "notice") -> Reply:
    return Reply(text(event, t), kind=kind)


def for_events(session: Session, events: list[Event]) -> list[tuple[Member, Reply]]:
    """Each message to send, with the member it is for (a referral also tells the referrer),
    in that member's language. A referral's points are told once, by ReferralQualified."""
    out: list[tuple[Member, Reply]] = []
    for event in events:
        if isinstance(event, PointsEarned) and event.reason == "referral":
            continue
        member = session.get(Member, event.member_id)
        if member is not None and member.deleted_at is None:
            out.append((member, render(event, translator(member.language))))
    return out
