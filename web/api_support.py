"""What every REST API blueprint (``/api/v1``) shares: JSON refusals, API-key authentication,
one transaction a request, reading the body, and the pieces of its OpenAPI description.

A blueprint (web/api.py, web/campaign_api.py) calls ``install_error_handlers`` on itself,
wraps its views in ``endpoint`` and describes them in its own OpenAPI fragment; the app
factory merges the fragments (``merge_openapi``) into the document ``/api/v1/openapi.json`` serves.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from rewards import apikeys
from rewards.errors import LoyaltyError
from rewards.events import Event
from rewards.models import ApiKey, Program
from rewards.program.config import ProgramConfig
from rewards.program.programs import config_of
from web import json_body
from web.inbox import notify
from web.runtime import UNAVAILABLE, SetupError, runtime

PREFIX = "/api/v1"

_STATUS_BY_REASON = {
    "not_found": 404, "unknown_member": 404, "unknown_receipt": 404,
    "invalid": 422, "bad_amount": 422, "too_many_points": 422, "bad_receipt": 422, "bad_phone": 422,
    "receipt_conflict": 409, "already_refunded": 409, "already_done": 409,
}
class ApiError(Exception):
    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


def error_response(status: int, error: str, message: str) -> tuple[Response, int]:
    response = jsonify(error=error, message=message)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="loyalty"'
    return response, status


def _api_error(error: ApiError) -> Any:
    return error_response(error.status, error.error, error.message)


def _domain_error(error: LoyaltyError) -> Any:
    if isinstance(error, SetupError):
        return error_response(503, "not_ready", str(error))
    return error_response(_STATUS_BY_REASON.get(error.reason, 409), error.reason, str(error))


def _database_error(error: Exception) -> Any:
    """The database does not answer, or the request kept losing a race: 503, try again."""
    return error_response(503, "database_unavailable", "the database is unavailable; try again shortly")


def install_error_handlers(bp: Blueprint) -> None:
    """Refusals as JSON ``{"error", "message"}`` for the views of ``bp``."""
    bp.register_error_handler(ApiError, _api_error)
    bp.register_error_handler(LoyaltyError, _domain_error)
    for unavailable in UNAVAILABLE:
        if not issubclass(unavailable, LoyaltyError):  # SetupError: _domain_error says which command fixes it
            bp.register_error_handler(unavailable, _database_error)


def http_error(error: HTTPException) -> Any:
    """Routing errors, 405 and a body over MAX_CONTENT_LENGTH (413), as JSON under /api/."""
    if not request.path.startswith(PREFIX):
        return error
    name = (error.name or "error").lower().replace(" ", "_")
    if error.code == 413:  # Werkzeug's own text does not say what the limit is
        limit = current_app.config["MAX_CONTENT_LENGTH"] // 1024
        return error_response(413, name, f"the body is over the {limit} KB limit: send a smaller one")
    return error_response(error.code or 400, name, error.description or name)


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


def read_body() -> dict[str, Any]:
    raw = request.get_data(cache=True)  # raises 413 above MAX_CONTENT_LENGTH
    try:
        return json_body.read_object(raw)
    except json_body.BadJson as error:
        if error.field is not None:
            raise ApiError(422, "bad_field", str(error)) from None
        raise ApiError(400, "bad_json", str(error)) from None


# --- OpenAPI pieces ------------------------------------------------------------------------

ERROR_SCHEMA = {"$ref": "#/components/schemas/Error"}


def responses(ok: dict[str, Any], **refusals: str) -> dict[str, Any]:
    out: dict[str, Any] = dict(ok)
    error = {"application/json": {"schema": ERROR_SCHEMA}}
    out["401"] = {"description": "no API key, or a wrong or revoked one", "content": error}
    out["503"] = {"description": "not ready, or the database is unavailable: try again shortly", "content": error}
    for status, description in refusals.items():
        out[status.lstrip("_")] = {"description": description, "content": error}
    return out


def json_content(schema: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}


def path_param(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": {"type": "string"}}


def merge_openapi(base: dict[str, Any], *fragments: dict[str, Any]) -> dict[str, Any]:
    """``base`` (info, servers, security...) with the paths and component schemas of each
    fragment added; a path or schema named twice is a mistake, refused at start."""
    document = {**base, "paths": dict(base.get("paths", {})),
                "components": {**base.get("components", {}), "schemas": dict(base.get("components", {}).get("schemas", {}))}}
    for fragment in fragments:
        for section, into in (("paths", document["paths"]), ("schemas", document["components"]["schemas"])):
            items = fragment.get("components", {}).get("schemas", {}) if section == "schemas" else fragment.get("paths", {})
            twice = sorted(set(items) & set(into))
            if twice:
                raise ValueError(f"OpenAPI {section} described twice: {', '.join(twice)}")
            into.update(items)
    return document
