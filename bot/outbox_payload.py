"""Replies as plain JSON for the outbox (rewards/outbox.py stores dicts; it may not import
``bot``), and back again for the sender.

``{"text": ..., "buttons": [[title, payload], ...], "image": {"kind", "data", "filename"} | null,
"hint": ... | null}``, and on the web chat ``"said"``: the customer's words it answers
(channels/webchat.py). The reply's kind is not here: it is the outbox row's ``kind`` column.
"""
from __future__ import annotations

from typing import Any

from bot.messages import REPLY_KINDS, Button, Image, Reply


def to_payload(reply: Reply) -> dict[str, Any]:
    image = reply.image
    return {
        "text": reply.text,
        "buttons": [[button.title, button.payload] for button in reply.buttons],
        "image": None if image is None else {"kind": image.kind, "data": image.data, "filename": image.filename},
        "hint": reply.hint,
    }


def from_payload(payload: dict[str, Any], kind: str = "reply") -> Reply:
    """The Reply a payload was made from. ``kind`` is the outbox row's; a campaign message
    reads as a notice."""
    image = payload.get("image")
    return Reply(
        text=payload.get("text", ""),
        buttons=tuple(Button(str(title), str(data)) for title, data in payload.get("buttons") or ()),
        image=None if image is None else Image(image["kind"], image["data"], image["filename"]),
        kind=kind if kind in REPLY_KINDS else "notice",
        hint=payload.get("hint"),
    )
