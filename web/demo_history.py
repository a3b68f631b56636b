"""A busy shop's past, for the demo (``loyalty demo --busy``): so that the console's
dashboard, members list and campaigns have something to show on a fresh machine.

Customers join over the last months on Telegram, WhatsApp, SMS or the web chat, some
invited by a friend; they come back at their own pace (some stop coming), buy, redeem
rewards when they have the points, answer the 0-10 survey and write to the bot. Everything
goes through the domain's own functions, in the order it happened, so the ledger, tiers,
referral bonuses and figures are exactly what the product would have recorded. The same
seed gives the same shop every time. No message is sent: it is the past.
"""
from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from rewards import earning, members, redemption, referrals, surveys
from rewards.errors import LoyaltyError
from rewards.metrics import summaries
from rewards.models import Member, Program, Reward
from rewards.program.config import ProgramConfig

SEED = 20261202
FIRST_NAMES = ["Alex", "Bea", "Carlos", "Dana", "Eli", "Fatima", "Gus", "Hana", "Ivan", "Jade", "Kofi", "Lena",
               "Marco", "Nia", "Omar", "Pia", "Quinn", "Rosa", "Sam", "Tara", "Uma", "Vic", "Wen", "Xavi", "Yara", "Zoe"]
CHANNELS = (("whatsapp", 45), ("telegram", 30), ("sms", 15), ("web", 10))
FIRST_PHONE = 15550006000  # +1 555 000 6000 and up: numbers the docs' examples never use


def phone_of(number: int) -> str:
    return f"+{FIRST_PHONE + number}"


@dataclass
class History:
    customers: int = 0
    purchases: int = 0
    redemptions: int = 0
    referred: int = 0
    answers: int = 0


def _at(day: datetime, rng: random.Random, zone: ZoneInfo) -> datetime:
    """A moment in opening hours (8:00 to 19:00, the shop's time) on ``day``'s date."""
    local = datetime.combine(day.astimezone(zone).date(), time(8), zone)
    return local + timedelta(minutes=rng.randrange(11 * 60))


def add_history(session: Session, program: Program, config: ProgramConfig, now: datetime, *, customers: int = 200,
                days: int = 180, progress: Callable[[int, int], None] = lambda done, total: None) -> History:
    """Add ``customers`` sample customers with ``days`` of history up to ``now``. Safe to
    run again: customers already there are left as they are."""
    rng = random.Random(SEED)
    zone = ZoneInfo(config.timezone)
    rewards_by_cost = list(session.scalars(select(Reward).where(Reward.program_id == program.id,
                                                                Reward.retired_at.is_(None)).order_by(Reward.cost)))
    history = History()
    # Every customer's own plan, drawn first (the same seed, the same shop)...
    queue: list[tuple[datetime, int, str, int]] = []  # (when, order, what, customer)
    plans: dict[int, dict[str, object]] = {}
    for number in range(customers):
        joined = _at(now - timedelta(days=days * rng.random() ** 0.7), rng, zone)
        if joined >= now:
            joined -= timedelta(days=1)
        channel = rng.choices([c for c, _ in CHANNELS], [w for _, w in CHANNELS])[0]
        plans[number] = {
            "channel": channel, "language": "es" if rng.random() < 0.3 else "en",
            "name": f"{rng.choice(FIRST_NAMES)} {chr(65 + number % 26)}.",
            "every": rng.choice([3, 5, 7, 7, 10, 14, 21, 30, 45]),  # days between visits, on average
            "stops_after": rng.choice([None, None, None, 1, 2, 4, 8]),  # visits before they stop coming
            "invited": number >= 10 and rng.random() < 0.2,
        }
        heapq.heappush(queue, (joined, number, "join", number))
    # ...then everything happens in the order of time, across customers.
    order = customers
    who: dict[int, Member] = {}
    visits: dict[int, int] = {}
    done = 0
    while queue:
        when, _, what, number = heapq.heappop(queue)
        plan = plans[number]
        if what == "join":
            member = _join(session, program, config, number, plan, when, who, rng, history)
            done += 1
            progress(done, customers)
            if member is None:
                continue
            who[number], visits[number] = member, 0
            first = when + timedelta(hours=rng.randrange(0, 72))
            if first < now:
                order += 1
                heapq.heappush(queue, (first, order, "visit", number))
            continue
        member = who[number]
        visits[number] += 1
        _visit(session, program, config, member, number, visits[number], plan, when, rewards_by_cost, rng, zone, history)
        stops = plan["stops_after"]
        if stops is not None and visits[number] >= stops:  # type: ignore[operator]
            continue
        later = _at(when + timedelta(days=max(1.0, rng.expovariate(1 / plan["every"]))), rng, zone)  # type: ignore[operator]
        if later < now:
            order += 1
            heapq.heappush(queue, (later, order, "visit", number))
    # The figures' summaries of those days did not see this past: the clock sums them up again.
    summaries.forget(session, program.id, (now - timedelta(days=days + 2)).astimezone(zone).date())
    return history


def _join(session: Session, program: Program, config: ProgramConfig, number: int, plan: dict[str, object],
          when: datetime, who: dict[int, Member], rng: random.Random, history: History) -> Member | None:
    phone = phone_of(number)
    if members.by_phone(session, program.id, phone) is not None:
        return None
    channel = str(plan["channel"])
    address = str(7_000_000_000 + number) if channel == "telegram" else phone
    identity = members.get_identity(session, program.id, channel, address, when)
    if plan["invited"] and who:
        friend = who[rng.choice(sorted(who))]
        if referrals.record_invite(session, config, identity, friend.code, when, phone=phone).accepted:
            history.referred += 1
    joined = members.join(session, program, config, identity, when, phone=phone, language=str(plan["language"]),
                          name=str(plan["name"]))
    history.customers += 1
    return joined.member


def _visit(session: Session, program: Program, config: ProgramConfig, member: Member, number: int, visit: int,
           plan: dict[str, object], when: datetime, rewards_by_cost: list[Reward], rng: random.Random, zone: ZoneInfo,
           history: History) -> None:
    """One visit: a purchase; now and then a reward redeemed, a survey answered, a message."""
    amount = Decimal(rng.randrange(350, 2800)) / 100
    result = earning.record_purchase(session, program, config, member, amount, f"DEMO-BUSY-{number}-{visit}", when, "demo")
    history.purchases += 1
    if rng.random() < 0.5:  # wrote to the bot that week (their balance, the rewards...)
        members.record_activity(session, member, when + timedelta(minutes=rng.randrange(5, 600)), config.timezone)
    if rng.random() < 0.25:
        asked = surveys.ask(session, member, result.purchase, str(plan["channel"]), when + timedelta(hours=3),
                            config.automations.survey_every_days)
        if asked is not None:
            score = rng.choices([10, 9, 8, 7, 6, 4, 2], [30, 25, 15, 10, 8, 7, 5])[0]
            surveys.answer(session, config, asked.id, score, when + timedelta(hours=4))
            history.answers += 1
    affordable = [r for r in rewards_by_cost if r.cost <= member.balance]
    if affordable and rng.random() < 0.4:
        try:
            code = redemption.issue(session, config, member, rng.choice(affordable), when + timedelta(minutes=1))
        except LoyaltyError:  # not spendable yet, a tier it lacks, out of stock: as in the shop
            return
        if rng.random() < 0.9:  # most are used at once; a few are left to expire
            if not redemption.use(session, program.id, code.code, when + timedelta(minutes=2), "demo").refused:
                history.redemptions += 1
