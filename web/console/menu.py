"""The console's menu: each entry a page's endpoint and its label (an English msgid,
translated when drawn). A user sees the entries their role may open, as the page's
``access.staff_page`` says; their first one is where signing in lands."""
from __future__ import annotations

from flask import current_app, g

from web.console import words

NAV: tuple[tuple[str, str], ...] = (
    ("dashboard_page.index", words.N_("Dashboard")),
    ("members_page.index", words.N_("Members")),
    ("campaigns_page.index", words.N_("Campaigns")),
    ("pos.page", words.N_("Till")),
    ("activity_page.index", words.N_("Activity")),
    ("users_page.index", words.N_("Users")),
    ("account_page.index", words.N_("My account")),  # every role; keep it last
)


def _roles(endpoint: str) -> tuple[str, ...]:
    return getattr(current_app.view_functions.get(endpoint), "staff_roles", ())


def home_endpoint(role: str) -> str | None:
    """The first menu entry ``role`` may open."""
    return next((endpoint for endpoint, _label in NAV if role in _roles(endpoint)), None)


def entries() -> list[tuple[str, str]]:
    """The signed-in user's menu: (endpoint, translated label)."""
    user = getattr(g, "staff", None)
    if user is None:
        return []
    return [(endpoint, words._(label)) for endpoint, label in NAV if user.role in _roles(endpoint)]
