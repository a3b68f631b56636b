"""``GET /api/v1/metrics``: the dashboard's figures for a period (rewards/metrics/), the same
JSON as ``loyalty metrics --json``. Its own blueprint and OpenAPI fragment, merged by the
app factory like web/campaign_api.py."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from rewards.errors import InvalidInput
from rewards.metrics.definitions import DEFINITIONS
from rewards.metrics.figures import for_period
from web.api_support import PREFIX, ApiError, Call, endpoint, install_error_handlers, json_content, responses

bp = Blueprint("metrics", __name__, url_prefix=PREFIX)
install_error_handlers(bp)

QUERY = ("from", "to", "days")


@bp.get("/metrics")
@endpoint
def metrics(call: Call) -> Any:
    unknown = sorted(set(request.args) - set(QUERY))
    if unknown:
        raise ApiError(422, "bad_field", f'"{unknown[0][:40]}" is not a parameter (parameters: {", ".join(QUERY)})')
    try:
        result = for_period(call.session, call.program.id, call.config, call.now, days=request.args.get("days"),
                            start=request.args.get("from"), end=request.args.get("to"))
    except InvalidInput as error:
        raise ApiError(422, "bad_field", str(error)) from None
    return jsonify(result.to_json())


# --- OpenAPI ----------------------------------------------------------------------------


def _said(key: str, schema: dict[str, Any]) -> dict[str, Any]:
    return schema | {"description": DEFINITIONS[key]}


_RATE = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
_MONEY = {"type": "string", "examples": ["36.00"]}
_COUNT = {"type": "integer", "minimum": 0}


def _figures(extra_members: dict[str, Any] | None = None) -> dict[str, Any]:
    members = {k: _said(f"members.{k}", _COUNT) for k in ("total", "new", "active")}
    members["referred_share"] = _said("members.referred_share", _RATE)
    return {
        "type": "object",
        "required": ["period", "members", "purchases", "repeat_purchase_rate", "referral_rate", "retention_rate",
                     "churn_rate", "nps", "points", "redemption_rate"],
        "properties": {
            "period": {"type": "object", "required": ["from", "to", "days"], "properties": {
                "from": {"type": "string", "format": "date"}, "to": {"type": "string", "format": "date"},
                "days": {"type": "integer"}}},
            "members": {"type": "object", "required": ["total", "new", "active"],
                        "properties": members | (extra_members or {})},
            "purchases": {"type": "object", "required": ["count", "sales", "average", "per_active_member"],
                          "properties": {
                              "count": _said("purchases.count", _COUNT), "sales": _said("purchases.sales", _MONEY),
                              "average": _said("purchases.average", {"type": ["string", "null"]}),
                              "per_active_member": _said("purchases.per_active_member", {"type": ["number", "null"]})}},
            **{k: _said(k, _RATE) for k in ("repeat_purchase_rate", "referral_rate", "retention_rate", "churn_rate",
                                            "redemption_rate")},
            "nps": {"type": "object", "required": ["score", "responses"], "properties": {
                "score": _said("nps.score", {"type": ["number", "null"], "minimum": -100, "maximum": 100}),
                "responses": _said("nps.responses", _COUNT), "promoters": _COUNT, "detractors": _COUNT}},
            "points": {"type": "object",
                       "required": ["earned", "redeemed", "returned", "refunded", "expired", "adjusted", "outstanding",
                                    "outstanding_value"],
                       "properties": {
                           **{k: _said(f"points.{k}", _COUNT)
                              for k in ("earned", "redeemed", "returned", "refunded", "expired")},
                           "adjusted": _said("points.adjusted", {"type": "integer"}),
                           "outstanding": _said("points.outstanding", {"type": "integer"}),
                           "outstanding_value": _said("points.outstanding_value", {"type": ["string", "null"]})}},
        },
    }


_METRICS = _figures({
    "by_tier": _said("members.by_tier", {"type": "object", "additionalProperties": {"type": "integer"}}),
    "by_channel": _said("members.by_channel", {"type": "object", "additionalProperties": {"type": "integer"}}),
})
_METRICS["required"] = [*_METRICS["required"], "currency", "timezone", "rewards", "campaigns", "previous", "daily"]
_METRICS["properties"] |= {
    "currency": {"type": "string"}, "timezone": {"type": "string"},
    "rewards": _said("rewards", {"type": "array", "items": {"type": "object", "properties": {
        "reward": {"type": "string"}, "name": {"type": "string"}, "redeemed": _COUNT, "points": _COUNT}}}),
    "campaigns": _said("campaigns", {"type": "array", "items": {"type": "object", "properties": {
        "id": {"type": "integer"}, "name": {"type": "string"}, "sent": _COUNT, "converted": _COUNT,
        "conversion_rate": _RATE}}}),
    "previous": {"$ref": "#/components/schemas/MetricsPeriod"},
    "daily": {"type": "array", "description": "one item per day of the period, for charts", "items": {
        "type": "object", "properties": {
            "date": {"type": "string", "format": "date"}, "new_members": _COUNT, "purchases": _COUNT,
            "sales": _MONEY, "points_earned": {"type": "integer"}, "points_redeemed": {"type": "integer"}}}},
}
_DATE = {"type": "string", "format": "date", "examples": ["2026-03-01"]}
_PATHS: dict[str, Any] = {"/metrics": {"get": {
    "summary": "The program's figures for a period, beside the period of the same length before",
    "description": "Dates are the program's time zone, both included. Nothing given: the last 30 days, today"
                   " included. See docs/metrics.md for how each figure is computed.",
    "parameters": [
        {"name": "from", "in": "query", "schema": _DATE, "description": "the first day"},
        {"name": "to", "in": "query", "schema": _DATE, "description": "the last day (default: today)"},
        {"name": "days", "in": "query", "schema": {"type": "integer", "minimum": 1},
         "description": "the last N days, today included (instead of from/to)"},
    ],
    "responses": responses({"200": json_content("Metrics", "the figures")},
                           _422="a date or number is wrong, or from is after to (the message says which)"),
}}}
OPENAPI: dict[str, Any] = {"paths": _PATHS, "components": {"schemas": {
    "Metrics": _METRICS, "MetricsPeriod": _figures()}}}
