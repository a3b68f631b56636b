"""``/account``, for every role: one's own language (the console speaks it from the next
page on), password (the current one required) and phone (where a campaign's test send goes,
read in the program's country when written without +country)."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, session, url_for

from rewards import staff as staff_users
from rewards.errors import LoyaltyError
from web.console.access import ROLES, Visit, staff_page
from web.console.users_page import keep_signed_in, refusal
from web.console.words import _

bp = Blueprint("account_page", __name__, template_folder="templates")


def _page(visit: Visit, status: int = 200, errors: dict[str, str] | None = None,
          phone: str | None = None) -> Any:
    return render_template("console/account.html", user=visit.staff, errors=errors or {},
                           phone=(visit.staff.phone or "") if phone is None else phone,
                           languages=staff_users.LANGUAGES, min_password=staff_users.MIN_PASSWORD), status


def _done(message: str) -> Any:
    flash(message)
    return redirect(url_for("account_page.index"))


@bp.get("/account")
@staff_page(*ROLES)
def index(visit: Visit) -> Any:
    return _page(visit)


@bp.post("/account/language")
@staff_page(*ROLES)
def language(visit: Visit) -> Any:
    try:
        staff_users.set_language(visit.staff, request.form.get("language", "")[:8])
    except LoyaltyError as error:
        return _page(visit, 422, {"language": refusal(error)})
    session["language"] = visit.staff.language
    visit.log("account_language", language=visit.staff.language)
    return _done(_("Your language is saved."))


@bp.post("/account/password")
@staff_page(*ROLES)
def password(visit: Visit) -> Any:
    limit = staff_users.MAX_PASSWORD + 1
    new, again = request.form.get("new", "")[:limit], request.form.get("again", "")[:limit]
    if new != again:
        return _page(visit, 422, {"password": _("The two new passwords are not the same.")})
    try:
        staff_users.change_own_password(visit.session, visit.staff, request.form.get("current", "")[:limit],
                                        new, visit.now)
    except LoyaltyError as error:
        status = 429 if error.reason == "throttled" else 403 if error.reason == "wrong_password" else 422
        visit.log("account_password", refused=error.reason)
        return _page(visit, status, {"password": refusal(error)})
    keep_signed_in(visit, visit.staff)
    visit.log("account_password")
    return _done(_("Your password is changed. Your other sessions are signed out."))


@bp.post("/account/phone")
@staff_page(*ROLES)
def phone(visit: Visit) -> Any:
    text = request.form.get("phone", "")[:40]
    try:
        staff_users.set_phone(visit.staff, text, visit.config.phone_region)
    except LoyaltyError as error:
        return _page(visit, 422, {"phone": refusal(error)}, phone=text)
    visit.log("account_phone", phone="set" if visit.staff.phone else "removed")
    return _done(_("Your phone number is saved.") if visit.staff.phone else _("Your phone number is removed."))
