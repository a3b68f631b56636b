"""The clock's jobs, called with a chosen ``now`` (no sleeps): each does its work once,
however often it runs, and tells the member once."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select
from support import T0

from rewards import ledger, redemption
from rewards.models import Code, LedgerEntry, Member, Reward
from scheduler import jobs

DAY = timedelta(days=1)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def kinds(world, member_id: int) -> list[tuple[str, int]]:  # type: ignore[no-untyped-def]
    with world.sessions() as session:
        rows = session.execute(select(LedgerEntry.kind, LedgerEntry.amount)
                               .where(LedgerEntry.member_id == member_id).order_by(LedgerEntry.id))
        return [(kind, amount) for kind, amount in rows]


# --- points expiry --------------------------------------------------------------------


def test_expiry_takes_the_oldest_points_net_of_what_was_spent_and_refunded_once(world) -> None:  # type: ignore[no-untyped-def]
    world.configure(expiry={"after_days": 30, "remind_days_before": 0})
    member = world.join(T0)  # 50 join points at T0
    world.purchase(member, "10.00", "R-1", T0 + 1 * DAY)  # 100
    world.purchase(member, "20.00", "R-2", T0 + 2 * DAY)  # 200, refunded below
    world.purchase(member, "5.00", "R-3", T0 + 20 * DAY)  # 50: not old enough at the run
    with world.sessions.begin() as session:  # spend 120 of the oldest points (50 join + 70 of R-1)
        reward = session.scalar(select(Reward).where(Reward.slug == "pastry"))
        session.execute(Reward.__table__.update().where(Reward.id == reward.id).values(cost=120))
        session.expire_all()
        redemption.issue(session, world.config, session.get(Member, member), session.get(Reward, reward.id), T0 + 3 * DAY)
    with world.sessions.begin() as session:
        from rewards import earning
        from rewards.models import Program
        from rewards.program.programs import config_of

        program = session.get(Program, world.program_id)
        earning.refund(session, program, config_of(program), "R-2", T0 + 4 * DAY)

    now = T0 + 33 * DAY  # join, R-1 and R-2 are older than 30 days; R-3 is not
    result = world.run(jobs.run_points_expiry, now)
    assert (result.changed, result.points, result.queued) == (1, 30, 1)  # 150 earned - 120 spent; R-2 reversed
    assert kinds(world, member)[-1] == ("expire", -30)
    assert world.member(member).balance == 50  # R-3 only
    assert world.messages("expired:") == [(f"expired:{member}:{(now - 30 * DAY):%Y%m%dT%H%M%S}",
                                           "30 points expired. Balance: 50.")]

    again = world.run(jobs.run_points_expiry, now + timedelta(hours=1))
    assert (again.changed, again.points, again.queued) == (0, 0, 0)
    assert len(world.messages("expired:")) == 1
    with world.sessions() as session:
        assert ledger.audit(session).ok


def test_expiry_is_off_when_the_program_file_says_so(world) -> None:  # type: ignore[no-untyped-def]
    world.configure(expiry={"after_days": 30}, automations={"points_expiry": False})
    member = world.join(T0)
    result = world.run(jobs.run_points_expiry, T0 + 60 * DAY)
    assert result.off and "points_expiry" in result.line()
    assert world.member(member).balance == 50


def test_the_reminder_comes_once_per_expiry_date(world) -> None:  # type: ignore[no-untyped-def]
    world.configure(expiry={"after_days": 30, "remind_days_before": 7})
    member = world.join(T0)  # 50 points expire at T0 + 30 days
    world.purchase(member, "10.00", "R-1", T0 + 10 * DAY)  # 100 points expire at T0 + 40 days

    assert world.run(jobs.run_expiry_reminders, T0 + 22 * DAY).queued == 0  # 8 days before: not yet
    first = world.run(jobs.run_expiry_reminders, T0 + 23 * DAY)
    assert first.queued == 1
    world.run(jobs.run_expiry_reminders, T0 + 24 * DAY)  # the next day: the same expiry date, no second reminder
    assert world.messages("expiry-reminder:") == [
        (f"expiry-reminder:{member}:2026-04-01", "50 of your points expire in the next 7 days, starting 1 April. "
                                                "Say REWARDS to use them."),
    ]
    world.run(jobs.run_points_expiry, T0 + 31 * DAY)  # the join points go
    world.run(jobs.run_expiry_reminders, T0 + 33 * DAY)  # the purchase's points are next
    world.run(jobs.run_expiry_reminders, T0 + 34 * DAY)
    assert [key for key, _ in world.messages("expiry-reminder:")] == [
        f"expiry-reminder:{member}:2026-04-01", f"expiry-reminder:{member}:2026-04-11"]


def test_expired_codes_give_their_points_back_once(world) -> None:  # type: ignore[no-untyped-def]
    member = world.join(T0)
    world.purchase(member, "50.00", "R-1", T0)
    with world.sessions.begin() as session:
        reward = session.scalar(select(Reward).where(Reward.slug == "pastry"))
        redemption.issue(session, world.config, session.get(Member, member), reward, T0)
    before = world.member(member).balance
    result = world.run(jobs.run_code_expiry, T0 + 31 * DAY)
    assert (result.changed, result.points) == (1, 300)
    assert world.run(jobs.run_code_expiry, T0 + 32 * DAY).changed == 0
    assert world.member(member).balance == before + 300
    with world.sessions() as session:
        assert session.scalar(select(Code.status)) == "expired"


# --- birthdays ------------------------------------------------------------------------


def test_birthday_bonus_and_greeting_once_a_year_on_a_daylight_saving_day(world) -> None:  # type: ignore[no-untyped-def]
    # 8 March 2026: New York's clocks go forward at 02:00. The day starts at 05:00 UTC (EST).
    member = world.join(T0, birthday=date(1990, 3, 8))
    assert world.run(jobs.run_birthdays, utc("2026-03-08T04:59:00")).changed == 0  # 23:59 on the 7th there
    first = world.run(jobs.run_birthdays, utc("2026-03-08T05:00:00"))
    assert (first.changed, first.points, first.queued) == (1, 100, 1)
    world.run(jobs.run_birthdays, utc("2026-03-08T13:00:00"))  # 09:00 EDT, the same day
    world.run(jobs.run_birthdays, utc("2026-03-09T03:59:00"))  # 23:59 EDT on the 8th
    assert world.run(jobs.run_birthdays, utc("2026-03-09T04:00:00")).looked_at == 0  # the 9th there
    assert kinds(world, member) == [("join", 50), ("birthday", 100)]
    assert world.messages("birthday:") == [(f"birthday:{member}:2026", "Happy birthday! Here are 100 points from us. "
                                                                       "Balance: 150.")]
    world.run(jobs.run_birthdays, utc("2027-03-08T14:00:00"))  # a year on
    assert kinds(world, member)[-1] == ("birthday", 100)
    assert len(world.messages("birthday:")) == 2


def test_leap_day_birthdays_are_greeted_on_the_28th_and_spanish_members_in_spanish(world) -> None:  # type: ignore[no-untyped-def]
    world.configure(earning={"birthday_bonus": 0})
    member = world.join(T0, birthday=date(2000, 2, 29), language="es")
    result = world.run(jobs.run_birthdays, utc("2027-02-28T15:00:00"))
    assert (result.changed, result.queued) == (0, 1)  # no bonus configured: a greeting only
    world.run(jobs.run_birthdays, utc("2027-02-28T16:00:00"))
    assert world.messages("birthday:") == [(f"birthday:{member}:2027", "¡Feliz cumpleaños de parte de todos nosotros!")]


# --- win-back -------------------------------------------------------------------------


def test_win_back_once_per_spell_of_inactivity(world) -> None:  # type: ignore[no-untyped-def]
    world.configure(automations={"win_back_days": 30})
    quiet = world.join(T0)
    busy = world.join(T0)
    world.purchase(busy, "5.00", "R-1", T0 + 20 * DAY)
    with world.sessions.begin() as session:  # said no to promotions: no win-back either
        session.get(Member, world.join(T0)).marketing_consent = False

    assert world.run(jobs.run_win_back, T0 + 29 * DAY).queued == 0
    assert world.run(jobs.run_win_back, T0 + 30 * DAY).queued == 1
    assert world.run(jobs.run_win_back, T0 + 31 * DAY).queued == 0  # the same spell
    assert world.messages("win-back:") == [
        (f"win-back:{quiet}:20260302T150000", "We miss you! It has been 30 days since your last visit. Come and see us soon.")]
    world.purchase(quiet, "5.00", "R-2", T0 + 40 * DAY)  # back, then quiet again
    assert world.run(jobs.run_win_back, T0 + 50 * DAY).queued == 1  # busy's turn (20 + 30 days)
    assert world.run(jobs.run_win_back, T0 + 70 * DAY).queued == 1  # quiet's second spell
    assert world.run(jobs.run_win_back, T0 + 71 * DAY).queued == 0
    assert [key.split(":")[1] for key, _ in world.messages("win-back:")] == [str(quiet), str(busy), str(quiet)]


# --- tiers ----------------------------------------------------------------------------


def test_tier_review_moves_a_member_down_as_the_window_rolls_and_tells_them(world) -> None:  # type: ignore[no-untyped-def]
    world.configure(tier_rules={"window_days": 30})
    member = world.join(T0)
    world.purchase(member, "120.00", "R-1", T0)  # 1,200 points: Silver at once (told at the till)
    assert world.member(member).tier.name == "Silver"

    assert world.run(jobs.run_tier_review, T0 + 29 * DAY).changed == 0
    result = world.run(jobs.run_tier_review, T0 + 31 * DAY)
    assert (result.changed, result.queued) == (1, 1)
    assert world.member(member).tier.name == "Bronze"
    assert world.run(jobs.run_tier_review, T0 + 31 * DAY + timedelta(hours=2)).changed == 0
    assert world.messages("tier:") == [(f"tier:{member}:Bronze:2026-04-02", "Your tier is now Bronze.")]


def test_tier_review_congratulates_when_the_program_lowers_a_threshold(world) -> None:  # type: ignore[no-untyped-def]
    member = world.join(T0)
    world.purchase(member, "60.00", "R-1", T0)  # 600 points: Bronze
    config = world.config
    world.configure(tiers=None) if False else None
    from dataclasses import replace

    from rewards.program.programs import sync_program

    world.config = replace(config, tiers=(config.tiers[0], replace(config.tiers[1], threshold=500), config.tiers[2]))
    with world.sessions.begin() as session:
        sync_program(session, world.config, T0)
    world.run(jobs.run_tier_review, T0 + DAY)
    assert world.messages("tier:") == [(f"tier:{member}:Silver:2026-03-03", "Congratulations, you reached Silver!")]


def test_every_daily_job_twice_changes_nothing_more(world) -> None:  # type: ignore[no-untyped-def]
    world.configure(expiry={"after_days": 30, "remind_days_before": 7}, automations={"win_back_days": 10},
                    tier_rules={"window_days": 20})
    members = [world.join(T0, birthday=date(1990, 4, 5)) for _ in range(5)]
    for n, member in enumerate(members):
        world.purchase(member, "150.00", f"R-{n}", T0 + 10 * DAY)
    # 34 days on: the join points expire, the purchase's are reminded of, the tier window has
    # dropped the purchase, it is everyone's birthday and they have been quiet for 24 days
    now = utc("2026-04-05T13:00:00")

    def snapshot():  # type: ignore[no-untyped-def]
        with world.sessions() as session:
            state = (session.scalar(select(func.count()).select_from(LedgerEntry)),
                     sorted(session.execute(select(Member.id, Member.balance, Member.tier_id)).all()))
        return state, world.messages()

    first = [job(world.sessions, world.program_id, now, ("terminal",), chunk=2) for job in jobs.DAILY]
    assert {r.job: r.changed for r in first} == {"expired codes": 0, "points expiry": 5, "expiry reminders": 5,
                                                 "tier review": 5, "birthdays": 5, "win-back": 5}
    after_first = snapshot()
    second = [job(world.sessions, world.program_id, now + timedelta(minutes=5), ("terminal",)) for job in jobs.DAILY]
    assert sum(r.changed + r.queued for r in second) == 0
    assert snapshot() == after_first
