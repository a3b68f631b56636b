"""The ``loyalty`` command as staff and scripts use it: output, exit status, database."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, func, select, text

from rewards.models import Code, Member, Purchase
from web import database
from web.app import create_app
from web.cli import cli
from web.settings import Settings

BEN = "+15550000002"  # a demo member in Gold, with points


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


@pytest.fixture
def run(db_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Invoke ``loyalty ARGS`` in-process against a fresh database file."""
    settings = Settings.from_env({"DATABASE_URL": db_url, "LOYALTY_QR_DIR": str(tmp_path / "qr")})

    def _run(*args: str, input: str | None = None):  # type: ignore[no-untyped-def]  # noqa: A002
        app = create_app(settings)
        runner = CliRunner()
        return runner.invoke(cli, list(args), input=input, obj=_script_info(app), catch_exceptions=False,
                             prog_name="loyalty")

    return _run


def _script_info(app):  # type: ignore[no-untyped-def]
    from flask.cli import ScriptInfo

    return ScriptInfo(create_app=lambda: app)


def count(db_url: str, model) -> int:  # type: ignore[no-untyped-def]
    engine = create_engine(db_url)
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model)).scalar_one()


def test_purchase_twice_with_one_receipt_earns_once_and_says_so(run, db_url) -> None:  # type: ignore[no-untyped-def]
    assert run("demo").exit_code == 0
    first = run("purchase", BEN, "12.50", "--receipt", "R-1001")
    assert first.exit_code == 0, first.output
    assert "+187 points" in first.output  # 12.50 x 10 x 1.5 rounded down (Ben is Gold)
    second = run("purchase", BEN, "12.50", "--receipt", "R-1001")
    assert second.exit_code == 0
    assert "already recorded" in second.output and "nothing earned again" in second.output
    assert count(db_url, Purchase) == 11  # 10 demo purchases + this one


def test_refund_takes_the_points_back_and_only_once(run) -> None:  # type: ignore[no-untyped-def]
    run("demo")
    run("purchase", BEN, "10.00", "--receipt", "R-7")
    refunded = run("refund", "R-7")
    assert refunded.exit_code == 0 and "-150 points" in refunded.output
    again = run("refund", "R-7")
    assert again.exit_code == 1 and "already refunded" in again.output


def test_user_mistakes_get_one_clear_line_and_exit_1(run) -> None:  # type: ignore[no-untyped-def]
    run("demo")
    cases = {
        ("purchase", "+15559999999", "5", "--receipt", "X"): "no member with phone or code",
        ("purchase", BEN, "12.345", "--receipt", "X"): "at most 2 decimals",
        ("purchase", BEN, "0", "--receipt", "X"): "more than zero",
        ("purchase", BEN, "ten", "--receipt", "X"): "is not an amount: write it like 12.50",
        ("purchase", BEN, "١٢", "--receipt", "X"): '"١٢" is not an amount: write it like 12.50 (digits 0-9)',
        ("purchase", BEN, "１２", "--receipt", "X"): '"１２" is not an amount',
        ("refund", "NOPE"): "no purchase with receipt NOPE",
    }
    for args, message in cases.items():
        result = run(*args)
        assert result.exit_code == 1, args
        assert message in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("typed", ["5550000002", "(555) 000-0002", "555-000-0002", "555.000.0002"])
def test_a_number_as_dialled_in_the_shops_country_finds_the_member(run, typed: str) -> None:  # type: ignore[no-untyped-def]
    run("demo")  # a shop in America/New_York: US numbers
    bought = run("purchase", typed, "12.50", "--receipt", "R-1")
    assert bought.exit_code == 0 and "+187 points" in bought.output, bought.output
    assert run("adjust", typed, "1", "--reason", "r").exit_code == 0
    assert "balance 3654 points" in run("member", "show", typed).output


def test_a_negative_purchase_points_to_refund_in_one_line(run) -> None:  # type: ignore[no-untyped-def]
    run("demo")
    for amount in ("-5", "-12.50"):
        result = run("purchase", BEN, amount, "--receipt", "R-1")
        assert result.exit_code == 1
        assert result.output == (f"Error: a purchase amount is never negative (got {amount}): to take back the points "
                                 f"of a returned purchase, use `loyalty refund RECEIPT`\n")


def test_adjust_takes_a_negative_number_as_it_is_written(run) -> None:  # type: ignore[no-untyped-def]
    run("demo")
    result = run("adjust", BEN, "-50", "--reason", "double entry")
    assert result.exit_code == 0 and "by -50: balance 3416" in result.output


