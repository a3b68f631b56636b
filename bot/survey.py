"""The answer to the 0-10 question the clock asked after a purchase (rewards/surveys.py).

While the question is open (``identity.flow == "survey"``, until it times out) a bare number
is the answer; a number outside 0-10 gets told so and may try again; anything else is a
normal message and leaves the question behind. Any script's digits count ("١٠" and "１０"
are 10: ``Turn.words``); "²" or "½" is no number, so it closes the question like any word.
"""
from __future__ import annotations

import re

from bot.turn import Turn
from rewards import surveys
from rewards.inputs import ascii_digits

# "8", " 8 ", "8/10", "8.", "-1", "7.5": anything that looks like a score is taken as one
_SCORE = re.compile(r"\s*(-?[0-9]+(?:[.,][0-9]+)?)\s*(?:/\s*10)?\s*[.!]?\s*")


def answer(turn: Turn, data: dict) -> bool:  # type: ignore[type-arg]
    """False: not an answer, handle the message as a command (the question is closed)."""
    match = _SCORE.fullmatch(turn.words)
    if match is None or turn.member is None:
        _close(turn)
        return False
    raw = match.group(1).replace(",", ".")
    if not ascii_digits(raw.lstrip("-")) or not 0 <= int(raw) <= 10:
        turn.say(turn._("Please answer with a whole number from 0 to 10 (10: very likely)."))
        return True  # the question stays open
    _close(turn)
    stored, bonus = surveys.answer(turn.session, turn.config, int(data.get("survey", 0)), int(raw), turn.now)
    if not stored:
        turn.say(turn._("You already answered that one. Thank you!"))
    elif bonus is not None:
        turn.say(turn._("Thank you for your answer! +{points} points. Balance: {balance}.",
                        points=turn.points(bonus.points), balance=turn.points(bonus.balance)))
    else:
        turn.say(turn._("Thank you for your answer!"))
    return True


def _close(turn: Turn) -> None:
    turn.identity.flow = turn.identity.flow_data = turn.identity.flow_expires_at = None
