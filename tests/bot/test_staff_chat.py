"""Staff commands in chat, read as dialogues: an allow-listed cashier on Telegram (and one
on WhatsApp) broadcasts, redeems and records purchases; a customer who types the same
never learns the commands exist."""
from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from support import T0

from bot.handler import Handled, respond
from bot.messages import IncomingMessage
from bot.turn import BotSettings
from channels.base import render_text
from rewards import catalog, earning, members, redemption
from rewards.codes import display
from rewards.events import PointsEarned
from rewards.models import Campaign, Code, OutboxMessage, Program, Purchase
from rewards.program.config_staff import Staff
from rewards.program.programs import config_of, sync_program

STAFF_CHAT = "9001"  # the cashier's Telegram user id, on the allow-list
STAFF_PHONE = "+15550009999"  # a cashier on WhatsApp
SETTINGS = BotSettings(channels=("terminal", "telegram", "whatsapp"))


class Chat:
    """Someone on one channel; ``send`` returns what they would read."""

    def __init__(self, sessions, program: Program, channel: str, address: str, phone: str | None = None,  # type: ignore[no-untyped-def]
                 language: str | None = None) -> None:
        self.sessions, self.program = sessions, program
        self.channel, self.address, self.phone, self.language = channel, address, phone, language
        self.now = T0
        self.handled: Handled | None = None

    def send(self, text: str, payload: str | None = None) -> str:
        message = IncomingMessage(self.program.id, self.channel, self.address, text, phone=self.phone,
                                  language_hint=self.language, payload=payload)
        with self.sessions.begin() as session:
            self.handled = respond(session, message, self.now, SETTINGS)
        assert self.handled.replies, f"no reply to {text!r}"
        return "\n".join(render_text(r, numbered=True, hint=r.hint) for r in self.handled.replies)


@pytest.fixture
def program(sessions, demo_config):  # type: ignore[no-untyped-def]
    config = dataclasses.replace(demo_config, staff=Staff((STAFF_CHAT,), (STAFF_PHONE,)))
    with sessions.begin() as session:
        return sync_program(session, config, T0)


@pytest.fixture
def cashier(sessions, program) -> Chat:  # type: ignore[no-untyped-def]
    return Chat(sessions, program, "telegram", STAFF_CHAT)


def customer(sessions, program, phone: str, promotions: bool = True) -> Chat:  # type: ignore[no-untyped-def]
    c = Chat(sessions, program, "terminal", phone, phone)
    c.send("hi")
    c.send("yes")
    if not promotions:
        c.send("stop promotions")
    return c


def campaigns_made(sessions) -> list[Campaign]:  # type: ignore[no-untyped-def]
    with sessions() as session:
        return list(session.scalars(select(Campaign)))


def campaign_messages(sessions) -> list[OutboxMessage]:  # type: ignore[no-untyped-def]
    with sessions() as session:
        return list(session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "campaign")))


# --- /broadcast -------------------------------------------------------------------------


def test_a_broadcast_is_previewed_then_sent_once_on_yes(sessions, program, cashier) -> None:  # type: ignore[no-untyped-def]
    ana = customer(sessions, program, "+15550000101")
    customer(sessions, program, "+15550000102", promotions=False)
    shown = cashier.send("/broadcast all: Double points this weekend!")
    assert "Broadcast to all:" in shown and '"Double points this weekend!"' in shown
    assert "Members matching: 2. Would receive it: 1. Skipped: no marketing consent 1." in shown
    assert "Send it now? Reply YES or NO." in shown and "1) Yes" in shown
    assert campaigns_made(sessions) == []  # nothing before yes
    sent = cashier.send("yes")
    assert "Sent: campaign" in sent and "Messages queued: 1; skipped: 1." in sent
    [campaign] = campaigns_made(sessions)
    assert campaign.created_by == f"staff:telegram:{STAFF_CHAT}" and campaign.status == "sent"
    assert campaign.audience == {} and campaign.text == "Double points this weekend!"
    [message] = campaign_messages(sessions)
    assert (message.channel, message.address) == ("terminal", ana.address)
    assert "nothing to confirm" in cashier.send("yes")  # a second yes sends nothing again
    assert len(campaigns_made(sessions)) == 1 and len(campaign_messages(sessions)) == 1


def test_no_sends_nothing(sessions, program, cashier) -> None:  # type: ignore[no-untyped-def]
    customer(sessions, program, "+15550000101")
    cashier.send("/broadcast all: Hello")
    assert "Cancelled: nothing was sent." in cashier.send("no")
    assert campaigns_made(sessions) == [] and campaign_messages(sessions) == []


