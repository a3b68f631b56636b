"""``GET /healthz/details``: for operators, how each channel is doing, as JSON. Separate from
``GET /healthz`` (which load balancers call often): this one reads the outbox.

    {"status": "ok" | "failing", "channels": [{"channel": "telegram", "queued": 50,
     "retrying": 50, "oldest_waiting_seconds": 95, "failing": true,
     "failing_since": "2026-03-02T15:00:05+00:00", "consecutive_failures": 212,
     "last_error": "TelegramUnavailable('telegram: Bad Gateway')", ...}]}

Counts and provider errors only: no address, no message.
"""
from __future__ import annotations

from typing import Any

from flask import Flask, jsonify
from sqlalchemy.exc import SQLAlchemyError

from rewards import channel_health
from web.runtime import runtime


def init_app(app: Flask) -> None:
    @app.get("/healthz/details")
    def healthz_details() -> Any:
        rt = runtime()
        try:
            with rt.transaction() as session:
                reports = channel_health.report(session, rt.clock())
        except SQLAlchemyError as error:
            return jsonify(status="database unavailable", error=type(error).__name__), 503
        failing = [r.channel for r in reports if r.failing]
        return jsonify(status="failing" if failing else "ok", failing=failing,
                       channels=[r.as_json() for r in reports])
