"""The terminal channel: a customer chat in a shell, for trying the bot without credentials.

Buttons become numbered lines; a QR image is written as a PNG file and its path printed.
"""
from __future__ import annotations

from pathlib import Path

from bot.messages import Reply
from channels.base import render_text
from rewards.qr import qr_png

NAME = "terminal"


class TerminalOutput:
    def __init__(self, qr_dir: Path) -> None:
        self.qr_dir = qr_dir

    def render(self, reply: Reply) -> str:
        text = render_text(reply, numbered=True, hint=reply.hint)
        if reply.image is not None and reply.image.kind == "qr":
            self.qr_dir.mkdir(parents=True, exist_ok=True)
            path = self.qr_dir / reply.image.filename
            path.write_bytes(qr_png(reply.image.data))
            text += f"\n[QR code saved to {path}]"
        return text
