"""Who may open which console page, checked on the server for every page and every POST.

A view decorated ``@staff_page("owner", "manager")`` runs in one transaction (``Runtime.run``)
with a ``Visit``: the signed-in staff user, the program, the time. Not signed in: a redirect
to /login. Signed in with another role: 403. The session cookie (Flask's signed cookie)
holds the user's id and ``session_version``; a password change, a role change or disabling
the user bumps that version, so older cookies stop working at their next request.
"""
from __future__ import annotations

import functools
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import g, redirect, render_template, request, session, url_for
from sqlalchemy.orm import Session

from rewards import activity
from rewards.events import Event
from rewards.models import Program, StaffUser
from rewards.program.config import ProgramConfig
from rewards.staff import ROLES
from web.inbox import notify
from web.runtime import runtime

__all__ = ["ROLES", "Visit", "staff_page", "start_session", "end_session", "signed_in_user"]


@dataclass
class Visit:
    session: Session
    staff: StaffUser
    program: Program
    config: ProgramConfig
    now: datetime
    language: str

    @property
    def actor(self) -> str:
        """Who did it, as the ledger and the code throttle record it."""
        return f"staff:{self.staff.email}"

    def log(self, action: str, target: str | None = None, **details: Any) -> None:
        """One line of the activity log (who, what, when, on whom), in this transaction."""
        activity.record(self.session, self.staff, action, self.now, target, **details)

    def notify(self, events: list[Event]) -> None:
        """Queue the member's chat messages for ``events``, as the API does."""
        notify(self.session, events, self.now, runtime().enabled_channels)


def start_session(user: StaffUser) -> None:
    """Signed in: a new session (nothing kept from before, a new random id)."""
    session.clear()
    session.permanent = True
    session.update(staff_id=user.id, staff_v=user.session_version, sid=secrets.token_urlsafe(16),
                   language=user.language)


def end_session() -> None:
    session.clear()


def signed_in_user(db: Session, program_id: int) -> StaffUser | None:
    staff_id = session.get("staff_id")
    if not isinstance(staff_id, int):
        return None
    user = db.get(StaffUser, staff_id)
    if (user is None or user.program_id != program_id or user.disabled_at is not None
            or user.session_version != session.get("staff_v")):
        return None
    return user


def may_open(role: str, roles: tuple[str, ...]) -> bool:
    return role in roles


def staff_page(*roles: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles {unknown}")

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        view.staff_roles = roles  # type: ignore[attr-defined]  # read by the nav

        @functools.wraps(view)
        def wrapper(**kwargs: Any) -> Any:
            rt = runtime()

            def work(db: Session) -> Any:
                program, config = rt.program(db)
                user = signed_in_user(db, program.id)
                if user is None:
                    end_session()
                    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
                g.staff, g.language, g.program_name = user, user.language, program.name
                g.currency, g.timezone = program.currency, program.timezone
                if user.role not in roles:
                    return render_template("console/forbidden.html"), 403
                return view(Visit(db, user, program, config, rt.clock(), user.language), **kwargs)

            return rt.run(work)

        return wrapper

    return decorate
