"""What the provider registry (web/providers/__init__.py) knows of each provider module.

A provider module (``web/providers/<name>.py``) exposes ``statuses(settings)`` (each of its
channels on or off, and why), ``adapters(settings, sessions, clock)`` (an adapter for each
of its channels that is on, for the sender) and ``init_app(app)`` (its webhooks, if any).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ChannelStatus:
    name: str
    on: bool
    why: str  # what turns it on, or what it is served by
