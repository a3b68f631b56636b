"""``/members``: the shop's members for owners and managers: a search by phone, member code
or name, a list sorted by balance, last visit or join date, a page at a time, and its CSV
(``/members.csv``, streamed). ``/members/<code>``: one member's standing, ledger, codes,
referrals and channels, with what staff may do for them: adjust points with a reason,
cancel an unused code, send their invite again. Every action is one line of the activity
log and comes back to the page as one line saying what happened (post, redirect, get).

The queries are the domain's (rewards/member_search.py, rewards/member_profile.py,
``ledger.history``, rewards/standing.py); this module reads the form and draws the page.
"""
from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from bot.outbox_payload import to_payload
from bot.views import invite_message
from rewards import earning, ledger, member_profile, member_search, members, outbox, redemption
from rewards.errors import LoyaltyError
from rewards.events import PointsAdjusted
from rewards.models import Member
from rewards.phones import mask
from rewards.standing import standing
from web.console import words
from web.console.access import Visit, staff_page
from web.console.words import _
from web.runtime import runtime

bp = Blueprint("members_page", __name__, template_folder="templates")
PAGE = 50  # members a page
HISTORY = 25  # ledger entries a page
CSV_CHUNK = 1000
ROLES = ("owner", "manager")
MAX_REASON = 200


def _search(visit: Visit) -> member_search.Search:
    sort = request.args.get("sort", "joined")
    return member_search.Search(
        text=request.args.get("q", "")[:member_search.MAX_QUERY],
        sort=sort if sort in member_search.SORTS else "joined",
        descending=request.args.get("dir", "desc") != "asc",
        region=visit.config.phone_region,
    )


def _page_number(name: str = "page") -> int:
    number = request.args.get(name, 1, type=int) or 1
    return min(max(1, number), 100_000)


@bp.get("/members")
@staff_page(*ROLES)
def index(visit: Visit) -> Any:
    search = _search(visit)
    number = _page_number()
    rows = member_search.page(visit.session, visit.program.id, search, PAGE + 1, (number - 1) * PAGE)
    total = member_search.count(visit.session, visit.program.id, search)
    return render_template("console/members.html", rows=rows[:PAGE], more=len(rows) > PAGE, page=number,
                           search=search, sorts=_sort_labels(), direction="desc" if search.descending else "asc",
                           total=words.ngettext("{n} member", "{n} members", total))


def _sort_labels() -> list[tuple[str, str]]:
    return [("joined", _("Join date")), ("balance", _("Balance")), ("last_visit", _("Last visit"))]


CSV_HEADER = ("member_code", "name", "phone", "balance", "tier", "joined_at", "last_visit_at", "language",
              "marketing_consent")


