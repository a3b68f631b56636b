"""``/activity``: the activity log, for the owner: who did what, when, on whom; filtered by
person, action and day."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, render_template, request

from rewards import activity
from rewards import staff as staff_users
from web.console.access import Visit, staff_page

bp = Blueprint("activity_page", __name__, template_folder="templates")
PAGE = 100


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


@bp.get("/activity")
@staff_page("owner")
def index(visit: Visit) -> Any:
    zone = ZoneInfo(visit.config.timezone)
    email = request.args.get("email", "").strip()[:254] or None
    action = request.args.get("action", "").strip()[:64] or None
    target = request.args.get("target", "").strip()[:200] or None
    on = _day(request.args.get("day"))
    since = datetime.combine(on, datetime.min.time(), zone) if on else None
    until = since + timedelta(days=1) if since else None
    before = request.args.get("before", type=int)
    rows = activity.entries(visit.session, visit.program.id, email=email, action=action, target=target,
                            since=since, until=until, limit=PAGE + 1, before_id=before)
    users = staff_users.list_users(visit.session, visit.program.id)
    return render_template("console/activity.html", rows=rows[:PAGE], more=rows[PAGE - 1].id if len(rows) > PAGE else None,
                           users=users, email=email or "", action=action or "", target=target or "",
                           day=on.isoformat() if on else "")
