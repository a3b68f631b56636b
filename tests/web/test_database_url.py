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



ROOT = Path(__file__).resolve().parents[2]
BAD_URLS = pytest.mark.parametrize(("url", "line"), [
    ("garbage", "Error: DATABASE_URL is not a database URL: write it like sqlite:///loyalty.db"
                " or postgresql://user:password@host:5432/loyalty"),
    ("sqlite:///{tmp}/nowhere/loyalty.db", "Error: DATABASE_URL names a SQLite file in {tmp}/nowhere, a folder that"
                                           " does not exist: create the folder or change DATABASE_URL"),
], ids=["not-a-url", "missing-folder"])


def gunicorn(tmp_path: Path, url: str, *args: str) -> tuple[int, str]:
    """gunicorn on web.wsgi:app from the repository's root, as the Procfile runs it; its
    status and everything it printed. Bounded: it must stop on its own."""
    env = {**os.environ, "DATABASE_URL": url.format(tmp=tmp_path),
           "XDG_RUNTIME_DIR": str(tmp_path)}  # its control socket here, not in the shared home
    process = subprocess.Popen([str(Path(sys.executable).with_name("gunicorn")), "--bind", "127.0.0.1:0", *args,
                                "web.wsgi:app"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    try:
        output, _ = process.communicate(timeout=60)
    finally:
        process.kill()
    return process.returncode, output


@BAD_URLS
def test_gunicorn_says_it_in_one_line_and_stops_before_starting_workers(tmp_path: Path, url: str, line: str) -> None:
    """The Procfile's web line, three workers: gunicorn's master checks the settings first
    (gunicorn.conf.py), prints the line once and stops, exit 3; no worker starts, so none
    fails on its own (gunicorn, stopping for the first, prints a traceback reaping the next)."""
    status, output = gunicorn(tmp_path, url, "--workers", "3")
    assert status == 3, output
    assert "Traceback" not in output and "Booting worker" not in output
    assert [text for text in output.splitlines() if text.startswith("Error")] == [line.format(tmp=tmp_path)]


@BAD_URLS
def test_a_gunicorn_worker_says_it_in_one_line_without_the_config_file(tmp_path: Path, url: str, line: str) -> None:
    """Started without gunicorn.conf.py, the worker building the app says it (web/wsgi.py)
    and exits so that gunicorn stops ("Worker failed to boot", exit 3) instead of starting
    worker after worker."""
    empty = tmp_path / "empty.conf.py"
    empty.write_text("")
    status, output = gunicorn(tmp_path, url, "--workers", "1", "--config", str(empty))
    assert status == 3, output
    assert "Traceback" not in output and "Worker failed to boot." in output
    assert [text for text in output.splitlines() if text.startswith("Error")] == [line.format(tmp=tmp_path)]
