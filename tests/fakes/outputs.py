"""An output channel for tests: keeps what it is given instead of sending it."""
from __future__ import annotations

from bot.messages import Reply
from channels.base import render_text


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
