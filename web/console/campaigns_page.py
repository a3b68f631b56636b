"""``/campaigns``: the merchant's promotions, for owners and managers: the list with counts,
a form to create one (with a live count of who would receive it, and a test send to the
staff user's own phone), and a campaign's page with its counts and Cancel.

Everything goes through the same domain functions as ``loyalty campaign ...`` and
``/api/v1/campaigns`` (rewards/promotions): ``campaigns.draft`` checks the form, so a
refusal reads as it does there and is shown next to the field it names
(``InvalidInput.field``); the count is ``eligibility.preview`` as ``loyalty campaign preview``
runs it, and writes nothing. The page's script (static/campaigns.js) asks
``/campaigns/preview`` for the count as the filters change; without JavaScript the form's
"Count" button shows it.

"When" is now, once at a time, or "Repeat": web/console/campaign_schedule.py turns the
repeat choices into the cron expression the CLI's ``--cron`` takes, for the same
``campaigns.draft``, and reads a stored one back in words for the list and the page.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from babel.dates import get_month_names
from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict

from rewards import catalog
from rewards import staff as staff_users
from rewards.errors import InvalidInput, LoyaltyError, NotFound
from rewards.models import Campaign
from rewards.phones import mask
from rewards.promotions import audiences, campaigns
from rewards.promotions.campaign_stats import Counts, counts
from rewards.promotions.eligibility import Preview, Rules, preview
from rewards.promotions.fanout import send_test_to_phone
from web.console import words
from web.console.access import Visit, staff_page
from web.console.campaign_schedule import WEEKDAYS, in_words, schedule_fields, weekday_names
from web.console.words import _
from web.runtime import runtime

bp = Blueprint("campaigns_page", __name__, template_folder="templates")
ROLES = ("owner", "manager")
LIST_LIMIT = 100
# The audience filters the form offers (all of audiences.FILTERS but "all": no filter is all).
LISTS = ("tier", "channel", "language")
VALUES = ("inactive_days", "min_balance", "birthday_month", "joined_after", "joined_before", "has_redeemed")
# What the form's fields hold, at most (longer is cut, the domain then says what is wrong).
MAX_FIELD = 2000


def reasons() -> dict[str, str]:
    """Why a member is skipped, as a merchant reads it (rewards/promotions/eligibility.py)."""
    return {
        "no_consent": _("No marketing consent"),
        "opted_out": _("Opted out (or sent STOP)"),
        "no_channel": _("No reachable channel"),
        "over_cap": _("Over the weekly cap"),
        "whatsapp_window": _("WhatsApp 24-hour window, no template"),
        campaigns.CANCELLED: _("Withdrawn by a cancel"),
    }


def statuses() -> dict[str, str]:
    return {"scheduled": _("Scheduled"), "sending": _("Sending"), "sent": _("Sent"), "cancelled": _("Cancelled"),
            "failed": _("Failed")}


def filter_labels() -> dict[str, str]:
    return {
        "tier": _("Tier"), "channel": _("Channel"), "language": _("Language"),
        "inactive_days": _("No visit for at least (days)"), "min_balance": _("Balance of at least (points)"),
        "birthday_month": _("Birthday month"), "joined_after": _("Joined on or after"),
        "joined_before": _("Joined before"), "has_redeemed": _("Used a reward"),
    }


def month_names() -> dict[int, str]:
    return dict(get_month_names("wide", locale=words.current().locale))


def _text(form: MultiDict[str, str], name: str) -> str:
    return form.get(name, "")[:MAX_FIELD].strip()


def audience_of(form: MultiDict[str, str]) -> dict[str, Any]:
    """The filter set a form (or the count's query) gives: only the filters filled in."""
    audience: dict[str, Any] = {}
    for name in LISTS:
        chosen = [v[:100] for v in form.getlist(name) if v.strip()]
        if chosen:
            audience[name] = chosen
    for name in VALUES:
        value = _text(form, name)
        if value:
            audience[name] = value
    return audience


def count_schedule(form: MultiDict[str, str]) -> dict[str, Any]:
    """The schedule a count is for: the form's, except that a time or repeat not (fully) given
    yet counts now, as the merchant is still filling it in (creating refuses it)."""
    try:
        fields = schedule_fields(form)
    except InvalidInput:
        return {"send_now": True}
    return fields if fields.get("send_at") or fields.get("cron_expression") else {"send_now": True}


@dataclass
class Count:
    at: datetime
    channels: tuple[str, ...]
    result: Preview


def count(visit: Visit, form: MultiDict[str, str]) -> Count:
    """Who a send would reach, as ``loyalty campaign preview`` counts it (no time: now).
    Writes nothing; ``InvalidInput`` names a wrong filter or time."""
    checked = campaigns.draft(visit.session, visit.program, visit.config, visit.now, name="preview", text="preview",
                              audience=audience_of(form), **count_schedule(form))
    at = checked.first_run(visit.now, visit.config.timezone)
    rules = Rules.of(visit.program.id, visit.config, checked.audience, runtime().enabled_channels, at)
    return Count(at, rules.channels, preview(visit.session, checked.audience, rules))


def offer_of(form: MultiDict[str, str]) -> dict[str, Any]:
    kind = form.get("offer", "none")
    if kind == "multiplier":
        return {"multiplier": _text(form, "multiplier"), "offer_from": _text(form, "offer_from"),
                "offer_until": _text(form, "offer_until")}
    if kind == "coupon":
        return {"coupon": _text(form, "coupon")}
    return {}


def draft_of(visit: Visit, form: MultiDict[str, str]) -> campaigns.Draft:
    """The form checked by the domain, as the API and the CLI check theirs."""
    return campaigns.draft(
        visit.session, visit.program, visit.config, visit.now, name=_text(form, "name"), text=_text(form, "text"),
        audience=audience_of(form), **schedule_fields(form), image_url=_text(form, "image_url") or None, **offer_of(form),
    )


def unsaved(visit: Visit, draft: campaigns.Draft) -> Campaign:
    """A campaign object for a draft, never added to the session (for a test send)."""
    return Campaign(program_id=visit.program.id, name=draft.name, text=draft.text, image_url=draft.image_url,
                    audience=draft.audience, offer_kind=draft.offer_kind, reward_id=draft.reward_id)


# Where a refusal is shown: the domain's field names, and the form's fieldsets for the rest.
# A cron refusal is shown by the expression's field: only a typed one can be refused (the
# repeat choices build expressions the domain takes).
_FIELD_OF = {"audience": "audience", "all": "audience", "schedule": "when", "cron": "cron", "offer": "offer"}


def field_of(error: InvalidInput) -> str:
    name = error.field or "form"
    return _FIELD_OF.get(name, name)


def _form_page(visit: Visit, form: MultiDict[str, str], status: int = 200, errors: dict[str, str] | None = None,
               counted: Count | None = None, notice: str | None = None) -> Any:
    return render_template(
        "console/campaign_new.html", form=form, errors=errors or {}, counted=counted, notice=notice,
        tiers=[t.name for t in visit.config.tiers], languages=visit.config.languages,
        channels=[c for c in audiences.CHANNELS if c in runtime().enabled_channels],
        rewards=catalog.active_rewards(visit.session, visit.program.id), months=month_names(),
        labels=filter_labels(), reasons=reasons(), zone=visit.config.timezone, phone=visit.staff.phone or "",
        weekdays=weekday_names(), weekday_values=WEEKDAYS,
    ), status


@bp.get("/campaigns")
@staff_page(*ROLES)
def index(visit: Visit) -> Any:
    found = campaigns.listing(visit.session, visit.program.id, LIST_LIMIT)
    days = visit.config.promotions.conversion_days
    rows = [(c, counts(visit.session, c, days)) for c in found]
    return render_template("console/campaigns.html", rows=rows, statuses=statuses(), describe=describe_audience,
                           schedule=in_words)


@bp.get("/campaigns/new")
@staff_page(*ROLES)
def new(visit: Visit) -> Any:
    return _form_page(visit, MultiDict({"when": "now", "offer": "none", "repeat": "weekly"}))


@bp.post("/campaigns/new")
@staff_page(*ROLES)
def submit(visit: Visit) -> Any:
    form = request.form
    action = form.get("action", "create")
    if action == "count":
        try:
            return _form_page(visit, form, counted=count(visit, form))
        except InvalidInput as error:
            return _form_page(visit, form, 422, {field_of(error): str(error)})
    try:
        draft = draft_of(visit, form)
    except InvalidInput as error:
        return _form_page(visit, form, 422, {field_of(error): str(error)})
    if action == "test":
        return _test_send(visit, form, unsaved(visit, draft), target="campaign draft")
    created = campaigns.create(visit.session, visit.program, visit.config, draft, visit.now, visit.actor)
    visit.log("campaign_create", target=f"campaign {created.id}", name=created.name,
              audience=audiences.describe(created.audience), offer=created.offer_kind,
              send_at=created.send_at.isoformat() if created.send_at else None, cron=created.cron)
    if created.cron:
        after = _("{schedule}, in the program's time zone. First run: {when}.", schedule=in_words(created.cron),
                  when=words.moment(created.next_run_at, visit.config.timezone))
    elif created.send_at is not None and created.send_at <= visit.now:
        after = _("It goes out within a minute.")
    else:
        after = _("It goes out at the time you chose.")
    flash(_("Campaign created.") + " " + after)
    return redirect(url_for("campaigns_page.show", campaign_id=created.id), 303)


def _my_phone(visit: Visit, form: MultiDict[str, str]) -> str:
    """The staff user's phone for a test send: the one typed on the form (then saved as
    theirs), else the one saved. ``InvalidInput`` on the field "my_phone"."""
    typed = _text(form, "my_phone")[:40]
    if typed:
        before = visit.staff.phone
        try:
            staff_users.set_phone(visit.staff, typed, visit.config.phone_region)  # as /account saves it
        except InvalidInput as error:
            raise InvalidInput(str(error), field="my_phone") from None
        if visit.staff.phone != before:
            visit.log("account_phone", phone="set")
        return visit.staff.phone  # type: ignore[return-value]  # typed was not empty
    if not visit.staff.phone:
        raise InvalidInput(_("Type your phone number to send yourself a test."), field="my_phone")
    return visit.staff.phone


def _test_send(visit: Visit, form: MultiDict[str, str], campaign: Campaign, target: str) -> Any:
    """Queue the message, marked [TEST], to the signed-in user's own phone; the page again."""
    try:
        phone = _my_phone(visit, form)
        message = send_test_to_phone(visit.session, campaign, phone, visit.now, runtime().enabled_channels)
    except InvalidInput as error:
        return _again(visit, form, campaign, 422, {field_of(error): str(error)})
    except LoyaltyError as error:
        return _again(visit, form, campaign, 409, {"my_phone": str(error)})
    visit.log("campaign_test_send", target=target, to=mask(phone), channel=message.channel)
    return _again(visit, form, campaign, 200, notice=_("A test message is on its way to {phone} ({channel}).",
                                                       phone=phone, channel=message.channel))


def _again(visit: Visit, form: MultiDict[str, str], campaign: Campaign, status: int,
           errors: dict[str, str] | None = None, notice: str | None = None) -> Any:
    if campaign.id is None:
        return _form_page(visit, form, status, errors, notice=notice)
    return _show_page(visit, campaign, status, errors or {}, notice)


@bp.get("/campaigns/preview")
@staff_page(*ROLES)
def count_json(visit: Visit) -> Any:
    """The live count for the form's script: the same partial the "Count" button shows."""
    try:
        counted = count(visit, request.args)
    except InvalidInput as error:
        return jsonify(ok=False, field=field_of(error), message=str(error)), 422
    html = render_template("console/campaign_count.html", counted=counted, reasons=reasons())
    return jsonify(ok=True, matching=counted.result.matching, sending=counted.result.sending,
                   waiting=counted.result.waiting, html=html)


def describe_audience(audience: dict[str, Any]) -> list[tuple[str, str]]:
    """A stored filter set as the merchant reads it: (label, value) pairs."""
    labels, months = filter_labels(), month_names()
    shown: list[tuple[str, str]] = []
    for name, value in (audience or {}).items():
        if isinstance(value, list):
            text = ", ".join(str(v) for v in value)
        elif name == "has_redeemed":
            text = _("Yes") if value else _("No")
        elif name == "birthday_month" and isinstance(value, int):
            text = months.get(value, str(value))
        elif name in ("inactive_days", "min_balance") and isinstance(value, int):
            text = words.number(value)
        else:
            text = str(value)
        shown.append((labels.get(name, name), text))
    return shown


def _campaign(visit: Visit, campaign_id: int) -> Campaign:
    try:
        return campaigns.get(visit.session, visit.program.id, campaign_id)
    except NotFound:
        abort(404)


def _show_page(visit: Visit, campaign: Campaign, status: int = 200, errors: dict[str, str] | None = None,
               notice: str | None = None) -> Any:
    stats: Counts = counts(visit.session, campaign, visit.config.promotions.conversion_days)
    cancellable = campaign.status in ("scheduled", "sending") or (campaign.status == "sent" and stats.waiting > 0)
    return render_template(
        "console/campaign.html", campaign=campaign, stats=stats, statuses=statuses(), reasons=reasons(),
        audience=describe_audience(campaign.audience), cancellable=cancellable, errors=errors or {},
        notice=notice, phone=visit.staff.phone or "", form=request.form, schedule=in_words(campaign.cron),
        conversion=stats.converted / stats.sent if stats.sent else None,
    ), status


@bp.get("/campaigns/<int:campaign_id>")
@staff_page(*ROLES)
def show(visit: Visit, campaign_id: int) -> Any:
    return _show_page(visit, _campaign(visit, campaign_id))


@bp.post("/campaigns/<int:campaign_id>/cancel")
@staff_page(*ROLES)
def cancel(visit: Visit, campaign_id: int) -> Any:
    campaign = _campaign(visit, campaign_id)
    try:
        withdrawn = campaigns.cancel(visit.session, campaign, visit.now)
    except LoyaltyError as error:
        return _show_page(visit, campaign, 409, {"cancel": str(error)})
    visit.log("campaign_cancel", target=f"campaign {campaign.id}", withdrawn=withdrawn)
    flash(_("Campaign cancelled; {n} waiting messages withdrawn.", n=withdrawn))
    return redirect(url_for("campaigns_page.show", campaign_id=campaign.id), 303)


@bp.post("/campaigns/<int:campaign_id>/test")
@staff_page(*ROLES)
def test_send(visit: Visit, campaign_id: int) -> Any:
    campaign = _campaign(visit, campaign_id)
    return _test_send(visit, request.form, campaign, target=f"campaign {campaign.id}")
