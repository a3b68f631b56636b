"""Personal data and bearer secrets kept out of every log line this process writes.

Access logs name the request's path, and paths carry what must not be kept: a phone
number (``GET /api/v1/members/+15550000002``, ``/chat/messages?phone=%2B1555...``), a
redemption code (``POST /api/v1/codes/<code>/redeem``), a QR media token (a link that
shows a code to whoever holds it). Our own lines and third parties' (an SQL error's
parameters, an SDK's request) may too. So the masking is done where every log record is
made, whoever's logger it is (werkzeug's and gunicorn's access logs, ours, a traceback):
``install`` wraps logging's record factory, once per process, from the app factory.

Masked: a phone (``+``/``%2B`` and 7 to 15 digits) keeps its country prefix and last two
digits (``rewards.phones.mask``); a redemption code, written whole or in groups
(``K7QM-3XPA-9RT2W``), and whatever follows ``/codes/`` or ``/media/qr/`` in a path become ``***``.
"""
from __future__ import annotations

import logging
import re
from typing import Any

from rewards.codes import ALPHABET, REDEMPTION_LENGTH
from rewards.phones import mask

_SYMBOL = f"[{ALPHABET}]"
_PATTERN = re.compile(
    r"(?P<phone>(?:\+|%2[Bb])\d{7,15})(?!\d)"
    r"|(?P<path>/(?:codes|media/qr)/)[^/\s?#\"']+"
    rf"|(?<![0-9A-Za-z-])(?P<code>{_SYMBOL}{{4}}-{_SYMBOL}{{4}}-{_SYMBOL}{{{REDEMPTION_LENGTH - 8}}}"
    # ungrouped, with a letter in it: a 13-digit number (a time in ms, a chat id) is no code
    rf"|(?=\d*[A-Z]){_SYMBOL}{{{REDEMPTION_LENGTH}}})(?![0-9A-Za-z-])"
)
_MASKED = "***"
_INSTALLED = "_loyalty_redacts"


def _replace(found: re.Match[str]) -> str:
    phone = found.group("phone")
    if phone is not None:
        prefix = "+" if phone.startswith("+") else phone[:3]
        return prefix + mask("+" + phone[len(prefix):])[1:]
    if found.group("path") is not None:
        # A media token's ".png" goes with it: nothing of the token is left to try.
        return found.group("path") + _MASKED
    return _MASKED


def redact(text: str) -> str:
    """``text`` with phone numbers, redemption codes and media tokens masked."""
    return _PATTERN.sub(_replace, text)


def _redacted(record: logging.LogRecord) -> logging.LogRecord:
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a broken format is logging's to report, as it would
        return record
    masked = redact(message)
    if masked != message:
        record.msg, record.args = masked, None
    if record.exc_info and not record.exc_text:
        # Formatted now, masked, and kept: handlers print exc_text when it is set.
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    return record


def install() -> None:
    """Mask every log record made in this process from now on (safe to call again)."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, _INSTALLED, False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return _redacted(previous(*args, **kwargs))

    setattr(factory, _INSTALLED, True)
    logging.setLogRecordFactory(factory)