@pytest.mark.parametrize(("args", "line"), [
    (("purchase", BEN, "5"), "Error: Missing option '--receipt'. See 'loyalty purchase --help'."),
    (("adjust", BEN, "five", "--reason", "r"),
     "Error: Invalid value for 'POINTS': 'five' is not a valid integer. See 'loyalty adjust --help'."),
    (("purchase", BEN), "Error: Missing argument 'AMOUNT'. See 'loyalty purchase --help'."),
    (("campaign", "create", "--name", "x", "--txt", "y"), "Error: No such option '--txt'"),
    (("purchace",), "Error: No such command 'purchace'. Did you mean 'purchase'? See 'loyalty --help'."),
])
def test_a_usage_mistake_is_one_line_naming_the_option(run, args: tuple[str, ...], line: str) -> None:  # type: ignore[no-untyped-def]
    result = run(*args)
    assert result.exit_code == 2
    assert result.output.splitlines() == [result.output.splitlines()[0]] and result.output.startswith(line)


def test_help_shows_what_a_merchant_uses_and_not_flasks_developer_tools(run) -> None:  # type: ignore[no-untyped-def]
    shown = run("--help").output
    commands = {line.split()[0] for line in shown.partition("Commands:")[2].splitlines() if line.strip()}
    assert {"purchase", "refund", "serve", "routes", "shell"} <= commands and "run" not in commands
    for flask_option in ("--app", "-A,", "--env-file", "--debug", "--version"):
        assert flask_option not in shown
    assert run("run").exit_code == 2  # not there at all: `loyalty serve` runs the app
    routes = run("routes")
    assert routes.exit_code == 0 and "/api/v1/purchases" in routes.output


def test_redeem_once_then_refused_with_a_reason(run, db_url) -> None:  # type: ignore[no-untyped-def]
    run("demo")
    chat = run("chat", "--as", BEN, input="redeem free-coffee\nyes\n")
    assert "Show this code at the counter" in chat.output
    engine = create_engine(db_url)
    with engine.connect() as conn:
        code = conn.execute(select(Code.code)).scalar_one()
    ok = run("redeem", code.lower())
    assert ok.exit_code == 0 and "redeemed: Free coffee" in ok.output
    again = run("redeem", code)
    assert again.exit_code == 1 and "already used" in again.output
    unknown = run("redeem", "AAAA-BBBB-CCCCC")
    assert unknown.exit_code == 1 and "no code" in unknown.output


def test_an_expired_code_is_refused_and_expire_returns_the_points(run, db_url) -> None:  # type: ignore[no-untyped-def]
    run("demo")
    run("chat", "--as", BEN, input="redeem pastry\nyes\n")
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE codes SET expires_at = '2000-01-01 00:00:00'"))
        code = conn.execute(select(Code.code)).scalar_one()
    refused = run("redeem", code)
    assert refused.exit_code == 1 and "expired" in refused.output
    assert "1 unused codes expired" in run("expire").output
    with engine.connect() as conn:
        assert conn.execute(select(Code.status)).scalar_one() == "expired"


def test_audit_passes_on_the_demo(run) -> None:  # type: ignore[no-untyped-def]
    run("demo")
    result = run("audit")
    assert result.exit_code == 0 and "audit OK" in result.output


def test_a_wrong_program_file_is_refused_naming_the_key(run, tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "shop.toml"
    bad.write_text('[program]\nname = "Shop"\ncurrency = "USD"\ntimezone = "UTC"\n[earning]\nrounding = "sideways"\n')
    result = run("program", "check", str(bad))
    assert result.exit_code == 1
    assert 'shop.toml: [earning] rounding: must be one of down, nearest, up (got "sideways")' in result.output


def test_db_upgrade_creates_the_schema_and_says_where_it_is(run, db_url) -> None:  # type: ignore[no-untyped-def]
    result = run("db", "upgrade")
    head = database.head_revision(create_engine(db_url))
    assert head is not None and head >= "0004"
    assert result.exit_code == 0 and f"database at {head} (was empty)" in result.output
    assert "(no change)" in run("db", "upgrade").output
    assert count(db_url, Member) == 0


def test_chat_piped_from_a_file_prints_each_reply(tmp_path: Path) -> None:
    """The installed console script, as a merchant would script it."""
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "LOYALTY_QR_DIR": str(tmp_path / "qr")}
    loyalty = [sys.executable, "-c", "from web.cli import main; main()"]
    subprocess.run([*loyalty, "demo"], env=env, check=True, capture_output=True, timeout=60)
    done = subprocess.run(
        [*loyalty, "chat", "--as", "+15550003333"], input="hi\nyes\nbalance\ncard\n", env=env,
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    replies = [block for block in done.stdout.split("\n\n") if block.strip()]
    assert len(replies) == 4
    assert replies[0].startswith("Welcome to Bean There Coffee rewards!")
    assert "You have 50 points" in replies[2]
    png = next((tmp_path / "qr").glob("card-*.png"))
    assert str(png) in replies[3]
