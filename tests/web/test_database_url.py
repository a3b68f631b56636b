"""A DATABASE_URL that cannot work is one line from every command (what is wrong, what to
do) and exit status 1, never a traceback."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from support import NO_POSTGRES, POSTGRES_URL

from web.cli import cli

COMMANDS = (["audit"], ["worker"], ["serve", "--no-clock"], ["db", "upgrade"], ["adjust", "+15550001111", "5", "--reason", "x"])


def one_line_error(args: list[str], url: str) -> str:
    result = CliRunner().invoke(cli, args, env={"DATABASE_URL": url, "LOYALTY_PROGRAM_FILE": ""})
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert "Traceback" not in result.output
    return lines[0]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda args: args[0])
def test_a_string_that_is_no_url_says_how_to_write_one(args: list[str]) -> None:
    line = one_line_error(args, "garbage")
    assert "DATABASE_URL is not a database URL" in line and "sqlite:///loyalty.db" in line


def test_a_sqlite_file_in_a_missing_folder_names_the_folder(tmp_path: Path) -> None:
    line = one_line_error(["audit"], f"sqlite:///{tmp_path / 'nowhere' / 'loyalty.db'}")
    assert f"{tmp_path / 'nowhere'}, a folder that does not exist" in line


def test_a_postgresql_server_that_does_not_answer_is_named_without_its_password() -> None:
    line = one_line_error(["worker"], "postgresql://loyalty:hunter2@127.0.0.1:1/loyalty")
    assert "cannot reach the database" in line and "127.0.0.1:1" in line and "hunter2" not in line


@pytest.mark.skipif(not POSTGRES_URL, reason=NO_POSTGRES)
@pytest.mark.parametrize("args", COMMANDS[:3], ids=lambda args: args[0])
def test_a_postgresql_database_that_does_not_exist_says_create_it(args: list[str]) -> None:
    url = POSTGRES_URL.rsplit("/", 1)[0] + "/no_such_loyalty_db"  # type: ignore[union-attr]
    line = one_line_error(args, url)
    assert 'the PostgreSQL database "no_such_loyalty_db" does not exist' in line and "createdb no_such_loyalty_db" in line


def test_postgresql_without_its_driver_says_what_to_install(tmp_path: Path) -> None:
    """As the installed ``loyalty`` script runs, with psycopg not installed."""
    missing = tmp_path / "site" / "psycopg"
    missing.mkdir(parents=True)
    (missing / "__init__.py").write_text('raise ModuleNotFoundError("No module named \'psycopg\'", name="psycopg")\n')
    env = {**os.environ, "PYTHONPATH": f"{missing.parent}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "DATABASE_URL": "postgresql://loyalty@127.0.0.1/loyalty"}
    done = subprocess.run([sys.executable, "-c", "from web.cli import main; main()", "audit"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip() == 'Error: DATABASE_URL is a PostgreSQL database but its driver (psycopg) is not installed: run pip install ".[postgres]"'


def test_flasks_own_commands_say_it_in_one_line_too(tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": "garbage"}
    done = subprocess.run([sys.executable, "-c", "from web.cli import main; main()", "routes"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "Error: DATABASE_URL is not a database URL: write it like sqlite:///loyalty.db or postgresql://user:password@host:5432/loyalty"]
