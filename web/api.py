"""The REST API (``/api/v1``) for merchants' tills and scripts: JSON in and out, API keys.

Every request is one transaction. Refusals are JSON ``{"error": <reason>, "message": ...}``
with a 4xx status; a bad body never reaches the domain and never changes data.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from channels.inbox import notify
from rewards import apikeys, earning, members, redemption
from rewards.errors import LoyaltyError
from rewards.events import Event
from rewards.models import ApiKey, Program
from rewards.program.config import ProgramConfig
from rewards.program.programs import config_of
from rewards.standing import standing
from web import json_body
from web.runtime import UNAVAILABLE, SetupError, runtime

bp = Blueprint("api", __name__, url_prefix="/api/v1")

_STATUS_BY_REASON = {
    "not_found": 404, "unknown_member": 404, "unknown_receipt": 404,
    "invalid": 422, "bad_amount": 422, "too_many_points": 422, "bad_receipt": 422, "bad_phone": 422,
    "receipt_conflict": 409, "already_refunded": 409, "already_done": 409,
}
_STATUS_BY_CODE_REFUSAL = {"unknown": 404, "used": 409, "expired": 409, "cancelled": 409, "throttled": 429}


class ApiError(Exception):
    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


def _error(status: int, error: str, message: str) -> tuple[Response, int]:
    response = jsonify(error=error, message=message)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="loyalty"'
    return response, status


@bp.errorhandler(ApiError)
def _api_error(error: ApiError) -> Any:
    return _error(error.status, error.error, error.message)


@bp.errorhandler(LoyaltyError)
def _domain_error(error: LoyaltyError) -> Any:
    if isinstance(error, SetupError):
        return _error(503, "not_ready", str(error))
    return _error(_STATUS_BY_REASON.get(error.reason, 409), error.reason, str(error))


def _database_error(error: Exception) -> Any:
    """The database does not answer, or the request kept losing a race: 503, try again."""
    return _error(503, "database_unavailable", "the database is unavailable; try again shortly")


for _unavailable in UNAVAILABLE:
    if not issubclass(_unavailable, LoyaltyError):  # SetupError: _domain_error says which command fixes it
        bp.register_error_handler(_unavailable, _database_error)


def _http_error(error: HTTPException) -> Any:
    """Routing errors, 405 and a body over MAX_CONTENT_LENGTH (413), as JSON under /api/."""
    if not request.path.startswith(bp.url_prefix or "/api/"):
        return error
    name = (error.name or "error").lower().replace(" ", "_")
    return _error(error.code or 400, name, error.description or name)


@dataclass
class Call:
    session: Session
    key: ApiKey
    program: Program
    config: ProgramConfig
    now: datetime

    def notify(self, events: list[Event]) -> None:
        """Queue the member's chat messages for ``events`` (on the channel they last wrote
        from), in this request's transaction; the senders are woken when it commits."""
        notify(self.session, events, self.now, runtime().enabled_channels)

    @property
    def actor(self) -> str:
        return f"apikey:{self.key.prefix}"


def _authenticate(session: Session, now: datetime) -> ApiKey:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise ApiError(401, "unauthorized", "send an API key: Authorization: Bearer <key>")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "unauthorized", "the Authorization header must be: Bearer <key>")
    key = apikeys.authenticate(session, token.strip(), now)
    if key is None:
        raise ApiError(401, "unauthorized", "this API key is wrong or was revoked")
    return key


def endpoint(handler: Callable[..., Any]) -> Callable[..., Any]:
    """Authenticate, then run ``handler`` in one transaction (committed when it returns,
    even with a refusal it returns; rolled back when an error is raised; run again when
    the database reports a lost race: ``Runtime.run``)."""

    @functools.wraps(handler)
    def wrapper(**kwargs: Any) -> Any:
        rt = runtime()
        now = rt.clock()

        def work(session: Session) -> Any:
            key = _authenticate(session, now)
            program = session.get(Program, key.program_id)
            if program is None:  # pragma: no cover - the foreign key rules it out
                raise ApiError(401, "unauthorized", "this API key has no program")
            call = Call(session, key, program, config_of(program), now)
            return handler(call, **kwargs)

        # Run again from the start when the database reports a lost race (a deadlock...):
        # each request is one transaction, and a rolled-back one left nothing behind.
        return rt.run(work)

    return wrapper


def _body() -> dict[str, Any]:
    raw = request.get_data(cache=True)  # raises 413 above MAX_CONTENT_LENGTH
    try:
        return json_body.read_object(raw)
    except json_body.BadJson as error:
        if error.field is not None:
            raise ApiError(422, "bad_field", str(error)) from None
        raise ApiError(400, "bad_json", str(error)) from None


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
    body = _body()
    customer = _text(body, "customer")
    amount = _amount(body)
    receipt_id = _text(body, "receipt_id")
    member = members.find(call.session, call.program.id, customer)
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
    member = members.find(call.session, call.program.id, _path_text(customer, "phone or member code"))
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
        return _error(_STATUS_BY_CODE_REFUSAL.get(result.refused, 409), result.refused, result.message)
    assert result.code is not None
    return jsonify(reward=result.code.reward.name, member_code=result.code.member.code)


@bp.get("/openapi.json")
def openapi() -> Any:
    return jsonify(OPENAPI)


def init_app(app: Flask) -> None:
    from web import campaign_api  # noqa: F401 - adds /campaigns to ``bp``; must come before it is registered

    app.register_blueprint(bp)
    app.register_error_handler(HTTPException, _http_error)


# The OpenAPI 3.1 description of the endpoints above.
_ERROR = {"$ref": "#/components/schemas/Error"}


def _responses(ok: dict[str, Any], **refusals: str) -> dict[str, Any]:
    out: dict[str, Any] = dict(ok)
    out["401"] = {"description": "no API key, or a wrong or revoked one", "content": {"application/json": {"schema": _ERROR}}}
    for status, description in refusals.items():
        out[status.lstrip("_")] = {"description": description, "content": {"application/json": {"schema": _ERROR}}}
    return out


def _json(schema: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}


def _param(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": {"type": "string"}}


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
                "responses": _responses(
                    {"201": _json("Purchase", "recorded"),
                     "200": _json("Purchase", "this receipt was already recorded: nothing earned again")},
                    _400="malformed JSON or not an object", _404="no such member",
                    _409="receipt already used for another member or amount",
                    _413="body too large", _422="a field is missing or wrong (the message names it)",
                ),
            }
        },
        "/purchases/{receipt_id}/refund": {
            "post": {
                "summary": "Refund a purchase: take back the points it earned",
                "parameters": [_param("receipt_id", "the receipt id given when the purchase was recorded")],
                "responses": _responses({"200": _json("Refund", "refunded")}, _404="no purchase with this receipt",
                                        _409="already refunded"),
            }
        },
        "/members/{customer}": {
            "get": {
                "summary": "A member's balance and tier",
                "parameters": [_param("customer", "E.164 phone (+15550000002) or member code")],
                "responses": _responses({"200": _json("Member", "the member")}, _404="no such member",
                                        _422="not a phone or code"),
            }
        },
        "/codes/{code}/redeem": {
            "post": {
                "summary": "Use a redemption code (once, ever)",
                "parameters": [_param("code", "the code as shown or scanned, e.g. K7QM-3XPA-9RT2W")],
                "responses": _responses(
                    {"200": _json("Redeemed", "accepted: give the reward")}, _404="no such code (counts toward the throttle)",
                    _409="used, expired or cancelled (error says which)", _429="too many wrong codes from this key; wait",
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
