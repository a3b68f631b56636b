"""Running the product: `loyalty serve` (web + sender in one process), `loyalty worker`
(the sender alone, woken by NOTIFY on PostgreSQL), gunicorn on web/wsgi.py, and the rate
limit settings. The commands run as real processes with no channel credentials."""
from __future__ import annotations

import importlib
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo
from running import Running, chat_round_trip, clean_env, free_port, http, loyalty, wait_until_up
from sqlalchemy import Engine, text
from support import NO_POSTGRES, POSTGRES_URL, drop_postgres_schema, migrated_postgres_url, migrated_sqlite_url, wait_until

from channels.sender import Limits
from rewards.errors import ConfigError
from web.app import create_app
from web.cli import cli
from web.sender_runtime import limits
from web.settings import Settings

NEWCOMER = "+15550001111"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated database with the demo program, on SQLite and (when it is there) PostgreSQL."""
    yield from _database(request.param, tmp_path)


@pytest.fixture
def production_url(tmp_path: Path) -> Iterator[str]:
    """PostgreSQL when it is there (what production runs on), else SQLite."""
    yield from _database("postgres" if POSTGRES_URL else "sqlite", tmp_path)


def _database(kind: str, tmp_path: Path) -> Iterator[str]:
    schema = None
    if kind == "sqlite":
        url = migrated_sqlite_url(tmp_path / "run.db")
    else:
        if not POSTGRES_URL:
            pytest.skip(NO_POSTGRES)
        url, schema = migrated_postgres_url()
    app = create_app(Settings.from_env({"DATABASE_URL": url, "LOYALTY_QR_DIR": str(tmp_path / "qr")}))
    try:
        result = CliRunner().invoke(cli, ["demo"], obj=ScriptInfo(create_app=lambda: app))
        assert result.exit_code == 0, result.output
    finally:
        app.extensions["loyalty"].engine.dispose()
    yield url
    if schema:
        drop_postgres_schema(schema)


def no_phone_numbers(output: str) -> None:
    assert "5550001111" not in output, "a full phone number reached the console"


def test_loyalty_serve_on_a_fresh_machine(tmp_path: Path) -> None:
    env = clean_env(f"sqlite:///{tmp_path / 'fresh.db'}", tmp_path)
    with Running(loyalty("serve", "--port", "0"), env, tmp_path) as serve:
        base = serve.wait_for(r"serving on (http://127\.0\.0\.1:\d+)").group(1)
        serve.wait_for("Ctrl-C to stop")
        console = serve.output
        assert "demo program" in console  # an empty database gets the demo
        assert f"{base}/chat" in console and f"{base}/healthz" in console
        assert "web       on " in console
        assert "telegram  off  set TELEGRAM_BOT_TOKEN" in console
        assert "sms       off  set TWILIO_ACCOUNT_SID" in console
        assert "sender: in this process" in console
        assert http("GET", f"{base}/healthz") == (200, {"status": "ok"})
        assert http("GET", f"{base}/chat")[0] == 200
        replies = chat_round_trip(base, NEWCOMER, "hi")
        assert "Reply YES or NO" in replies[-1]["text"]
        assert serve.stop(signal.SIGINT) == 0
    assert "stopped (messages sent: 1)" in serve.output
    no_phone_numbers(serve.output.partition("serving on")[2])  # the demo's "try it" lines name sample numbers


def test_loyalty_worker_sends_and_stops_gracefully(database_url: str, tmp_path: Path) -> None:
    postgres = database_url.startswith("postgresql")
    # On PostgreSQL the poll is made too slow to matter: only NOTIFY can wake it in time.
    args = ["worker", "--report-every", "0.2"] + (["--poll", "3600"] if postgres else [])
    app = create_app(Settings.from_env({"DATABASE_URL": database_url, "LOYALTY_QR_DIR": str(tmp_path / "qr")}))
    client = app.test_client()
    try:
        with Running(loyalty(*args), clean_env(database_url, tmp_path), tmp_path) as worker:
            worker.wait_for(r"worker \S+ started on " + ("postgresql \\(LISTEN" if postgres else "sqlite"))
            worker.wait_for(r"rates: web unlimited")
            if postgres:  # its listener has run LISTEN: what is queued from now on, NOTIFY announces
                wait_until(lambda: listening(app.extensions["loyalty"].engine, worker.proc.pid),
                           f"the worker never listened:\n{worker.output}")
            seen: list[dict] = []
            for said in ("hi", "yes"):
                body = {"phone": NEWCOMER, "text": said, "id": f"smoke-{said}-1"}
                assert client.post("/chat/messages", json=body, headers={"X-Loyalty-Chat": "1"}).status_code == 200

                def replied() -> bool:
                    page = client.get("/chat/messages", query_string={"phone": NEWCOMER, "after": 0}).json
                    if len(page["messages"]) > len(seen) and not page["pending"]:
                        seen[:] = page["messages"]
                        return True
                    return False

                wait_until(replied, f"the worker did not send:\n{worker.output}")
            worker.wait_for(r"sent [1-9]\d*, failed 0")
            assert worker.stop(signal.SIGTERM) == 0
    finally:
        app.extensions["loyalty"].engine.dispose()
    assert "You're in" in " ".join(m["text"] for m in seen)
    assert "stopping: finishing the message in hand" in worker.output
    assert "stopped after" in worker.output
    no_phone_numbers(worker.output)


def listening(engine: Engine, pid: int) -> bool:
    """Whether process ``pid``'s outbox listener (named in pg_stat_activity) has run LISTEN."""
    with engine.connect() as conn:
        return bool(conn.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = :name AND query LIKE 'LISTEN %'"
        ), {"name": f"loyalty outbox listener {pid}"}).scalar())


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip() and not line.startswith("#"))


