"""One conversational turn: who is talking, in which program and language, at what time."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import quote

from sqlalchemy.orm import Session

from bot.i18n import Translator
from bot.messages import Button, IncomingMessage, Reply
from rewards.events import Event
from rewards.inputs import digits_as_ascii
from rewards.models import Identity, Member, Program
from rewards.program.config import ProgramConfig

MAX_TEXT = 1000  # longer input is cut: nobody types a novel to a loyalty bot


def words_of(message: IncomingMessage) -> str:
    """What a customer's message is read from: a button's payload, else the text (cut to
    MAX_TEXT), with any script's digits as 0-9 ("١" after a menu means 1). Staff commands
    read ``message.text`` itself: their amounts and codes are ASCII only."""
    return digits_as_ascii((message.payload or message.text or "")[:MAX_TEXT])


@dataclass(frozen=True)
class BotSettings:
    """What the composition root knows about the channels: invite links, staff broadcasts."""

    telegram_bot_username: str | None = None
    whatsapp_number: str | None = None  # E.164
    sms_number: str | None = None  # E.164
    flow_timeout_minutes: int = 10
    # The channels that are on, so a staff broadcast's preview counts who it would reach.
    channels: tuple[str, ...] = ()


class Speaking:
    """Saying things in the customer's language: what a turn and a voice share."""

    t: Translator
    replies: list[Reply]

    @property
    def language(self) -> str:
        return self.t.language

    def _(self, msgid: str, **values: object) -> str:
        return self.t.gettext(msgid, **values)

    def say(self, text: str, buttons: tuple[Button, ...] = (), **kwargs: object) -> None:
        if buttons and "hint" not in kwargs:
            kwargs["hint"] = self._("Reply with a number.")
        self.replies.append(Reply(text, buttons, **kwargs))  # type: ignore[arg-type]

    def points(self, n: int) -> str:
        return self.t.format_number(n)


@dataclass
class Voice(Speaking):
    """Enough of a turn to answer a member who only asked to see something (bot/quick.py)."""

    config: ProgramConfig
    t: Translator
    replies: list[Reply] = field(default_factory=list)


@dataclass
class Turn(Speaking):
    session: Session
    program: Program
    config: ProgramConfig
    identity: Identity
    message: IncomingMessage
    now: datetime
    t: Translator
    settings: BotSettings
    replies: list[Reply] = field(default_factory=list)
    # Things that happened to other members in this turn (a referrer rewarded when their
    # friend joins): the caller tells them on their own channel.
    others: list[Event] = field(default_factory=list)

    @property
    def member(self) -> Member | None:
        return self.identity.member

    @property
    def words(self) -> str:
        return words_of(self.message)


def invite_links(settings: BotSettings, code: str) -> dict[str, str]:
    """Ready-to-share links for each channel that is on (invites)."""
    links: dict[str, str] = {}
    if settings.telegram_bot_username:
        links["telegram"] = f"https://t.me/{settings.telegram_bot_username}?start={code}"
    if settings.whatsapp_number:
        links["whatsapp"] = f"https://wa.me/{settings.whatsapp_number.lstrip('+')}?text={quote('JOIN ' + code)}"
    if settings.sms_number:
        links["sms"] = settings.sms_number
    return links
