"""``loyalty metrics``: the dashboard's figures for a period, as text or the API's JSON."""
from __future__ import annotations

import json
from typing import Any

import click

from rewards.errors import InvalidInput
from rewards.metrics.figures import for_period
from web.cli.support import command
from web.runtime import runtime

# (path in the JSON, label) in the order the text shows them
LINES = (
    ("members.total", "members"), ("members.new", "new members"), ("members.active", "active members"),
    ("members.referred_share", "new members referred"),
    ("purchases.count", "purchases"), ("purchases.sales", "sales"), ("purchases.average", "average purchase"),
    ("purchases.per_active_member", "purchases per active member"),
    ("repeat_purchase_rate", "repeat purchase rate"), ("referral_rate", "referral rate"),
    ("retention_rate", "retention rate"), ("churn_rate", "churn rate"),
    ("nps.score", "NPS"), ("nps.responses", "survey answers"),
    ("points.earned", "points earned"), ("points.redeemed", "points redeemed"),
    ("points.returned", "points returned"), ("points.refunded", "points refunded"),
    ("points.expired", "points expired"), ("points.adjusted", "points adjusted"),
    ("points.outstanding", "points outstanding"), ("points.outstanding_value", "outstanding value"),
    ("redemption_rate", "redemption rate"),
)
OPTIONS = {"from": "--from", "to": "--to", "days": "--days"}
RATES = {"members.referred_share", "repeat_purchase_rate", "referral_rate", "retention_rate", "churn_rate",
         "redemption_rate"}


def pick(document: dict[str, Any], path: str) -> Any:
    for part in path.split("."):
        document = document[part]
    return document


def shown(path: str, value: Any) -> str:
    if value is None:
        return "-"
    if path in RATES:
        return f"{value * 100:.1f}%"
    return f"{value:,}" if isinstance(value, int) else str(value)


@command("metrics")
@click.option("--days", type=int, help="The last N days, today included (default 30).")
@click.option("--from", "start", metavar="DATE", help="The first day, like 2026-03-01 (the program's time zone).")
@click.option("--to", "end", metavar="DATE", help="The last day (default: today).")
@click.option("--json", "as_json", is_flag=True, help="The JSON that GET /api/v1/metrics returns.")
def metrics(days: int | None, start: str | None, end: str | None, as_json: bool) -> None:
    """The program's figures for a period, beside the period before (docs/metrics.md)."""
    rt = runtime()
    with rt.transaction() as session:
        program, config = rt.program(session)
        try:
            result = for_period(session, program.id, config, rt.clock(), days=days, start=start, end=end).to_json()
        except InvalidInput as error:
            raise click.ClickException(error.naming(OPTIONS)) from None
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    now, before = result["period"], result["previous"]["period"]
    click.echo(f"{now['from']} to {now['to']} ({now['days']} days; before: {before['from']} to {before['to']})"
               f", amounts in {result['currency']}")
    width = max(len(label) for _, label in LINES)
    for path, label in LINES:
        click.echo(f"{label:<{width}}  {shown(path, pick(result, path)):>12}  "
                   f"{shown(path, pick(result['previous'], path)):>12}")


COMMANDS: tuple[click.Command, ...] = (metrics,)