@bp.get("/members.csv")
@staff_page(*ROLES)
def export(visit: Visit) -> Any:
    """Every member the search finds, in its order, streamed a chunk at a time (each chunk
    read in a short transaction of its own after this one has committed)."""
    search = _search(visit)
    visit.log("members.export", q=search.text, sort=search.sort)
    rt, program_id = runtime(), visit.program.id

    def lines() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)

        def flush() -> str:
            text = buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            return text

        writer.writerow(CSV_HEADER)
        yield flush()
        cursor = None
        while True:
            with rt.transaction() as session:
                rows = member_search.after(session, program_id, search, cursor, CSV_CHUNK)
            for row in rows:
                writer.writerow((row.code, _cell(row.name), row.phone or "", row.balance, row.tier or "",
                                 row.joined_at.isoformat(), row.last_activity_at.isoformat(), row.language,
                                 "yes" if row.marketing_consent else "no"))
            yield flush()
            if len(rows) < CSV_CHUNK:
                return
            cursor = (rows[-1].sort_value(search.sort), rows[-1].id)

    return Response(lines(), mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="members.csv"'})


def _cell(text: str | None) -> str:
    """A name as a spreadsheet cell, never a formula (=, +, -, @ start one)."""
    if not text:
        return ""
    return "'" + text if text[0] in "=+-@\t\r" else text


def _member(visit: Visit, code: str) -> Member:
    member = members.by_code(visit.session, visit.program.id, code) if len(code) <= 32 else None
    if member is None:
        abort(404)
    return member


@bp.get("/members/<code>")
@staff_page(*ROLES)
def show(visit: Visit, code: str) -> Any:
    member = _member(visit, code)
    number = _page_number("history")
    entries = ledger.history(visit.session, member.id, HISTORY + 1, (number - 1) * HISTORY)
    codes = member_profile.codes(visit.session, member.id)
    return render_template(
        "console/member.html", member=member, phone=member.phone, masked=mask(member.phone),
        figures=standing(visit.session, visit.config, member, visit.now),
        entries=entries[:HISTORY], more=len(entries) > HISTORY, history=number,
        codes=[(c, member_profile.code_status(c, visit.now)) for c in codes],
        referrals=member_profile.referrals(visit.session, member.id),
        identities=member_profile.identities(visit.session, member.id),
        channels_on=runtime().enabled_channels,
    )


def _back(member: Member) -> BaseResponse:
    return redirect(url_for("members_page.show", code=member.code), code=303)


def _refused(error: LoyaltyError) -> str:
    reasons = {
        "no_reason": _("Write a reason for the adjustment."),
        "insufficient_points": _("Not enough spendable points for that deduction."),
        "too_many_points": _("That is more points than one adjustment may carry."),
        "code_redeemed": _("That code was already used."),
        "code_expired": _("That code has expired."),
        "code_cancelled": _("That code was already cancelled."),
    }
    return reasons.get(error.reason, _("Refused: {reason}", reason=str(error)))


@bp.post("/members/<code>/adjust")
@staff_page(*ROLES)
def adjust(visit: Visit, code: str) -> Any:
    member = _member(visit, code)
    reason = "".join(ch for ch in request.form.get("reason", "") if ch.isprintable()).strip()[:MAX_REASON]
    try:
        points = int(request.form.get("points", "").strip())
    except ValueError:
        flash(_("Write the points as a whole number, like 50 or -20."), "error")
        return _back(member)
    if points == 0:
        flash(_("Write the points as a whole number, like 50 or -20."), "error")
        return _back(member)
    try:
        with visit.session.begin_nested():
            earning.adjust(visit.session, member, points, reason, f"adjust:{uuid.uuid4().hex}", visit.now, visit.actor)
    except LoyaltyError as error:
        flash(_refused(error), "error")
        return _back(member)
    visit.notify([PointsAdjusted(member.id, points, member.balance)])
    visit.log("member.adjust", target=member.code, points=points, reason=reason, balance=member.balance)
    flash(_("Adjusted by {points} points: the balance is now {balance}.",
            points=words.current().format_signed(points), balance=member.balance), "ok")
    return _back(member)


@bp.post("/members/<code>/codes/<int:code_id>/cancel")
@staff_page(*ROLES)
def cancel_code(visit: Visit, code: str, code_id: int) -> Any:
    member = _member(visit, code)
    found = member_profile.code_of(visit.session, member.id, code_id)
    if found is None:
        abort(404)
    try:
        with visit.session.begin_nested():
            returned = redemption.cancel(visit.session, found, visit.now, visit.actor)
    except LoyaltyError as error:
        flash(_refused(error), "error")
        return _back(member)
    visit.log("member.cancel_code", target=member.code, code=found.code, reward=found.reward.name, returned=returned)
    flash(_("Code cancelled: {points} points went back to the member.", points=returned), "ok")
    return _back(member)


@bp.post("/members/<code>/invite")
@staff_page(*ROLES)
def resend_invite(visit: Visit, code: str) -> Any:
    """The member's invite, as the bot answers "invite", on the channel they last wrote
    from (not one where they sent STOP or that cannot be reached)."""
    rt = runtime()
    member = _member(visit, code)
    identity = members.notice_identity(visit.session, member, rt.enabled_channels)
    if identity is None:
        flash(_("Not sent: this member has no channel we can reach them on."), "error")
        return _back(member)
    reply = invite_message(visit.session, visit.program, visit.config, rt.bot_settings(), member)
    outbox.enqueue(visit.session, visit.program.id, identity.channel, identity.address, to_payload(reply), "notice",
                   visit.now, member_id=member.id)
    visit.log("member.resend_invite", target=member.code, channel=identity.channel)
    flash(_("Invite sent again on {channel}.", channel=identity.channel), "ok")
    return _back(member)