def test_an_unanswered_broadcast_times_out(sessions, program, cashier) -> None:  # type: ignore[no-untyped-def]
    customer(sessions, program, "+15550000101")
    cashier.send("/broadcast all: Hello")
    cashier.now += timedelta(minutes=11)
    assert "timed out" in cashier.send("yes")
    assert campaigns_made(sessions) == []


def test_a_broadcast_in_two_steps_to_an_audience(sessions, program, cashier) -> None:  # type: ignore[no-untyped-def]
    customer(sessions, program, "+15550000101")
    spanish = Chat(sessions, program, "terminal", "+15550000103", "+15550000103")
    spanish.send("hola")
    spanish.send("sí")
    assert "What should the broadcast say, and to whom?" in cashier.send("/broadcast")
    shown = cashier.send("language=es: ¡Doble puntos este fin de semana!")
    assert "Mensaje para language=es:" in shown and "Miembros que coinciden: 1. Lo recibirían: 1." in shown  # they said "hola"
    cashier.send("yes", payload="yes")  # the Yes button
    [campaign] = campaigns_made(sessions)
    assert campaign.audience == {"language": ["es"]}
    [message] = campaign_messages(sessions)
    assert message.address == spanish.address


def test_a_wrong_audience_is_explained_and_nothing_waits_for_yes(sessions, program, cashier) -> None:  # type: ignore[no-untyped-def]
    shown = cashier.send("/broadcast tir=Gold: Hi")
    assert 'cannot be sent: audience tir: is not a filter' in shown and 'did you mean "tier"?' in shown
    assert "Write the audience, a colon, then the message" in cashier.send("/broadcast Hi everyone")
    assert "nothing to confirm" in cashier.send("yes")
    assert campaigns_made(sessions) == []


def test_nobody_to_reach_means_nothing_to_confirm(sessions, program, cashier) -> None:  # type: ignore[no-untyped-def]
    customer(sessions, program, "+15550000101", promotions=False)
    shown = cashier.send("/broadcast all: Hello")
    assert "Nobody would receive it" in shown
    assert "nothing to confirm" in cashier.send("yes")
    assert campaigns_made(sessions) == []


def test_staff_commands_in_spanish(sessions, program) -> None:  # type: ignore[no-untyped-def]
    customer(sessions, program, "+15550000101")
    cajero = Chat(sessions, program, "telegram", STAFF_CHAT, language="es")
    shown = cajero.send("/difundir all: ¡Hola!")
    assert "Miembros que coinciden: 1. Lo recibirían: 1." in shown and "¿Enviarlo ahora? Responde SÍ o NO." in shown
    assert "Enviado: campaña" in cajero.send("sí")
    assert "Comandos del personal" in cajero.send("/staff")


# --- a customer never sees them ---------------------------------------------------------


def test_a_customer_typing_staff_commands_gets_the_normal_answers(sessions, program) -> None:  # type: ignore[no-untyped-def]
    stranger = Chat(sessions, program, "telegram", "1234")  # not on the allow-list
    stranger.send("hi")
    stranger.send("yes")
    for command in ("/broadcast", "/broadcast all: Hi everyone", "/staff", "/purchase +15550000101 10.00 R-1"):
        answer = stranger.send(command)
        invented = stranger.send(command.replace(command.split()[0], "/frobnicate"))
        assert answer == invented, command  # read like any unknown command: no hint they exist
        assert "staff" not in answer.lower() and "broadcast" not in answer.lower()
    assert campaigns_made(sessions) == []
    with sessions() as session:
        assert session.scalar(select(func.count(Purchase.id))) == 0
    assert "Sorry, I didn't get that" in stranger.send("/broadcast")


def test_a_staff_phone_counts_only_where_the_provider_verifies_it(sessions, program) -> None:  # type: ignore[no-untyped-def]
    customer(sessions, program, "+15550000101")
    web = Chat(sessions, program, "web", "browser-1", STAFF_PHONE)  # typed into the /chat page
    assert "Broadcast" not in web.send("/broadcast all: Hi")
    whatsapp = Chat(sessions, program, "whatsapp", f"whatsapp:{STAFF_PHONE}", STAFF_PHONE)
    assert "Broadcast to all:" in whatsapp.send("/broadcast all: Hi")
    whatsapp.send("yes")
    assert [c.created_by for c in campaigns_made(sessions)] == [f"staff:whatsapp:{STAFF_PHONE}"]


# --- /redeem and /purchase --------------------------------------------------------------


def _code_for(sessions, program, phone: str) -> str:  # type: ignore[no-untyped-def]
    with sessions.begin() as session:
        member = members.by_phone(session, program.id, phone)
        config = config_of(program)
        earning.record_purchase(session, program, config, member, "50.00", f"R-{phone}", T0)
        reward = catalog.find_reward(session, program.id, "free-coffee")
        return redemption.issue(session, config, member, reward, T0).code