def test_the_procfile_runs_gunicorn_workers_and_a_loyalty_worker(production_url: str, tmp_path: Path) -> None:
    """The Procfile's road, its own lines run by a shell: several gunicorn web workers (no
    sender in them) and one `loyalty worker`; /chat answered through both."""
    port = free_port()
    env = clean_env(production_url, tmp_path, LOYALTY_WEB_CHAT="on", PORT=str(port), WEB_CONCURRENCY="2")
    lines = procfile()
    assert lines["release"] == "loyalty db upgrade"  # (tests/web/test_cli.py runs it; the fixture did the same)
    base = f"http://127.0.0.1:{port}"
    with Running(["/bin/sh", "-c", "exec " + lines["web"]], env, tmp_path) as web, \
            Running(["/bin/sh", "-c", "exec " + lines["worker"]], env, tmp_path) as worker:
        wait_until_up(f"{base}/healthz", web)
        worker.wait_for("rates:")
        replies = chat_round_trip(base, NEWCOMER, "hi")
        assert "Reply YES or NO" in replies[-1]["text"]
        warm = chat_round_trip(base, "+15550000002", "balance")
        assert "points" in warm[-1]["text"]
        assert worker.stop(signal.SIGTERM) == 0
        web.stop(signal.SIGINT)  # gunicorn's quick shutdown: nothing is in flight
    assert web.output.count("Booting worker") == 2, web.output
    no_phone_numbers(web.output + worker.output)


def test_production_app_has_the_chat_page_off_unless_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'wsgi.db'}")
    monkeypatch.delenv("LOYALTY_WEB_CHAT", raising=False)
    wsgi = importlib.import_module("web.wsgi")
    app = wsgi.make_app()
    assert app.test_client().get("/chat").status_code == 404
    assert "web" not in app.extensions["loyalty"].enabled_channels
    monkeypatch.setenv("LOYALTY_WEB_CHAT", "on")
    assert wsgi.make_app().test_client().get("/chat").status_code == 200
    for made in (app, wsgi.app):
        made.extensions["loyalty"].engine.dispose()


# --- rate limits -------------------------------------------------------------------------


def rates(**env: str) -> dict[str, Limits]:
    return limits(Settings.from_env({"DATABASE_URL": "sqlite://", **env}))


def test_default_rates_follow_the_providers_rules() -> None:
    assert rates() == {
        "telegram": Limits(rate=30, per_chat_rate=1, per_chat_burst=3),
        "whatsapp": Limits(rate=80),
        "sms": Limits(rate=1),
    }


def test_rates_can_be_changed_per_channel_and_per_chat() -> None:
    changed = rates(LOYALTY_RATE_SMS="3", LOYALTY_RATE_TELEGRAM_PER_CHAT="0", LOYALTY_RATE_WEB="50",
                    LOYALTY_RATE_WHATSAPP_PER_CHAT="0.5")
    assert changed["sms"] == Limits(rate=3)
    assert changed["telegram"] == Limits(rate=30, per_chat_rate=None)
    assert changed["web"] == Limits(rate=50)
    assert changed["whatsapp"] == Limits(rate=80, per_chat_rate=0.5)
    assert rates(LOYALTY_RATE_TELEGRAM_PER_CHAT="2")["telegram"] == Limits(rate=30, per_chat_rate=2, per_chat_burst=3)


@pytest.mark.parametrize(("name", "value", "says"), [
    ("LOYALTY_RATE_TELEGRAM", "fast", "must be a number"),
    ("LOYALTY_RATE_TELEGRAM", "0", "above 0"),
    ("LOYALTY_RATE_SMS", "-1", "above 0"),
    ("LOYALTY_RATE_SMS", "nan", "above 0"),
    ("LOYALTY_RATE_SMS_PER_CHAT", "inf", "above 0"),
    ("LOYALTY_RATE_TELEGRAMM", "30", "no channel 'telegramm'"),
])
def test_a_wrong_rate_is_refused_with_its_name(name: str, value: str, says: str) -> None:
    with pytest.raises(ConfigError) as refused:
        rates(**{name: value})
    assert name in str(refused.value) and says in str(refused.value)


def test_serve_and_worker_refuse_a_wrong_rate_in_one_line(tmp_path: Path) -> None:
    settings = Settings.from_env({"DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}", "LOYALTY_RATE_SMS": "lots",
                                  "LOYALTY_QR_DIR": str(tmp_path / "qr")})
    app = create_app(settings)
    for command in ("worker", "serve"):
        result = CliRunner().invoke(cli, [command], obj=ScriptInfo(create_app=lambda: app))
        assert result.exit_code == 1
        assert "Error: LOYALTY_RATE_SMS: must be a number of messages a second above 0 (got 'lots')" in result.output
    app.extensions["loyalty"].engine.dispose()
