"""``/stats`` (and ``/estadisticas``) in the staff chat: today's and the last 7 days' figures,
the dashboard's numbers, against the program worked out by hand (tests/metrics_program.py)."""
from __future__ import annotations

import dataclasses

import metrics_program as story
import pytest
from test_staff_chat import STAFF_CHAT, Chat

from rewards.program.config_staff import Staff
from rewards.program.programs import config_of, sync_program


@pytest.fixture
def program(sessions, demo_config):  # type: ignore[no-untyped-def]
    config = dataclasses.replace(demo_config, staff=Staff((STAFF_CHAT,), ()))
    with sessions.begin() as session:
        made = sync_program(session, config, story.NOW)
        story.build(session, made, config_of(made))
        return made


@pytest.mark.parametrize("engine", ["sqlite", "postgres"], indirect=True)
def test_stats_shows_today_and_the_last_7_days_beside_the_days_before(sessions, program) -> None:  # type: ignore[no-untyped-def]
    cashier = Chat(sessions, program, "telegram", STAFF_CHAT)
    cashier.now = story.NOW  # Monday Mar 9, 08:00 in New York
    shown = cashier.send("/stats")
    assert shown.split("\n\n") == [
        "Today, Mar 9, 2026 (yesterday in brackets):\n"
        "New members: 0 (1). Active members: 0 (0).\n"
        "Purchases: 0 (0). Sales: $0.00 ($0.00).\n"
        "Points earned: 0 (50). Points redeemed: 0 (0).\n"
        "NPS: - (-) from 0 (0) answers.",
        # Mar 3-9: D E F joined; A C bought (D's was refunded), B wrote. Feb 24-Mar 2: B C
        # joined; A and B bought a1 b1 a2.
        "Last 7 days, Mar 3, 2026 to Mar 9, 2026 (the 7 days before in brackets):\n"
        "New members: 3 (2). Active members: 3 (2).\n"
        "Purchases: 2 (3). Sales: $16.00 ($35.00).\n"
        "Points earned: 690 (450). Points redeemed: 300 (0).\n"
        "NPS: 33.3 (-) from 3 (0) answers.",
    ]


def test_estadisticas_in_spanish(sessions, program) -> None:  # type: ignore[no-untyped-def]
    cajero = Chat(sessions, program, "telegram", STAFF_CHAT, language="es")
    cajero.now = story.NOW
    shown = cajero.send("/estadisticas")
    assert "Últimos 7 días, del 3 mar 2026 al 9 mar 2026" in shown
    assert "Ventas: 16,00\xa0US$ (35,00\xa0US$)." in shown and "NPS: 33,3 (-) de 3 (0) respuestas." in shown
    assert "/estadisticas" in cajero.send("/personal")


def test_a_customer_typing_stats_gets_the_normal_answer(sessions, program) -> None:  # type: ignore[no-untyped-def]
    stranger = Chat(sessions, program, "telegram", "1234")
    stranger.now = story.NOW
    assert stranger.send("/stats") == stranger.send("/frobnicate")
