"""The web chat channel: the ``/chat`` page, for trying the bot in a browser.

Its "provider" is the outbox itself. Replies take the same road as on any channel (queued
in the webhook's transaction, claimed and "sent" by the sender under its rate limits); the
adapter's send only returns a synthetic id, and the page reads the sent rows for its
address (the customer's E.164 phone) by polling. Buttons are drawn as buttons, so the
text-only hint is left out; a QR is fetched as a PNG by the outbox row's id.

What the customer said is kept in the payload of the first reply it got (``receive``), so a
page opened again for the number draws both sides. Kept there and nowhere else, it is erased
with the reply: at "delete my data" and after the retention period, like the bot's words.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.messages import Reply
from bot.outbox_payload import from_payload
from rewards.models import OutboxMessage

NAME = "web"
# Rows looked at per poll: a page that fell far behind catches up over a few polls.
PAGE = 100


class WebChatOutput:
    """The sender's adapter for ``web``: nothing to call, the page reads the outbox."""

    name = NAME

    def send(self, address: str, reply: Reply) -> str:
        return f"web-{uuid.uuid4().hex}"


@dataclass(frozen=True, slots=True)
class Page:
    messages: list[dict[str, Any]]  # sent rows, oldest first, as the page draws them
    cursor: int  # ``after`` for the next poll
    pending: bool  # a reply is queued or being sent: poll again soon
    more: bool  # there may be more sent rows past ``cursor`` already


def render(row: OutboxMessage) -> dict[str, Any]:
    """One sent row as the page's JSON (the image as a flag; the web layer makes the URL)."""
    reply = from_payload(dict(row.payload), row.kind)
    return {
        "id": row.id,
        "kind": row.kind,
        "said": row.payload.get("said"),  # the customer's message this answers, if any
        "text": reply.text,
        # ``choices``: a share-phone button means nothing here, the page knows the number.
        "buttons": [{"title": b.title, "payload": b.payload} for b in reply.choices],
        "qr": reply.image is not None and reply.image.kind == "qr",
        "picture": reply.image.data if reply.image is not None and reply.image.kind == "url" else None,
    }


def conversation(session: Session, program_id: int, address: str, after: int) -> Page:
    """What the page has not shown yet. Rows are walked in id order and the walk stops at
    the first one still queued or sending: a later row the sender happened to finish first
    (a reply goes before an older notice) waits for it, so the cursor never jumps a row that
    is still to come. Failed and skipped rows are passed over."""
    rows = session.scalars(
        select(OutboxMessage)
        .where(
            OutboxMessage.program_id == program_id, OutboxMessage.channel == NAME,
            OutboxMessage.address == address, OutboxMessage.id > after,
        )
        .order_by(OutboxMessage.id)
        .limit(PAGE)
    ).all()
    messages: list[dict[str, Any]] = []
    cursor, pending = after, False
    for row in rows:
        if row.status in ("queued", "sending"):
            pending = True
            break
        cursor = row.id
        if row.status == "sent":
            messages.append(render(row))
    return Page(messages, cursor, pending, more=not pending and len(rows) == PAGE)


def qr_data(session: Session, program_id: int, address: str, outbox_id: int) -> str | None:
    """The text a sent web-chat row's QR encodes, or None (no such row for this address,
    not sent, or no QR): nobody reads another chat's codes by counting ids."""
    row = session.get(OutboxMessage, outbox_id)
    if row is None or row.program_id != program_id or row.channel != NAME or row.address != address:
        return None
    if row.status != "sent":
        return None
    image = from_payload(dict(row.payload), row.kind).image
    return image.data if image is not None and image.kind == "qr" else None
