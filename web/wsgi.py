"""The WSGI entry point for production: ``gunicorn web.wsgi:app`` (Procfile ``web``).

Web workers here only serve requests; ``loyalty worker`` sends. A request that queues
messages makes PostgreSQL NOTIFY (a trigger on the outbox, delivered as it commits), and
the worker, LISTENing, sends within milliseconds. Why not a sender in every web worker as well: rate limits are kept per sender
process, so N web workers all sending would go N times over a channel's limit. (No row would
be sent twice either way: claims are exclusive.)

The /chat demo page is off here unless LOYALTY_WEB_CHAT is set: whoever types a phone
number there acts as that customer.
"""
from __future__ import annotations

import dataclasses
import os

from flask import Flask

from web.app import create_app
from web.boot import or_exit
from web.providers import telegram
from web.settings import Settings


def make_app() -> Flask:
    settings = Settings.from_env()
    if not os.environ.get("LOYALTY_WEB_CHAT", "").strip():
        settings = dataclasses.replace(settings, web_chat=False)
    app = create_app(settings)
    telegram.learn_at_start(app.extensions["loyalty"])  # not inside a webhook request
    return app


# Settings that cannot work: one line and an exit gunicorn stops on (web/boot.py). Its master
# checks them first (gunicorn.conf.py); this is for a server started without that file.
app = or_exit(make_app)
