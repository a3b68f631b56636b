"""A member who writes in another language the program speaks is answered, and offered the
switch in that language, once in a while: "¿Prefieres español? Responde ES."."""
from __future__ import annotations

from datetime import timedelta

from test_conversation import Chat, chat, joined  # noqa: F401  (fixture)

from bot import quick
from bot.messages import IncomingMessage

OFFER = "¿Prefieres español? Responde ES."


def test_a_spanish_question_from_an_english_member_is_answered_and_the_switch_offered(chat) -> None:  # noqa: F811
    c = joined(chat)
    answer = c.send("¿cuántos puntos tengo?")
    assert answer.startswith(OFFER) and "You have 50 points" in answer
    assert "Idioma" in c.send("ES") and c.member().language == "es"
    answer = c.send("¿cuántos puntos tengo?")
    assert "Tienes 50 puntos" in answer and OFFER not in answer


def test_the_offer_does_not_nag(chat) -> None:  # noqa: F811
    c = joined(chat)
    assert OFFER in c.send("saldo")
    assert c.member().language_offered_at == c.now
    c.now += timedelta(days=29)
    answer = c.send("historial")
    assert OFFER not in answer and "Recent activity" in answer
    c.now += timedelta(days=2)
    assert OFFER in c.send("saldo")  # a month later, once more
    assert c.member().language == "en"  # nothing changes unless they answer ES


def test_the_offer_leaves_the_answers_menu_in_place(chat) -> None:  # noqa: F811
    c = joined(chat)
    c.purchase("50.00", "R-1")
    listing = c.send("premios")
    assert listing.startswith(OFFER) and "1) Free coffee: 500 pts" in listing
    assert "Redeem Free coffee for 500 points?" in c.send("1")


def test_no_offer_for_english_words_a_question_or_a_language_choice(chat) -> None:  # noqa: F811
    c = joined(chat)
    for words in ("balance", "hi", "idioma", "1"):
        assert "Prefieres" not in c.send(words)
    c.purchase("50.00", "R-1")
    assert "Prefieres" not in c.send("canjear 1")  # a question is open: no distraction
    assert "Prefieres" not in c.send("sí")
    assert c.member().language_offered_at is None


def test_a_spanish_member_is_offered_english(chat) -> None:  # noqa: F811
    c = chat("+15550003333")
    c.send("hola")
    c.send("sí")
    answer = c.send("how many points do I have?")
    assert answer.startswith("Prefer English? Reply EN.") and "Tienes 50 puntos" in answer
    c.send("EN")
    assert c.member().language == "en"


def test_the_quick_balance_leaves_a_question_in_another_language_to_the_full_answer(chat, sessions) -> None:  # noqa: F811
    c = joined(chat)
    with sessions.begin() as session:
        english = IncomingMessage(c.program.id, c.channel, c.phone, "balance", phone=c.phone)
        spanish = IncomingMessage(c.program.id, c.channel, c.phone, "¿cuántos puntos tengo?", phone=c.phone)
        assert quick.answer(session, english, c.now) is not None
        assert quick.answer(session, spanish, c.now) is None
