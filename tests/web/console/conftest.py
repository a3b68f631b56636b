"""The console's fixtures: the demo shop (tests/web/test_api.py's ``Shop``) and its staff,
signed in through /login as a browser does (the form's CSRF token included)."""
from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from support import migrated_sqlite_url
from test_api import Shop, _settings, any_shop, shop  # noqa: F401 - fixtures: the same shop on both databases

from rewards import staff as staff_users
from web.app import create_app

PASSWORD = "correct horse battery"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def email_of(role: str) -> str:
    return f"{role}@shop.example"


def add_user(shop: Shop, role: str, email: str | None = None, password: str = PASSWORD, language: str = "en") -> str:
    email = email or email_of(role)
    with shop.rt.transaction() as session:
        staff_users.create(session, shop.program_id, email, role, password, shop.rt.clock(), language=language)
    return email


def csrf_token(client: FlaskClient, path: str = "/login") -> str:
    page = client.get(path).get_data(as_text=True)
    match = TOKEN.search(page)
    assert match, f"no CSRF token in {path}"
    return match.group(1)


def sign_in(shop: Shop, role: str, client: FlaskClient | None = None, language: str = "en") -> FlaskClient:
    """A client signed in as a new user with ``role`` (``owner@shop.example``...) who reads
    the console in ``language``."""
    client = client or shop.app.test_client()
    email = add_user(shop, role, language=language)
    response = client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": csrf_token(client)})
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def post_form(client: FlaskClient, path: str, data: dict[str, Any], token_from: str | None = None) -> Any:
    """A form POST as the browser sends it: with the CSRF token of the page it came from."""
    return client.post(path, data={**data, "csrf_token": csrf_token(client, token_from or path)})


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Shop]:
    made = Shop(create_app(_settings(migrated_sqlite_url(tmp_path / "console.db"), tmp_path)))
    yield made
    made.audit()
    made.rt.engine.dispose()


@pytest.fixture
def any_console(any_shop: Shop) -> Shop:  # noqa: F811 - the fixture imported above, by name
    """The console's demo shop on SQLite and (when LOYALTY_TEST_POSTGRES_URL is set) in a
    fresh PostgreSQL schema: tests/web/test_api.py's ``any_shop``."""
    return any_shop


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Debian's Chromium for a module's browser tests (tests/web/browser.py)."""
    from browser import launched  # skips the module when there is no Chromium

    with launched() as browser:
        yield browser


@pytest.fixture
def served(console: Shop) -> Iterator[tuple[Shop, str]]:
    """The console's shop over HTTP with its sender running: (shop, base URL)."""
    from browser import serving

    with serving(console.app) as base:
        yield console, base
