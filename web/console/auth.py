"""``/login`` and ``/logout``: signing in to the console with an email and a password.

A refusal is one line that does not say whether the email exists; after too many failures
for an account or from an address (rewards/staff.py) every attempt is refused for a while,
even a right one.
"""
from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, g, redirect, render_template, request, session, url_for
from sqlalchemy.orm import Session

from rewards import activity
from rewards import staff as staff_users
from web.console import access, menu, words
from web.runtime import runtime

log = logging.getLogger("loyalty.console")
bp = Blueprint("auth", __name__, template_folder="templates")


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site (never //other.example or https://other.example)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target


def _home(role: str) -> str:
    endpoint = menu.home_endpoint(role)
    return url_for(endpoint) if endpoint else url_for("auth.login")


@bp.get("/console")
def console() -> Any:
    """The console's front door: the user's first page, or the sign-in form."""
    rt = runtime()

    def work(db: Session) -> Any:
        program, _ = rt.program(db)
        user = access.signed_in_user(db, program.id)
        return redirect(_home(user.role) if user else url_for("auth.login"))

    return rt.run(work)


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    rt = runtime()
    g.language = words.supported_language(request.accept_languages.best_match(["en", "es"]))
    next_page = _safe_next(request.values.get("next"))
    if request.method == "GET":
        return render_template("console/login.html", next=next_page, email="", error=None)
    email = request.form.get("email", "")[:254]
    password = request.form.get("password", "")[:staff_users.MAX_PASSWORD + 1]
    address = request.remote_addr or "unknown"

    def work(db: Session) -> Any:
        program, _ = rt.program(db)
        result = staff_users.sign_in(db, program.id, email, password, address, rt.clock())
        if result.user is None:
            return result.refused, None
        activity.record(db, result.user, "sign_in", rt.clock())
        access.start_session(result.user)
        return None, result.user.role

    refused, role = rt.run(work)
    if refused is not None:
        log.warning("console: a sign-in was refused (%s)", refused)
        error = (words._("Too many attempts. Wait 15 minutes, then try again.") if refused == "throttled"
                 else words._("That email and password do not match an account that can sign in."))
        return render_template("console/login.html", next=next_page, email=email, error=error), (
            429 if refused == "throttled" else 401)
    return redirect(next_page or _home(role))


@bp.post("/logout")
def logout() -> Any:
    language = session.get("language")
    access.end_session()
    g.language = language
    return redirect(url_for("auth.login"))
