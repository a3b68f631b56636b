"""Fixtures of the web tests: every app's test client checks /api/v1 responses against
the OpenAPI document (openapi_check.py)."""
from __future__ import annotations

import pytest
from flask import Flask
from openapi_check import ValidatingClient


@pytest.fixture(autouse=True)
def _api_responses_match_the_openapi_document(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Flask, "test_client_class", ValidatingClient)
