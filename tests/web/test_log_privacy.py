"""No phone number, redemption code or media token in any log line: werkzeug's request log
(``loyalty serve``), gunicorn's access log (production), and the app's own lines."""
from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.cli import ScriptInfo
from running import Running, clean_env, free_port, http, wait_until_up
from sqlalchemy import select
from support import migrated_sqlite_url
from werkzeug.serving import make_server

from rewards import apikeys, members, redemption
from rewards.models import Reward
from rewards.program.config import DEMO_PROGRAM_PATH, load_program_file
from web import media
from web.app import create_app
from web.cli import cli
from web.cli.serve import QuietRequestHandler
from web.redaction import redact
from web.settings import Settings

BEN = "+15550000002"
SECRETS_IN_PATHS = ("5550000002", "K7QM3XPA9RT2W")


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    settings = Settings.from_env({"DATABASE_URL": migrated_sqlite_url(tmp_path / "logs.db"),
                                  "LOYALTY_QR_DIR": str(tmp_path / "qr"), "SECRET_KEY": "s3cret",
                                  "PUBLIC_BASE_URL": "https://loyalty.example"})
    made = create_app(settings)
    result = CliRunner().invoke(cli, ["demo"], obj=ScriptInfo(create_app=lambda: made))
    assert result.exit_code == 0, result.output
    yield made
    made.extensions["loyalty"].engine.dispose()


def test_redact_masks_phones_codes_and_media_tokens_and_leaves_the_rest() -> None:
    line = ('127.0.0.1 - - "GET /api/v1/members/+15550000002 HTTP/1.1" 200 "POST /api/v1/codes/k7qm-3xpa-9rt2w/redeem"'
            " /chat/messages?phone=%2B15550000002 /media/qr/gAAAAABn_x-y==.png code K7QM-3XPA-9RT2W K7QM3XPA9RT2W"
            " update 1714557600000 chat 987654321 member 7KQ2M9XA")
    assert redact(line) == (
        '127.0.0.1 - - "GET /api/v1/members/+15*******02 HTTP/1.1" 200 "POST /api/v1/codes/***/redeem"'
        " /chat/messages?phone=%2B15*******02 /media/qr/*** code *** ***"
        " update 1714557600000 chat 987654321 member 7KQ2M9XA"
    )


def test_the_request_log_and_the_apps_lines_carry_no_phone_code_or_media_token(
    app: Flask, caplog: pytest.LogCaptureFixture,
) -> None:
    rt = app.extensions["loyalty"]
    with rt.transaction() as session:
        program, _ = rt.program(session)
        _, key = apikeys.create(session, program.id, "till", rt.clock())
        reward = session.scalars(select(Reward).where(Reward.slug == "free-coffee")).one()
        code = redemption.issue(session, load_program_file(DEMO_PROGRAM_PATH), members.find(session, program.id, BEN),
                                reward, rt.clock()).code
    token_path = media.qr_url_maker(rt.settings, rt.clock)(code).removeprefix("https://loyalty.example")
    token = token_path.removeprefix("/media/qr/").removesuffix(".png")
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.port}"
    auth = {"Authorization": f"Bearer {key}"}
    caplog.set_level(logging.INFO)
    try:
        assert http("GET", f"{base}/api/v1/members/{BEN}", headers=auth)[0] == 200
        assert http("POST", f"{base}/api/v1/codes/K7QM3XPA9RT2W/redeem", headers=auth)[0] == 404
        assert http("POST", f"{base}/api/v1/codes/{code}/redeem", headers=auth)[0] == 200
        assert http("GET", f"{base}{token_path}")[0] == 200
        # the app's own line for a refused chat request names its path (a phone in it)
        assert http("GET", f"{base}/chat/qr/1.png?phone=%2B15550000002")[0] == 404
        logging.getLogger("loyalty").warning("a line of our own about %s and code %s", BEN, code)
    finally:
        server.shutdown()
        thread.join(10)
    logged = caplog.text
    assert "/api/v1/members/+15*******02" in logged and "/api/v1/codes/***/redeem" in logged  # the lines are there
    for secret in (*SECRETS_IN_PATHS, code, token):
        assert secret not in logged, f"{secret} reached the log:\n{logged}"


def test_gunicorns_access_log_carries_no_phone_code_or_media_token(tmp_path: Path) -> None:
    port = free_port()
    env = clean_env(migrated_sqlite_url(tmp_path / "gunicorn.db"), tmp_path, SECRET_KEY="s3cret",
                    PUBLIC_BASE_URL="https://loyalty.example")
    command = ["gunicorn", "--workers", "1", "--bind", f"127.0.0.1:{port}", "--access-logfile", "-", "web.wsgi:app"]
    token = "gAAAAABnAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    base = f"http://127.0.0.1:{port}"
    with Running(command, env, tmp_path) as web:
        wait_until_up(f"{base}/healthz", web)
        http("GET", f"{base}/api/v1/members/{BEN}")
        http("POST", f"{base}/api/v1/codes/K7QM-3XPA-9RT2W/redeem")
        http("GET", f"{base}/media/qr/{token}.png")
        web.wait_for(r"/media/qr/\*\*\*")
        web.stop(signal.SIGINT)
    assert "GET /api/v1/members/+15*******02" in web.output
    for secret in (*SECRETS_IN_PATHS, "K7QM-3XPA-9RT2W", token):
        assert secret not in web.output, f"{secret} reached gunicorn's log:\n{web.output}"
