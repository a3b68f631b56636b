"""The merchant's console: server-rendered pages for the owner, managers and cashiers.

Each page is a module with its own blueprint, listed in ``PAGES``; ``menu.NAV`` is the menu
(a user sees the entries their role may open: ``access.staff_page`` on the view says which).
Everything the pages use is served from ``web/console/static`` (no CDN), under a Content
Security Policy that allows our own scripts and styles only: no inline ``<script>``, no
``style=""`` attributes (SVG presentation attributes like ``fill`` are fine).
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, render_template, request
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFError, CSRFProtect, generate_csrf
from werkzeug.exceptions import HTTPException

from rewards import staff as staff_users
from web.console import (
    account_page,
    activity_page,
    auth,
    campaigns_page,
    dashboard,
    members_page,
    menu,
    pos,
    users_page,
    words,
)
from web.runtime import runtime

# Every page blueprint (one line each).
PAGES: tuple[Blueprint, ...] = (auth.bp, activity_page.bp, dashboard.bp, pos.bp, users_page.bp, account_page.bp,
                                 campaigns_page.bp, members_page.bp)
static = Blueprint("console_static", __name__, static_folder="static", static_url_path="/console/static")
csrf = CSRFProtect()
CSP = ("default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; script-src 'self'; "
       "style-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
SESSION_SECRET = "console-session"


class _Sessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, for console pages only. Without SECRET_KEY the key is
    a random one the app keeps in its database (so every process signs alike)."""

    def get_signing_serializer(self, app: Flask) -> Any:
        if not app.secret_key:
            if not _is_console_request():
                return None  # a webhook or the API: no session, and no database call for one
            rt = runtime()
            app.secret_key = rt.run(lambda db: staff_users.app_secret(db, SESSION_SECRET))
        return super().get_signing_serializer(app)


_CONSOLE_BLUEPRINTS = {bp.name for bp in PAGES}


def _is_console_request() -> bool:
    """Whether this request is for a console page (the session opens before Flask has
    matched the URL, so it is matched here)."""
    try:
        endpoint, _ = current_app.url_map.bind_to_environ(request.environ).match(method=request.method)
    except HTTPException:
        return False
    return str(endpoint).split(".")[0] in _CONSOLE_BLUEPRINTS


def init_app(app: Flask) -> None:
    settings = runtime_settings(app)
    app.session_interface = _Sessions()
    app.config.update(
        SESSION_COOKIE_NAME="loyalty_console",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=bool(settings.public_base_url and settings.public_base_url.startswith("https://")),
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        WTF_CSRF_CHECK_DEFAULT=False,  # only the console's blueprints are checked (below)
        WTF_CSRF_TIME_LIMIT=12 * 3600,
    )
    csrf.init_app(app)
    app.register_blueprint(static)
    for bp in PAGES:
        app.register_blueprint(bp)
    # Hooks of the app, not of the blueprints: a blueprint is a module global that every app
    # made in a process registers, and takes no new hooks after its first registration.
    app.before_request(_protect)
    app.after_request(_headers)
    app.register_error_handler(CSRFError, _csrf_refused)
    app.jinja_env.add_extension("jinja2.ext.i18n")
    # Old style: Jinja passes _()'s named arguments on to words.gettext, which fills "{n}"
    # (newstyle would call it with the text alone and apply % to the result: "{n}" stayed as is).
    app.jinja_env.install_gettext_callables(words.gettext, words.ngettext, newstyle=False)  # type: ignore[attr-defined]
    app.jinja_env.filters.update(
        number=words.number, percent=words.percent, day=words.day,
        money=lambda value: words.money(value, g.currency),
        moment=lambda value: words.moment(value, g.timezone),
    )
    app.jinja_env.globals.update(console_menu=menu.entries, csrf_token=generate_csrf, role_names=words.ROLE_NAMES)


def runtime_settings(app: Flask) -> Any:
    return app.extensions["loyalty"].settings


def _protect() -> None:
    if request.blueprint in _CONSOLE_BLUEPRINTS and request.method not in ("GET", "HEAD", "OPTIONS"):
        csrf.protect()


def _headers(response: Response) -> Response:
    if request.blueprint not in _CONSOLE_BLUEPRINTS:
        return response
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Permissions-Policy"] = "camera=(self), microphone=(), geolocation=()"
    if response.mimetype == "text/html":
        response.headers["Cache-Control"] = "no-store"  # members' data: not kept by the browser
    return response


def _csrf_refused(error: CSRFError) -> Any:
    return render_template("console/refused.html", title=words._("This form has expired"),
                           message=words._("The page was open too long or came from another site. "
                                           "Go back, reload the page and try again.")), 400
