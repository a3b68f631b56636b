"""Every number a member reads is written as their language writes it: points, balances,
counts and money alike ("+1.193 ... Saldo: 1.243" in Spanish, "+1,193 ... Balance: 1,243"
in English), whichever reply or notice says it."""
from __future__ import annotations

from test_conversation import Chat, chat, joined  # noqa: F401  (fixture)

from bot.carrier import help_reply
from bot.i18n import translator
from bot.notices import text
from channels.twilio import gsm7, segments
from rewards.events import PointsEarned


def spanish(chat_factory) -> Chat:  # type: ignore[no-untyped-def]
    c = chat_factory("+15550003333")
    c.send("hola")
    c.send("sí")
    return c


def test_history_writes_each_change_and_the_balance_the_same_way(chat) -> None:  # noqa: F811
    es = spanish(chat)
    es.purchase("119.30", "R-1")  # 1,193 points; 50 from joining
    history = es.send("historial")
    assert "+1.193 compra" in history and "Saldo: 1.243" in history
    en = joined(chat)
    en.purchase("119.30", "R-2")
    history = en.send("history")
    assert "+1,193 purchase" in history and "Balance: 1,243" in history


def test_a_number_given_to_any_message_is_written_in_the_members_language() -> None:
    es, en = translator("es"), translator("en")
    assert es.gettext("{points} points to {tier}.", points=1193, tier="Oro") == "Te faltan 1.193 puntos para Oro."
    assert en.gettext("{points} points to {tier}.", points=1193, tier="Gold") == "1,193 points to Gold."
    assert es.format_signed(-1500) == "-1.500" and en.format_signed(1193) == "+1,193"
    event = PointsEarned(member_id=1, points=1193, balance=12466, reason="purchase")
    assert text(event, es) == "+1.193 puntos. Saldo: 12.466."


def test_the_sms_help_writes_its_number_by_language_in_one_segment() -> None:
    english, spanish_ = (gsm7(help_reply(translator(lang), "Bean There Coffee", 1000).text) for lang in ("en", "es"))
    assert "at most 1,000/week" in english and "max. 1.000 ofertas/semana" in spanish_
    assert segments(english) == 1 and segments(spanish_) == 1
