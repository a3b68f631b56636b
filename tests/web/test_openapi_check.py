"""The OpenAPI check every web test's client runs (openapi_check.py) does refuse a response
the document does not describe."""
from __future__ import annotations

from typing import Any

import pytest
from flask import Flask, jsonify
from openapi_check import UndocumentedResponse

from web import api, api_support, campaign_api


@pytest.fixture
def app() -> Flask:
    app = Flask("check")
    app.extensions[api.OPENAPI_KEY] = api_support.merge_openapi(api.OPENAPI, campaign_api.OPENAPI)

    @app.get("/api/v1/members/<customer>")
    def member(customer: str) -> Any:
        body = {"member_code": "M1", "balance": "lots", "spendable": 1, "tier": "Gold",
                "points_to_next_tier": None, "language": "en", "joined_at": "2026-01-01T00:00:00+00:00"}
        return jsonify(body), 200 if customer == "wrong-body" else 418

    return app


def test_a_body_that_breaks_its_schema_is_named(app: Flask) -> None:
    with pytest.raises(UndocumentedResponse, match="balance: 'lots' is not of type 'integer'"):
        app.test_client().get("/api/v1/members/wrong-body")


def test_a_status_the_route_does_not_list_is_named(app: Flask) -> None:
    with pytest.raises(UndocumentedResponse, match="answered 418, which the OpenAPI document does not list"):
        app.test_client().get("/api/v1/members/teapot")


def test_a_fragment_may_not_describe_a_path_twice() -> None:
    with pytest.raises(ValueError, match="described twice: /campaigns"):
        api_support.merge_openapi(api.OPENAPI, campaign_api.OPENAPI, campaign_api.OPENAPI)
