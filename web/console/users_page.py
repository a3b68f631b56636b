"""``/users``, for the owner: the console's users (add one, change a role, disable or enable,
set a new password) and the REST API's keys (create one, shown once; revoke), with the same
domain functions as ``loyalty users`` and ``loyalty apikey``. Every change is a line of the
activity log; a password or a key's text never is."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, session, url_for

from rewards import apikeys
from rewards import staff as staff_users
from rewards.errors import LoyaltyError
from rewards.models import StaffUser
from web.console.access import Visit, staff_page
from web.console.words import ROLE_NAMES, _

bp = Blueprint("users_page", __name__, template_folder="templates")


def refusal(error: LoyaltyError) -> str:
    """The owner's words for a domain refusal (the domain's own message is English)."""
    field = getattr(error, "field", None)
    by_field = {
        "email": _("Write an email address, like ana@example.com."),
        "role": _("Choose a role: owner, manager or cashier."),
        "password": _("The password must be {low} to {high} characters long.",
                      low=staff_users.MIN_PASSWORD, high=staff_users.MAX_PASSWORD),
        "language": _("Choose English or Spanish."),
    }
    by_reason = {
        "exists": _("This email already has an account."),
        "last_owner": _("This is the last active owner: make another user owner first, "
                        "or nobody could manage the console."),
        "wrong_password": _("Your current password is not right."),
        "throttled": _("Too many attempts. Wait 15 minutes, then try again."),
        "bad_phone": _("This is not a phone number: write it with its country code, like +15550001111."),
        "already_done": _("This key was already revoked."),
        "not_found": _("Not found: it may have been changed meanwhile. Reload the page."),
    }
    if field in by_field:
        return by_field[field]
    return by_reason.get(error.reason, str(error))


def keep_signed_in(visit: Visit, user: StaffUser) -> None:
    """The signed-in user changed their own password or role: this session goes on (the
    others end, as the new session version says)."""
    if user.id == visit.staff.id:
        session["staff_v"] = user.session_version


def _field(name: str, limit: int = 254) -> str:
    return request.form.get(name, "")[:limit]


def _page(visit: Visit, status: int = 200, error: str | None = None, new_key: str | None = None,
          values: dict[str, str] | None = None) -> Any:
    users = staff_users.list_users(visit.session, visit.program.id)
    keys = apikeys.list_keys(visit.session, visit.program.id)
    return render_template("console/users.html", users=users, keys=keys, error=error, new_key=new_key,
                           values=values or {}, roles=staff_users.ROLES, languages=staff_users.LANGUAGES,
                           min_password=staff_users.MIN_PASSWORD), status


def _done(message: str) -> Any:
    flash(message)
    return redirect(url_for("users_page.index"))


@bp.get("/users")
@staff_page("owner")
def index(visit: Visit) -> Any:
    return _page(visit)


@bp.post("/users/add")
@staff_page("owner")
def add(visit: Visit) -> Any:
    values = {"email": _field("email").strip(), "role": _field("role", 16), "language": _field("language", 8)}
    try:
        user = staff_users.create(visit.session, visit.program.id, values["email"], values["role"],
                                  _field("password", staff_users.MAX_PASSWORD + 1), visit.now,
                                  language=values["language"])
    except LoyaltyError as error:
        return _page(visit, 409 if error.reason == "exists" else 422, refusal(error), values=values)
    visit.log("user_create", target=user.email, role=user.role, language=user.language)
    return _done(_("{email} can now sign in as {role}.", email=user.email, role=_(ROLE_NAMES[user.role])))


def _change(visit: Visit, user_id: int, change: Any) -> Any:
    """Run ``change(user)`` on the program's user ``user_id``: the page again with the
    refusal, or back to the list."""
    try:
        user = staff_users.get(visit.session, visit.program.id, user_id)
        message = change(user)
    except LoyaltyError as error:
        status = {"not_found": 404, "last_owner": 409}.get(error.reason, 422)
        return _page(visit, status, refusal(error))
    return _done(message)


@bp.post("/users/<int:user_id>/role")
@staff_page("owner")
def role(visit: Visit, user_id: int) -> Any:
    def change(user: StaffUser) -> str:
        before = user.role
        staff_users.set_role(visit.session, user, _field("role", 16))
        if user.role != before:
            visit.log("user_role", target=user.email, role=user.role, was=before)
            keep_signed_in(visit, user)
        return _("{email} is now {role}.", email=user.email, role=_(ROLE_NAMES[user.role]))

    response = _change(visit, user_id, change)
    if visit.staff.role != "owner":  # the owner made themselves a manager: /users is no longer theirs,
        session.pop("_flashes", None)  # nor its message (their new first page may not show one)
        return redirect(url_for("auth.console"))
    return response


@bp.post("/users/<int:user_id>/disable")
@staff_page("owner")
def disable(visit: Visit, user_id: int) -> Any:
    def change(user: StaffUser) -> str:
        staff_users.disable(visit.session, user, visit.now)
        visit.log("user_disable", target=user.email)
        return _("{email} can no longer sign in.", email=user.email)

    return _change(visit, user_id, change)


@bp.post("/users/<int:user_id>/enable")
@staff_page("owner")
def enable(visit: Visit, user_id: int) -> Any:
    def change(user: StaffUser) -> str:
        staff_users.enable(user)
        visit.log("user_enable", target=user.email)
        return _("{email} can sign in again.", email=user.email)

    return _change(visit, user_id, change)


@bp.post("/users/<int:user_id>/password")
@staff_page("owner")
def password(visit: Visit, user_id: int) -> Any:
    def change(user: StaffUser) -> str:
        staff_users.set_password(user, _field("password", staff_users.MAX_PASSWORD + 1))
        visit.log("user_password", target=user.email)
        keep_signed_in(visit, user)
        return _("{email} has a new password.", email=user.email)

    return _change(visit, user_id, change)


@bp.post("/users/keys")
@staff_page("owner")
def create_key(visit: Visit) -> Any:
    """The new key is in this response only: the page is not a redirect, and the key is
    never stored nor logged (only its hash and its first characters)."""
    name = _field("name", 101)
    try:
        key, text = apikeys.create(visit.session, visit.program.id, name, visit.now)
    except LoyaltyError:
        return _page(visit, 422, _("A key name is 1 to 100 printable characters."), values={"name": name})
    visit.log("apikey_create", target=key.name, prefix=key.prefix)
    return _page(visit, new_key=text)


@bp.post("/users/keys/<int:key_id>/revoke")
@staff_page("owner")
def revoke_key(visit: Visit, key_id: int) -> Any:
    try:
        key = apikeys.revoke_id(visit.session, visit.program.id, key_id, visit.now)
    except LoyaltyError as error:
        return _page(visit, 404 if error.reason == "not_found" else 409, refusal(error))
    visit.log("apikey_revoke", target=key.name, prefix=key.prefix)
    return _done(_('The key "{name}" ({prefix}…) no longer works.', name=key.name, prefix=key.prefix))
