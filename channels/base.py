"""What every channel shares: the plain-text rendering of a Reply, and quieting the SDKs'
request logs.

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
