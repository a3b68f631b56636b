"""Every response of /api/v1 in the tests is checked against the OpenAPI document the app
serves: its route and method are described, its status is one the route lists, and its
JSON body matches that status's schema. ``ValidatingClient`` is the test client of every
app in tests/web (conftest.py), so no test has to remember it."""
from __future__ import annotations

import re
from functools import cache
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from werkzeug.test import TestResponse

from web.api import OPENAPI_KEY
from web.api_support import PREFIX


class UndocumentedResponse(AssertionError):
    pass


def _pattern(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{[a-z_]+\\\}", "[^/]+", re.escape(template)) + "$")


@cache
def _routes(document_id: int, paths: tuple[str, ...]) -> list[tuple[re.Pattern[str], str]]:
    # Literal paths first, so /campaigns/{id}/preview is not read as /purchases/{receipt_id}/refund...
    return sorted(((_pattern(path), path) for path in paths), key=lambda pair: pair[1].count("{"))


def check(document: dict[str, Any], method: str, path: str, response: TestResponse) -> None:
    """Raise UndocumentedResponse naming what does not match. A path no route serves (a 404 of
    the router) is not checked: there is nothing to document."""
    if not path.startswith(PREFIX + "/"):
        return
    local = path[len(PREFIX):]  # request.path: decoded, without the query (a "?" in it is data)
    routes = _routes(id(document), tuple(document["paths"]))
    template = next((t for pattern, t in routes if pattern.match(local)), None)
    if template is None:
        return
    operation = document["paths"][template].get(method.lower())
    if operation is None:
        if response.status_code == 405:
            return
        raise UndocumentedResponse(f"{method} {template} answered {response.status_code}, but is not in the OpenAPI document")
    described = operation["responses"].get(str(response.status_code))
    if described is None:
        raise UndocumentedResponse(f"{method} {template} answered {response.status_code}, which the OpenAPI document "
                                   f"does not list (it lists {', '.join(sorted(operation['responses']))})")
    schema = described.get("content", {}).get("application/json", {}).get("schema")
    if schema is None:
        return
    body = response.get_json(silent=True)
    validator = Draft202012Validator({**schema, "components": document["components"]})
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    if errors:
        where = "/".join(str(p) for p in errors[0].absolute_path) or "(body)"
        raise UndocumentedResponse(f"{method} {path} {response.status_code}: {where}: {errors[0].message}")


class ValidatingClient(FlaskClient):
    """A test client that checks each /api/v1 response against the app's OpenAPI document."""

    application: Flask

    def open(self, *args: Any, **kwargs: Any) -> TestResponse:
        response = super().open(*args, **kwargs)
        request = response.request
        document = self.application.extensions.get(OPENAPI_KEY)
        if document is not None:
            check(document, request.method, request.path, response)
        return response
