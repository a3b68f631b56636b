"""The Flask app factory: the runtime, the blueprints and their OpenAPI fragments, /healthz."""
from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify, request
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from rewards.storage.db import session_factory
from web import (
    api,
    api_support,
    campaign_api,
    chat_page,
    console,
    database,
    health_details,
    json_body,
    media,
    metrics_api,
    providers,
    redaction,
)
from web.database import open_engine
from web.runtime import Runtime
from web.settings import Settings

log = logging.getLogger("loyalty")


def create_app(settings: Settings | None = None, **overrides: Any) -> Flask:
    settings = settings or Settings.from_env()
    redaction.install()  # before anything logs: no phone, code or media token in any log line
    app = Flask("loyalty")
    app.json = json_body.JsonProvider(app)  # request.get_json reads as our endpoints do
    app.config["SECRET_KEY"] = settings.secret_key
    app.config["MAX_CONTENT_LENGTH"] = 256 * 1024
    app.config.update(overrides)
    engine = open_engine(settings.database_url, sql_through_orm=settings.sql_through_orm)
    app.extensions["loyalty"] = Runtime(settings, engine, session_factory(engine),
                                        enabled_channels=tuple(providers.enabled_channels(settings)))

    # The REST API: one blueprint a subject, one OpenAPI document for all of them.
    app.register_blueprint(api.bp)
    app.register_blueprint(campaign_api.bp)
    app.register_blueprint(metrics_api.bp)
    app.extensions[api.OPENAPI_KEY] = api_support.merge_openapi(api.OPENAPI, campaign_api.OPENAPI, metrics_api.OPENAPI)
    app.register_error_handler(HTTPException, api_support.http_error)
    chat_page.init_app(app)
    console.init_app(app)
    providers.init_app(app)
    media.init_app(app)
    health_details.init_app(app)

    @app.get("/healthz")
    def healthz() -> Any:
        """200 while the database answers; 503 (a load balancer takes this process out)
        when it does not, saying why without the URL or its password."""
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except DBAPIError as error:
            reason = database.describe_failure(error, engine.url)
            log.error("healthz: the database does not answer: %s", reason)
            return jsonify(status="unavailable", database=reason), 503
        return jsonify(status="ok")

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    @app.errorhandler(PoolTimeout)
    def database_unavailable(error: Exception) -> Any:
        """Any page whose database is unreachable or busy: 503, never a 500 with a trace."""
        log.error("%s: the database is unavailable: %s", request.path, type(getattr(error, "orig", error)).__name__)
        return jsonify(error="database_unavailable", message="the database is unavailable; try again shortly"), 503

    @app.get("/")
    def index() -> Any:
        # The /chat link only where the page is on (LOYALTY_WEB_CHAT): off, it would be a 404.
        # Off (production), no demo hints either: customers reach the bot on their channels.
        page = ("<!doctype html><title>Loyalty</title><h1>Loyalty bot is running</h1>"
                "<p>Merchants: <a href=\"/console\">sign in to the console</a>.</p>")
        if settings.web_chat:
            page += ("<p>Try it: <a href=\"/chat\">chat with the bot</a> in this browser, or in a terminal: "
                     "<code>loyalty chat --as +15550001111</code>.</p>")
        return page

    return app
