"""What every channel shares: the plain-text rendering of a Reply, quieting the SDKs' request
logs, and a collecting output for tests.

An adapter renders natively what its provider can show (Telegram inline keyboards, photos)
and falls back on ``render_text`` for the rest, the way Rasa's base output channel turns
buttons into numbered lines.
"""
from __future__ import annotations

import logging

from bot.messages import Reply


def quiet_sdk_logger(name: str) -> None:
    """The SDKs narrate every HTTP request at INFO (httpx for python-telegram-bot, with the
    bot token in the URL; twilio.http_client, a dozen lines a message), which would bury the
    console of ``loyalty serve``. Their logger goes to WARNING, unless the operator has set a
    level for it (``logging.getLogger(name).setLevel(logging.INFO)`` to see them again)."""
    logger = logging.getLogger(name)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.WARNING)


def render_text(reply: Reply, numbered: bool, hint: str | None = None) -> str:
    """The reply as text. With ``numbered`` its buttons become "1) Title" lines (the
    customer answers with the number) followed by ``hint``; without, the buttons are left to
    the adapter. The image is left to the adapter either way. A share-phone button
    (``SHARE_PHONE``) is never a numbered line: text cannot share a contact."""
    if not numbered or not reply.choices:
        return reply.text
    lines = [reply.text] if reply.text else []
    lines.extend(f"{i}) {button.title}" for i, button in enumerate(reply.choices, 1))
    if hint:
        lines.append(hint)
    return "\n".join(lines)


class CollectingOutput:
    """An output channel that keeps what it is given, for tests: ``sent`` holds
    (address, Reply) pairs in order."""

    name = "collector"

    def __init__(self) -> None:
        self.sent: list[tuple[str, Reply]] = []

    def send(self, address: str, reply: Reply) -> str:
        """Keep the reply; the returned id stands in for a provider's message id."""
        self.sent.append((address, reply))
        return f"collected-{len(self.sent)}"

    def replies(self, address: str | None = None) -> list[Reply]:
        return [reply for to, reply in self.sent if address is None or to == address]

    def texts(self, address: str | None = None, numbered: bool = True) -> list[str]:
        return [render_text(reply, numbered, reply.hint) for reply in self.replies(address)]

    def latest(self) -> Reply | None:
        return self.sent[-1][1] if self.sent else None

    def clear(self) -> None:
        self.sent.clear()