def test_redeem_a_code_once_then_refused(sessions, program, cashier) -> None:  # type: ignore[no-untyped-def]
    customer(sessions, program, "+15550000101")
    code = _code_for(sessions, program, "+15550000101")
    with sessions() as session:
        member_code = members.by_phone(session, program.id, "+15550000101").code
    typed = display(code).lower()  # typing is forgiving
    assert f"Redeemed: Free coffee for member {member_code}." in cashier.send(f"/redeem {typed}")
    cashier.now += timedelta(minutes=1)
    assert "Refused: that code was already used (2026-03-02 10:00 EST)." in cashier.send(f"/redeem {code}")
    assert "No code ABCD-EFGH-JKMNP" in cashier.send("/redeem ABCD-EFGH-JKMNP")


def test_a_code_staff_cancelled_is_refused_in_chat(sessions, program, cashier) -> None:  # type: ignore[no-untyped-def]
    customer(sessions, program, "+15550000102")
    code = _code_for(sessions, program, "+15550000102")
    with sessions.begin() as session:
        redemption.cancel(session, session.scalars(select(Code).where(Code.code == code)).one(), T0, "staff:ann")
    assert "Refused: that code was cancelled." in cashier.send(f"/redeem {code}")


def test_redeem_with_a_reward_number_is_the_cashiers_own_redemption(sessions, program, cashier) -> None:  # type: ignore[no-untyped-def]
    # Not a code: the message goes on to the customer core (here: a newcomer is welcomed).
    assert "Welcome to Bean There Coffee rewards!" in cashier.send("/redeem 1")


def test_a_purchase_for_a_number_as_dialled_in_the_shops_country(sessions, program, cashier) -> None:  # type: ignore[no-untyped-def]
    customer(sessions, program, "+15550000101")  # the shop is in America/New_York: US numbers
    with sessions() as session:
        code = members.by_phone(session, program.id, "+15550000101").code
    assert f"Recorded $12.50 for member {code}: +125 points" in cashier.send("/purchase (555) 000-0101 12.50 R-78")


def test_purchase_twice_with_one_receipt_earns_once_and_tells_the_member_once(sessions, program, cashier) -> None:  # type: ignore[no-untyped-def]
    customer(sessions, program, "+15550000101")
    first = cashier.send("/purchase +15550000101 12.50 R-77")
    with sessions() as session:
        member = members.by_phone(session, program.id, "+15550000101")
        assert member.balance == 50 + 125
    assert f"Recorded $12.50 for member {member.code}: +125 points, balance 175." in first
    assert cashier.handled is not None
    assert [(type(e), e.member_id) for e in cashier.handled.others] == [(PointsEarned, member.id)]
    again = cashier.send(f"/purchase {member.code} 12,50 R-77")  # by member code, a decimal comma
    assert "Receipt R-77 was already recorded ($12.50, 125 points): nothing earned again." in again
    assert cashier.handled.others == []
    with sessions() as session:
        assert members.by_phone(session, program.id, "+15550000101").balance == 175
        purchase = session.scalar(select(Purchase).where(Purchase.receipt_id == "R-77"))
        assert purchase.actor == f"staff:telegram:{STAFF_CHAT}"


@pytest.mark.parametrize(("command", "expected"), [
    ("/purchase +15550000101 12.50", "Write: /purchase PHONE-OR-MEMBER-CODE AMOUNT RECEIPT"),
    ("/purchase +15550009876 12.50 R-1", "No member with phone or member code +15550009876."),
    ("/purchase +15550000101 twelve R-1", "twelve is not an amount I can record: write it like 12.50."),
    ("/purchase +15550000101 1.005 R-1", "1.005 is not an amount I can record"),
    ("/purchase +15550000101 ١٢ R-1", "١٢ is not an amount I can record"),
    ("/purchase +15550000101 １２,５０ R-1", "１２.５０ is not an amount I can record"),
])
def test_purchase_refusals_say_what_to_fix(sessions, program, cashier, command: str, expected: str) -> None:  # type: ignore[no-untyped-def]
    customer(sessions, program, "+15550000101")
    assert expected in cashier.send(command)


def test_a_receipt_used_for_another_amount_is_refused(sessions, program, cashier) -> None:  # type: ignore[no-untyped-def]
    customer(sessions, program, "+15550000101")
    cashier.send("/purchase +15550000101 12.50 R-77")
    assert "Receipt R-77 was already recorded for another member or amount" in cashier.send(
        "/purchase +15550000101 13.00 R-77")
