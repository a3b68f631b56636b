"""The values that cross the line between a channel and the conversational core.

A channel parses what a provider delivers into an ``IncomingMessage``; the core answers with
``Reply`` values, which the channel renders in the provider's own form. Nothing here knows a
provider.
"""
from __future__ import annotations

from dataclasses import dataclass

REPLY_KINDS = frozenset({"reply", "notice"})

# A Button with this payload asks for the customer's own phone number, so their identity on
# this channel can join the wallet that number has on WhatsApp/SMS. Telegram draws it as a
# "share my contact" button; text channels leave it out (they know the number already).
# The shared contact comes back as an IncomingMessage with this payload and ``phone`` set.
SHARE_PHONE = "share-phone"


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """One message from a customer.

    ``address`` is where replies go on that channel (a Telegram chat id, a phone number).
    ``phone`` is a verified E.164 number when the channel knows one (the WhatsApp or SMS
    sender, a contact shared on Telegram, the terminal's ``--as``); a number typed in the
    text is never verified. ``payload`` is a button callback or a deep-link payload.
    """

    program_id: int
    channel: str
    address: str
    text: str
    provider_message_id: str | None = None
    phone: str | None = None
    language_hint: str | None = None
    payload: str | None = None


@dataclass(frozen=True, slots=True)
class Button:
    """A choice offered to the customer: ``payload`` is what comes back when it is chosen."""

    title: str
    payload: str


@dataclass(frozen=True, slots=True)
class Image:
    """An image that goes with a reply. For ``kind="qr"`` ``data`` is the text to encode;
    the channel draws it (or links to it) the way its provider can show it. For
    ``kind="url"`` (a campaign's picture) ``data`` is an http(s) address the provider fetches."""

    kind: str
    data: str
    filename: str


@dataclass(frozen=True, slots=True)
class Reply:
    """What the customer should read, in their language.

    ``kind`` is "reply" (an answer to their message) or "notice" (something that happened:
    points earned, a tier change), which lets the sender give replies priority.
    ``hint`` tells a text-only channel how to answer the buttons ("Reply with a number to
    redeem."); channels that draw buttons ignore it. ``ephemeral``: the outbox erases its
    address and text as soon as it is sent (a data export, the deletion's confirmation).
    """

    text: str
    buttons: tuple[Button, ...] = ()
    image: Image | None = None
    kind: str = "reply"
    hint: str | None = None
    ephemeral: bool = False

    @property
    def choices(self) -> tuple[Button, ...]:
        """The buttons a customer can also answer by number: all but the share-phone one."""
        return tuple(button for button in self.buttons if button.payload != SHARE_PHONE)

    def __post_init__(self) -> None:
        if self.kind not in REPLY_KINDS:
            raise ValueError(f"Reply.kind must be one of {sorted(REPLY_KINDS)}, not {self.kind!r}")
        if not isinstance(self.buttons, tuple):
            # A list would make the frozen value unhashable and shareable-by-mistake.
            object.__setattr__(self, "buttons", tuple(self.buttons))
