"""The satisfaction question: asked once, some hours after a purchase; a number 0-10 in the
chat answers it, is stored and pays the survey bonus once."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from support import T0

from bot.handler import handle
from bot.messages import IncomingMessage
from rewards.models import LedgerEntry, Survey
from scheduler import jobs

HOUR = timedelta(hours=1)
PHONE = "+15550300001"


def say(world, text: str, now) -> str:  # type: ignore[no-untyped-def]
    with world.sessions.begin() as session:
        replies = handle(session, IncomingMessage(world.program_id, "terminal", PHONE, text, phone=PHONE), now)
    return "\n".join(reply.text for reply in replies)


def answers(world) -> list[tuple[int, int | None]]:  # type: ignore[no-untyped-def]
    with world.sessions() as session:
        return [(s.purchase_id, s.score) for s in session.scalars(select(Survey).order_by(Survey.id))]


def survey_bonuses(world) -> list[int]:  # type: ignore[no-untyped-def]
    with world.sessions() as session:
        return list(session.scalars(select(LedgerEntry.amount).where(LedgerEntry.kind == "survey")))


def test_asked_once_after_the_delay_answered_and_paid_once(world) -> None:  # type: ignore[no-untyped-def]
    world.configure(automations={"survey_after_hours": 2}, earning={"survey_bonus": 25})
    member = world.join(T0, phone=PHONE)
    world.purchase(member, "4.00", "R-1", T0)
    world.purchase(member, "3.00", "R-2", T0 + HOUR)  # the same visit, nearly: one question, not two

    assert world.run(jobs.run_surveys, T0 + HOUR).queued == 0  # too soon
    assert world.run(jobs.run_surveys, T0 + 2 * HOUR).queued == 1
    assert world.run(jobs.run_surveys, T0 + 3 * HOUR).queued == 0  # asked lately
    assert [text for _, text in world.messages("survey:")] == [
        "Thanks for your visit! How likely are you to recommend us to a friend? Reply 0-10."]

    now = T0 + 4 * HOUR
    assert say(world, "11", now) == "Please answer with a whole number from 0 to 10 (10: very likely)."
    assert say(world, "7.5", now) == "Please answer with a whole number from 0 to 10 (10: very likely)."
    assert say(world, "9", now) == "Thank you for your answer! +25 points. Balance: 145."
    assert answers(world) == [(1, 9)]
    assert survey_bonuses(world) == [25]
    # The question is closed: "9" again is no answer (it is a menu number or help, not a second bonus).
    assert "Thank you" not in say(world, "9", now)
    assert answers(world) == [(1, 9)] and survey_bonuses(world) == [25]


def test_the_question_times_out_and_other_messages_still_work(world) -> None:  # type: ignore[no-untyped-def]
    world.configure(automations={"survey_after_hours": 2})
    member = world.join(T0, phone=PHONE)
    world.purchase(member, "4.00", "R-1", T0)
    world.run(jobs.run_surveys, T0 + 2 * HOUR)
    assert "points" in say(world, "balance", T0 + 3 * HOUR)  # a command, not an answer: the question closes
    assert "Thank you" not in say(world, "8", T0 + 3 * HOUR)
    assert answers(world) == [(1, None)]

    world.purchase(member, "4.00", "R-2", T0 + 40 * 24 * HOUR)  # a month on: asked again
    world.run(jobs.run_surveys, T0 + 40 * 24 * HOUR + 2 * HOUR)
    assert "Thank you" not in say(world, "8", T0 + 42 * 24 * HOUR + 3 * HOUR)  # answered too late
    assert answers(world) == [(1, None), (2, None)]


def test_waits_for_the_morning_and_asks_in_spanish_without_a_bonus(world) -> None:  # type: ignore[no-untyped-def]
    world.configure(automations={"survey_after_hours": 2})
    member = world.join(T0, phone=PHONE, language="es")
    evening = T0 + 9 * HOUR  # 19:00 in New York; the question is due at 21:00, inside quiet hours
    world.purchase(member, "4.00", "R-1", evening)
    world.run(jobs.run_surveys, evening + 2 * HOUR + timedelta(minutes=30))
    from rewards.models import OutboxMessage

    with world.sessions() as session:
        row = session.scalars(select(OutboxMessage).where(OutboxMessage.dedupe_key.startswith("survey:"))).one()
        assert row.available_at.isoformat() == "2026-03-03T14:00:00+00:00"  # 09:00 in New York
        assert row.payload["text"].startswith("¡Gracias por tu visita!")
    assert say(world, "10", T0 + 24 * HOUR) == "¡Gracias por tu respuesta!"
    assert answers(world) == [(1, 10)] and survey_bonuses(world) == []


def test_refunded_purchases_and_switched_off_surveys_ask_nothing(world) -> None:  # type: ignore[no-untyped-def]
    world.configure(automations={"survey_after_hours": 0})
    member = world.join(T0, phone=PHONE)
    world.purchase(member, "4.00", "R-1", T0)
    assert world.run(jobs.run_surveys, T0 + 3 * HOUR).off
    world.configure(automations={"survey_after_hours": 2})
    from rewards import earning
    from rewards.models import Program
    from rewards.program.programs import config_of

    with world.sessions.begin() as session:
        program = session.get(Program, world.program_id)
        earning.refund(session, program, config_of(program), "R-1", T0 + HOUR)
    assert world.run(jobs.run_surveys, T0 + 3 * HOUR).queued == 0


def test_an_answer_in_any_scripts_digits_counts_and_a_superscript_is_no_answer(world) -> None:  # type: ignore[no-untyped-def]
    world.configure(automations={"survey_after_hours": 2})
    member = world.join(T0, phone=PHONE)
    world.purchase(member, "4.00", "R-1", T0)
    world.run(jobs.run_surveys, T0 + 2 * HOUR)
    now = T0 + 3 * HOUR
    assert say(world, "١١", now) == "Please answer with a whole number from 0 to 10 (10: very likely)."
    assert say(world, "١٠/١٠", now) == "Thank you for your answer!"
    assert answers(world) == [(1, 10)]

    world.purchase(member, "4.00", "R-2", T0 + 40 * 24 * HOUR)
    world.run(jobs.run_surveys, T0 + 40 * 24 * HOUR + 2 * HOUR)
    later = T0 + 40 * 24 * HOUR + 3 * HOUR
    assert "Thank you" not in say(world, "²", later)  # no digit: the question closes, help answers
    assert "Thank you" not in say(world, "8", later)
    assert answers(world) == [(1, 10), (2, None)]
    world.purchase(member, "4.00", "R-3", T0 + 80 * 24 * HOUR)
    world.run(jobs.run_surveys, T0 + 80 * 24 * HOUR + 2 * HOUR)
    assert say(world, "１０", T0 + 80 * 24 * HOUR + 3 * HOUR) == "Thank you for your answer!"
    assert answers(world)[-1] == (3, 10)
