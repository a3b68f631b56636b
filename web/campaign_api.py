"""``/api/v1/campaigns``: create, list, show (with counts), preview and cancel campaigns.

Its own blueprint under the same prefix, and its own OpenAPI fragment (``OPENAPI``) that the
app factory merges into the API's document.
A campaign created with ``"now": true`` is due at once: the clock (or ``loyalty campaign
send-due``) fans it out within its next tick; a request never waits for a big audience.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from rewards.errors import InvalidInput
from rewards.models import CAMPAIGN_STATUSES, Campaign
from rewards.promotions import audiences, campaigns
from rewards.promotions.campaign_stats import counts
from rewards.promotions.eligibility import Rules, preview
from web.api_support import (
    PREFIX,
    ApiError,
    Call,
    endpoint,
    install_error_handlers,
    json_content,
    path_param,
    read_body,
    responses,
)
from web.runtime import runtime

bp = Blueprint("campaigns", __name__, url_prefix=PREFIX)
install_error_handlers(bp)

FIELDS = ("name", "text", "image_url", "audience", "send_at", "cron", "now", "offer")
OFFER_FIELDS = {"multiplier": ("kind", "factor", "starts_at", "ends_at"), "coupon": ("kind", "reward")}


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def asjson_content(campaign: Campaign) -> dict[str, Any]:
    offer: dict[str, Any] | None = None
    if campaign.offer_kind == "multiplier":
        offer = {"kind": "multiplier", "factor": campaign.multiplier_permille / 1000 if campaign.multiplier_permille else None,
                 "starts_at": _iso(campaign.offer_starts_at), "ends_at": _iso(campaign.offer_ends_at)}
    elif campaign.offer_kind == "coupon":
        offer = {"kind": "coupon", "reward": campaign.reward.slug if campaign.reward else None}
    return {
        "id": campaign.id, "name": campaign.name, "text": campaign.text, "image_url": campaign.image_url,
        "audience": campaign.audience, "audience_text": audiences.describe(campaign.audience),
        "status": campaign.status, "send_at": _iso(campaign.send_at), "cron": campaign.cron,
        "next_run_at": _iso(campaign.next_run_at), "last_run_at": _iso(campaign.last_run_at), "offer": offer,
        "created_by": campaign.created_by, "created_at": _iso(campaign.created_at),
        "cancelled_at": _iso(campaign.cancelled_at),
        "failed_at": _iso(campaign.failed_at), "failed_reason": campaign.failed_reason,
    }


def _offer(body: dict[str, Any]) -> dict[str, Any]:
    offer = body.get("offer")
    if offer is None:
        return {}
    if not isinstance(offer, dict):
        raise ApiError(422, "bad_field", '"offer" must be an object like {"kind": "multiplier", "factor": 2, ...}')
    kind = offer.get("kind")
    if kind not in OFFER_FIELDS:
        raise ApiError(422, "bad_field", '"offer.kind" must be "multiplier" or "coupon"')
    unknown = sorted(set(offer) - set(OFFER_FIELDS[kind]))
    if unknown:
        raise ApiError(422, "bad_field", f'"offer.{unknown[0]}" is not a field of a {kind} offer'
                       f" (fields: {', '.join(OFFER_FIELDS[kind])})")
    if kind == "coupon":
        if not isinstance(offer.get("reward"), str):
            raise ApiError(422, "missing_field", '"offer.reward" is required: a reward id from the catalog')
        return {"coupon": offer["reward"]}
    for name in ("factor", "starts_at", "ends_at"):
        if offer.get(name) is None:
            raise ApiError(422, "missing_field", f'"offer.{name}" is required for a multiplier offer')
    return {"multiplier": offer["factor"], "offer_from": offer["starts_at"], "offer_until": offer["ends_at"]}


# The domain names its fields as the CLI does; the API's offer lives inside "offer".
_API_NAMES = {"multiplier": "offer.factor", "offer_from": "offer.starts_at", "offer_until": "offer.ends_at",
              "coupon": "offer.reward"}


@bp.post("/campaigns")
@endpoint
def create_campaign(call: Call) -> Any:
    body = read_body()
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise ApiError(422, "bad_field", f'"{unknown[0]}" is not a campaign field (fields: {", ".join(FIELDS)})')
    if not isinstance(body.get("now", False), bool):
        raise ApiError(422, "bad_field", '"now" must be true or false')
    try:
        draft = campaigns.draft(
            call.session, call.program, call.config, call.now, name=body.get("name"), text=body.get("text"),
            audience=body.get("audience"), send_at=body.get("send_at"), cron_expression=body.get("cron"),
            send_now=bool(body.get("now")), image_url=body.get("image_url"), **_offer(body),
        )
    except InvalidInput as error:
        raise ApiError(422, "bad_field", error.naming(_API_NAMES)) from None
    campaign = campaigns.create(call.session, call.program, call.config, draft, call.now, call.actor)
    return jsonify(asjson_content(campaign)), 201


@bp.get("/campaigns")
@endpoint
def list_campaigns(call: Call) -> Any:
    return jsonify(campaigns=[asjson_content(c) for c in campaigns.listing(call.session, call.program.id)])


@bp.get("/campaigns/<campaign_id>")
@endpoint
def get_campaign(call: Call, campaign_id: str) -> Any:
    campaign = campaigns.get(call.session, call.program.id, campaign_id)
    stats = counts(call.session, campaign, call.config.promotions.conversion_days)
    return jsonify(asjson_content(campaign) | {"counts": stats.as_dict()})


@bp.get("/campaigns/<campaign_id>/preview")
@endpoint
def preview_campaign(call: Call, campaign_id: str) -> Any:
    campaign = campaigns.get(call.session, call.program.id, campaign_id)
    at = max(campaign.next_run_at or call.now, call.now)
    rules = Rules.of(call.program.id, call.config, campaign.audience, runtime().enabled_channels, at)
    result = preview(call.session, campaign.audience, rules)
    return jsonify(at=at.isoformat(), channels=list(rules.channels), matching=result.matching, sending=result.sending,
                   waiting_for_quiet_hours=result.waiting, skipped=result.skipped)


@bp.post("/campaigns/<campaign_id>/cancel")
@endpoint
def cancel_campaign(call: Call, campaign_id: str) -> Any:
    campaign = campaigns.get(call.session, call.program.id, campaign_id)
    withdrawn = campaigns.cancel(call.session, campaign, call.now)
    return jsonify(asjson_content(campaign) | {"withdrawn": withdrawn})


# --- OpenAPI ----------------------------------------------------------------------------

_ID = path_param("campaign_id", "the campaign's id")
_TIME = {"type": "string", "examples": ["2026-12-05 10:00"],
         "description": "a wall time in the program's time zone, or ISO 8601 with an offset"}
_PATHS: dict[str, Any] = {
    "/campaigns": {
        "post": {
            "summary": "Create a campaign (once at send_at, recurring by cron, or now)",
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/CampaignIn"}}}},
            "responses": responses({"201": json_content("Campaign", "created and scheduled")},
                                    _400="malformed JSON or not an object", _413="body too large",
                                    _422="a field is missing or wrong (the message names it)"),
        },
        "get": {"summary": "Campaigns, newest first",
                "responses": responses({"200": json_content("CampaignList", "the campaigns")})},
    },
    "/campaigns/{campaign_id}": {"get": {
        "summary": "A campaign with its counts", "parameters": [_ID],
        "responses": responses({"200": json_content("CampaignWithCounts", "the campaign")},
                               _404="no such campaign", _422="not a campaign id"),
    }},
    "/campaigns/{campaign_id}/preview": {"get": {
        "summary": "Who the next run would reach, and who would be skipped and why", "parameters": [_ID],
        "responses": responses({"200": json_content("CampaignPreview", "counts")},
                               _404="no such campaign", _422="not a campaign id"),
    }},
    "/campaigns/{campaign_id}/cancel": {"post": {
        "summary": "Cancel: no more runs; messages still waiting are withdrawn", "parameters": [_ID],
        "responses": responses({"200": json_content("Campaign", "cancelled")},
                               _404="no such campaign", _422="not a campaign id",
                               _409="already sent or cancelled"),
    }},
}

_COUNTS = {"type": "object", "properties": {name: {"type": "integer"} for name in (
    "targeted", "queued", "waiting", "sent", "delivered", "failed", "skipped", "converted", "conversion_days", "runs")}
    | {"skipped_by_reason": {"type": "object", "additionalProperties": {"type": "integer"}}}}
_SCHEMAS: dict[str, Any] = {
    "CampaignIn": {
        "type": "object", "required": ["name", "text"], "additionalProperties": False,
        "description": "Exactly one of send_at, cron or now.",
        "properties": {
            "name": {"type": "string", "maxLength": 200}, "text": {"type": "string", "maxLength": campaigns.MAX_TEXT},
            "image_url": {"type": "string", "format": "uri"},
            "audience": {"oneOf": [{"type": "object"}, {"type": "string"}], "examples": [
                {"tier": "Gold", "inactive_days": 30}, "tier=Gold,channel=telegram"],
                "description": "filters joined with AND: " + ", ".join(audiences.FILTERS) + "; {} or \"all\" is everyone"},
            "send_at": _TIME, "cron": {"type": "string", "examples": ["0 10 * * SAT"],
                                       "description": "recurring, in the program's time zone; at most hourly"},
            "now": {"type": "boolean"},
            "offer": {"oneOf": [
                {"type": "object", "required": ["kind", "factor", "starts_at", "ends_at"], "properties": {
                    "kind": {"const": "multiplier"}, "factor": {"type": ["number", "string"], "examples": [2]},
                    "starts_at": _TIME, "ends_at": _TIME}},
                {"type": "object", "required": ["kind", "reward"], "properties": {
                    "kind": {"const": "coupon"}, "reward": {"type": "string", "description": "a reward id"}}},
            ]},
        },
    },
    "Campaign": {"type": "object", "properties": {
        "id": {"type": "integer"}, "name": {"type": "string"}, "text": {"type": "string"},
        "status": {"enum": list(CAMPAIGN_STATUSES)}, "audience": {"type": "object"},
        "failed_reason": {"type": ["string", "null"], "description": "why a failed campaign stopped"},
        "audience_text": {"type": "string"}, "send_at": {"type": ["string", "null"], "format": "date-time"},
        "cron": {"type": ["string", "null"]}, "next_run_at": {"type": ["string", "null"], "format": "date-time"},
        "offer": {"type": ["object", "null"]}}},
    "CampaignWithCounts": {"allOf": [{"$ref": "#/components/schemas/Campaign"},
                                     {"type": "object", "properties": {"counts": _COUNTS}}]},
    "CampaignList": {"type": "object", "properties": {
        "campaigns": {"type": "array", "items": {"$ref": "#/components/schemas/Campaign"}}}},
    "CampaignPreview": {"type": "object", "properties": {
        "matching": {"type": "integer"}, "sending": {"type": "integer"}, "waiting_for_quiet_hours": {"type": "integer"},
        "skipped": {"type": "object", "additionalProperties": {"type": "integer"}}}},
}
OPENAPI: dict[str, Any] = {"paths": _PATHS, "components": {"schemas": _SCHEMAS}}
