"""The REST API (``/api/v1``) for merchants' tills and scripts: purchases, refunds, members,
codes, and the OpenAPI document of the whole API (web/campaign_api.py adds campaigns).

Every request is one transaction. Refusals are JSON ``{"error": <reason>, "message": ...}``
with a 4xx status; a bad body never reaches the domain and never changes data.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify

from rewards import earning, members, redemption
from rewards.errors import Inconsistent
from rewards.standing import standing
from web.api_support import (
    PREFIX,
    ApiError,
    Call,
    endpoint,
    error_response,
    install_error_handlers,
    json_content,
    path_param,
    read_body,
    responses,
)

bp = Blueprint("api", __name__, url_prefix=PREFIX)
install_error_handlers(bp)
_STATUS_BY_CODE_REFUSAL = {"unknown": 404, "used": 409, "expired": 409, "cancelled": 409, "throttled": 429}
# Where the app factory keeps the merged OpenAPI document (api_support.merge_openapi).
OPENAPI_KEY = "loyalty.openapi"


def _text(body: dict[str, Any], field: str, max_length: int = 100) -> str:
    value = body.get(field)
    if value is None:
        raise ApiError(422, "missing_field", f'"{field}" is required')
    if not isinstance(value, str):
        raise ApiError(422, "bad_field", f'"{field}" must be a string')
    if not value.strip() or len(value) > max_length or not value.isprintable():
        raise ApiError(422, "bad_field", f'"{field}" must be 1 to {max_length} printable characters')
    return value


def _amount(body: dict[str, Any]) -> str:
    value = body.get("amount")
    if value is None:
        raise ApiError(422, "missing_field", '"amount" is required')
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ApiError(422, "bad_field", '"amount" must be a string like "12.50"')
    return value if isinstance(value, str) else str(value)


def _path_text(value: str, what: str) -> str:
    if not value.strip() or len(value) > 100 or not value.isprintable():
        raise ApiError(422, "invalid", f"the {what} must be 1 to 100 printable characters")
    return value


@bp.post("/purchases")
@endpoint
def post_purchase(call: Call) -> Any:
    body = read_body()
    customer = _text(body, "customer")
    amount = _amount(body)
    receipt_id = _text(body, "receipt_id")
    member = members.find(call.session, call.program.id, customer, call.config.phone_region)
    result = earning.record_purchase(
        call.session, call.program, call.config, member, amount, receipt_id, call.now, actor=call.actor
    )
    if result.created:
        call.notify(result.events)  # "+125 points. Balance: 300." on the member's last channel
    return jsonify(
        receipt_id=result.purchase.receipt_id, member_code=result.member.code, points=result.points,
        balance=result.member.balance, created=result.created,
    ), (201 if result.created else 200)


@bp.post("/purchases/<path:receipt_id>/refund")
@endpoint
def refund_purchase(call: Call, receipt_id: str) -> Any:
    result = earning.refund(call.session, call.program, call.config, _path_text(receipt_id, "receipt id"), call.now,
                            actor=call.actor)
    call.notify(result.events)
    return jsonify(receipt_id=result.purchase.receipt_id, member_code=result.member.code,
                   points_reversed=result.points, balance=result.member.balance)


@bp.get("/members/<customer>")
@endpoint
def get_member(call: Call, customer: str) -> Any:
    member = members.find(call.session, call.program.id, _path_text(customer, "phone or member code"),
                          call.config.phone_region)
    figures = standing(call.session, call.config, member, call.now)
    progress = figures.progress
    return jsonify(
        member_code=member.code,
        balance=member.balance,
        spendable=figures.spendable,
        tier=progress.tier.name,
        next_tier=progress.next_tier.name if progress.next_tier else None,
        points_to_next_tier=progress.points_to_next if progress.next_tier else None,
        language=member.language,
        joined_at=member.joined_at.isoformat(),
    )


@bp.post("/codes/<code>/redeem")
@endpoint
def redeem_code(call: Call, code: str) -> Any:
    result = redemption.use(call.session, call.program.id, _path_text(code, "code"), call.now, call.actor)
    if result.refused:
        # Returned, not raised: the transaction commits, so a wrong guess counts toward the throttle.
        return error_response(_STATUS_BY_CODE_REFUSAL.get(result.refused, 409), result.refused, result.message)
    if result.code is None:
        raise Inconsistent("result.code is missing")
    return jsonify(reward=result.code.reward.name, member_code=result.code.member.code)


@bp.get("/openapi.json")
def openapi() -> Any:
    return jsonify(current_app.extensions[OPENAPI_KEY])


# The OpenAPI 3.1 description of the endpoints above, and of what the whole API shares.
OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Loyalty API",
        "version": "1",
        "description": "Record purchases and refunds, look up members, redeem codes. "
        "Errors are JSON {\"error\": <reason code>, \"message\": <for people>}.",
    },
    "servers": [{"url": "/api/v1"}],
    "security": [{"bearer": []}],
    "paths": {
        "/purchases": {
            "post": {
                "summary": "Record a purchase; idempotent on receipt_id",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PurchaseIn"}}},
                },
                "responses": responses(
                    {"201": json_content("Purchase", "recorded"),
                     "200": json_content("Purchase", "this receipt was already recorded: nothing earned again")},
                    _400="malformed JSON or not an object", _404="no such member",
                    _409="receipt already used for another member or amount",
                    _413="body too large", _422="a field is missing or wrong (the message names it)",
                ),
            }
        },
        "/purchases/{receipt_id}/refund": {
            "post": {
                "summary": "Refund a purchase: take back the points it earned",
                "parameters": [path_param("receipt_id", "the receipt id given when the purchase was recorded")],
                "responses": responses({"200": json_content("Refund", "refunded")}, _404="no purchase with this receipt",
                                        _409="already refunded", _422="not a receipt id"),
            }
        },
        "/members/{customer}": {
            "get": {
                "summary": "A member's balance and tier",
                "parameters": [path_param("customer", "E.164 phone (+15550000002) or member code")],
                "responses": responses({"200": json_content("Member", "the member")}, _404="no such member",
                                        _422="not a phone or code"),
            }
        },
        "/codes/{code}/redeem": {
            "post": {
                "summary": "Use a redemption code (once, ever)",
                "parameters": [path_param("code", "the code as shown or scanned, e.g. K7QM-3XPA-9RT2W")],
                "responses": responses(
                    {"200": json_content("Redeemed", "accepted: give the reward")},
                    _404="no such code (counts toward the throttle)", _409="used, expired or cancelled (error says which)",
                    _422="not a code", _429="too many wrong codes from this key; wait",
                ),
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "security": [],
                "responses": {
                    "200": {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": {"type": "object"}}}}
                },
            }
        },
    },
    "components": {
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "description": "an API key from `loyalty apikey create`"}
        },
        "schemas": {
            "Error": {
                "type": "object", "required": ["error", "message"],
                "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
            },
            "PurchaseIn": {
                "type": "object", "required": ["customer", "amount", "receipt_id"],
                "properties": {
                    "customer": {"type": "string", "description": "E.164 phone or member code"},
                    "amount": {"type": ["string", "number"], "examples": ["12.50"],
                               "description": "in the program's currency, at most its decimals"},
                    "receipt_id": {"type": "string", "minLength": 1, "maxLength": 100},
                },
            },
            "Purchase": {
                "type": "object", "required": ["receipt_id", "member_code", "points", "balance", "created"],
                "properties": {
                    "receipt_id": {"type": "string"}, "member_code": {"type": "string"},
                    "points": {"type": "integer"}, "balance": {"type": "integer"},
                    "created": {"type": "boolean", "description": "false: an earlier request recorded it"},
                },
            },
            "Refund": {
                "type": "object", "required": ["receipt_id", "member_code", "points_reversed", "balance"],
                "properties": {
                    "receipt_id": {"type": "string"}, "member_code": {"type": "string"},
                    "points_reversed": {"type": "integer"}, "balance": {"type": "integer"},
                },
            },
            "Member": {
                "type": "object",
                "required": ["member_code", "balance", "spendable", "tier", "points_to_next_tier", "language", "joined_at"],
                "properties": {
                    "member_code": {"type": "string"}, "balance": {"type": "integer"},
                    "spendable": {"type": "integer", "description": "balance less points still in their return window"},
                    "tier": {"type": "string"}, "next_tier": {"type": ["string", "null"]},
                    "points_to_next_tier": {"type": ["integer", "null"]}, "language": {"type": "string"},
                    "joined_at": {"type": "string", "format": "date-time"},
                },
            },
            "Redeemed": {
                "type": "object", "required": ["reward", "member_code"],
                "properties": {"reward": {"type": "string"}, "member_code": {"type": "string"}},
            },
        },
    },
}
