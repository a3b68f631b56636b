"""``/dashboard``: the program's figures for a period beside the period before, with charts
of the days and the monthly cohorts, for owners and managers; ``/dashboard/points.csv`` the
points accounting per day. Every number comes from rewards/metrics/ (the same code as
``loyalty metrics``, the API and ``/stats``); each says how it is computed, in the words of
``rewards.metrics.definitions`` (docs/metrics.md says the same)."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, render_template, request

from rewards.errors import InvalidInput
from rewards.metrics import accounting
from rewards.metrics.cohorts import cohorts
from rewards.metrics.definitions import DEFINITIONS
from rewards.metrics.figures import Metrics, for_period
from rewards.metrics.periods import PRESETS, choose
from web.console import words
from web.console.access import Visit, staff_page
from web.console.charts import bar_chart
from web.console.words import _

bp = Blueprint("dashboard_page", __name__, template_folder="templates")
COHORT_MONTHS = 6

# (figure, label msgid, how it is shown): the cards, in order
CARDS = (
    ("members.total", "Members", "count"), ("members.new", "New members", "count"),
    ("members.active", "Active members", "count"), ("members.referred_share", "New members referred", "rate"),
    ("purchases.count", "Purchases", "count"), ("purchases.sales", "Sales", "money"),
    ("purchases.average", "Average purchase", "money"), ("purchases.per_active_member", "Purchases per active member", "ratio"),
    ("repeat_purchase_rate", "Repeat purchase rate", "rate"), ("referral_rate", "Referral rate", "rate"),
    ("retention_rate", "Retention", "rate"), ("churn_rate", "Churn", "rate"),
    ("nps.score", "NPS", "ratio"), ("nps.responses", "Survey answers", "count"),
)
POINTS = (
    ("points.earned", "Earned"), ("points.redeemed", "Redeemed"), ("points.returned", "Returned"),
    ("points.refunded", "Refunded"), ("points.expired", "Expired"), ("points.adjusted", "Adjusted"),
    ("points.outstanding", "Outstanding at the end"),
)


def pick(document: dict[str, Any], path: str) -> Any:
    for part in path.split("."):
        document = document[part]
    return document


@dataclass(frozen=True)
class Card:
    key: str
    label: str
    value: str
    previous: str
    change: str
    before: str
    definition: str

    @property
    def anchor(self) -> str:
        return "def-" + self.key.replace(".", "-").replace("_", "-")


def _shown(value: Any, how: str, currency: str) -> str:
    if value is None:
        return "–"
    if how == "money":
        return words.money(Decimal(value), currency)
    if how == "rate":
        return words.percent(value)
    return words.number(value)


def _change(now: Any, before: Any, how: str) -> str:
    """Rates change by percentage points; counts and money by a percentage of the before."""
    if now is None or before is None:
        return ""
    if how == "rate":
        points = round((now - before) * 100, 1)
        return _("{change} pts", change=words.current().format_signed(Decimal(str(points))))
    now, before = Decimal(str(now)), Decimal(str(before))
    if before == 0:
        return ""
    return words.current().format_signed(((now - before) / before * 100).quantize(Decimal(1))) + "%"


def cards(result: dict[str, Any], currency: str) -> list[Card]:
    out = []
    for key, label, how in (*CARDS, *((k, label, "count") for k, label in POINTS)):
        now, before = pick(result, key), pick(result["previous"], key)
        previous = _shown(before, how, currency)
        out.append(Card(key, _(label), _shown(now, how, currency), previous, _change(now, before, how),
                        _("before: {value}", value=previous), DEFINITIONS[key]))
    return out


def _charts(metrics: Metrics, result: dict[str, Any]) -> list[tuple[str, Any]]:
    daily = result["daily"]
    days = [words.day(date.fromisoformat(d["date"])) for d in daily]
    first, last = (days[0], days[-1]) if days else ("", "")
    currency = metrics.config.currency
    out = []
    for title, field, how in ((_("New members a day"), "new_members", "count"), (_("Purchases a day"), "purchases", "count"),
                              (_("Sales a day"), "sales", "money"), (_("Points earned a day"), "points_earned", "count"),
                              (_("Points redeemed a day"), "points_redeemed", "count")):
        values = [float(Decimal(str(d[field]))) for d in daily]
        shown = [_shown(d[field], how, currency) for d in daily]
        out.append((title, bar_chart(title, days, values, shown, first, last)))
    return out


def _heat(share: float) -> str:
    """The colour class of a cohort cell: ten steps of one blue, text dark or light for contrast."""
    return f"heat-{min(10, int(share * 10 + 0.5))}"


@bp.get("/dashboard")
@staff_page("owner", "manager")
def index(visit: Visit) -> Any:
    args = request.args
    # The form sends both: a preset chosen wins over the dates (which show the last period).
    preset = args.get("days", "")
    error = None
    try:
        metrics = for_period(visit.session, visit.program.id, visit.config, visit.now, days=preset or None,
                             start=None if preset else args.get("from") or None,
                             end=None if preset else args.get("to") or None)
    except InvalidInput as refused:
        error = str(refused)
        metrics = for_period(visit.session, visit.program.id, visit.config, visit.now)
    result = metrics.to_json()
    period = result["period"]
    table = cohorts(visit.session, visit.program.id, visit.config.timezone, date.fromisoformat(period["to"]),
                    visit.now.astimezone(ZoneInfo(visit.config.timezone)).date(), COHORT_MONTHS)
    return render_template(
        "console/dashboard.html", result=result, cards=cards(result, visit.config.currency),
        charts=_charts(metrics, result), cohorts=table, heat=_heat, error=error,
        presets=[(n, _("Last {n} days", n=n)) for n in PRESETS],
        month_labels=[_("Month {n}", n=k) for k in range(COHORT_MONTHS)],
        period_text=_("{first} to {last} ({days} days), beside {before_first} to {before_last}.",
                      first=words.day(date.fromisoformat(period["from"])), last=words.day(date.fromisoformat(period["to"])),
                      days=period["days"], before_first=words.day(date.fromisoformat(result["previous"]["period"]["from"])),
                      before_last=words.day(date.fromisoformat(result["previous"]["period"]["to"]))),
        redemption_text=_("Redemption rate: {rate}.", rate=words.percent(result["redemption_rate"])),
        preset=preset if preset.isdigit() and int(preset) in PRESETS and not error else "",
        start=period["from"], end=period["to"], definitions=DEFINITIONS, value=result["points"]["outstanding_value"],
        channel_names={"telegram": "Telegram", "whatsapp": "WhatsApp", "sms": "SMS", "web": _("web chat"),
                       "terminal": _("terminal")},
    )


@bp.get("/dashboard/points.csv")
@staff_page("owner", "manager")
def points_csv(visit: Visit) -> Any:
    today = visit.now.astimezone(ZoneInfo(visit.config.timezone)).date()
    try:
        first, last = choose(today, None, request.args.get("from") or None, request.args.get("to") or None)
    except InvalidInput as refused:
        return Response(str(refused) + "\n", status=422, mimetype="text/plain")
    rows = accounting.points_by_day(visit.session, visit.program.id, visit.config.timezone, first, last, visit.now)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(accounting.COLUMNS)
    writer.writerows(row.row() for row in rows)
    name = f"points-{first.isoformat()}-{last.isoformat()}.csv"
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
