"""The documentation stays true: every runnable example in README.md and docs/ is run
against the demo program and its output compared, doctest-style; every page of docs/ is
linked from the README and every relative link resolves.

A runnable example is a fenced ```console block: ``$ command`` lines (a line ending in ``\\``
continues on the next), each followed by the output it prints. ``...`` alone on a line
matches any number of lines, and inside a line any text. Each markdown file is one session:
a fresh directory and database with the demo program loaded (unless the file's first
command is ``loyalty demo``), its blocks run in order. The commands run in this process, as
the real ones would in a shell:

- ``loyalty ARGS`` through the CLI itself (a new app each time, as a new process would be);
- ``printf 'a\\nb\\n' | loyalty ARGS`` with that text on standard input, ``printf '...' > FILE``;
- ``VAR=$(loyalty ARGS)`` (or ``export VAR=...``) keeps standard output for ``$VAR``;
- ``curl`` against the app's test client (``-X``, ``-H``, ``-d``, the URL's path).

The clock is fixed (``now`` below, in the program's time zone); ``<!-- docs-test: now
2026-12-05 10:00 -->`` in the markdown moves it for the examples after it. Member and
reward codes and API keys come from a seeded generator, so the pages can show real ones.
"""
from __future__ import annotations

import random
import re
import shlex
import string
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo
from support import migrated_sqlite_url

from web.app import create_app
from web.cli import cli
from web.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted((ROOT / "docs").glob("*.md"))
MARKDOWN = [ROOT / "README.md", *PAGES, ROOT / "bench" / "README.md"]
ZONE = ZoneInfo("America/New_York")  # the demo program's
START = "2026-11-30 10:00"  # a Monday morning, before the docs' Saturday campaign
NOW = re.compile(r"<!-- docs-test: now (\d{4}-\d\d-\d\d \d\d:\d\d) -->")


def at(local: str) -> datetime:
    """A wall time in the program's zone, as the real clock gives it: in UTC."""
    return datetime.strptime(local, "%Y-%m-%d %H:%M").replace(tzinfo=ZONE).astimezone(UTC)


@dataclass
class Step:
    line: int  # in the markdown file, for the failure message
    command: str
    now: str
    expected: list[str] = field(default_factory=list)


def steps(path: Path) -> list[Step]:
    found: list[Step] = []
    now, in_block, continued = START, False, False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not in_block:
            if m := NOW.search(line):
                now = m.group(1)
            in_block = line.strip() == "```console"
            continue
        if line.strip() == "```":
            in_block = False
        elif continued:
            found[-1].command = found[-1].command[:-1] + " " + line.strip()
        elif line.startswith("$ "):
            found.append(Step(number, line[2:], now))
        else:
            assert found, f"{path.name}:{number}: output before any $ command"
            found[-1].expected.append(line)
        continued = bool(found) and in_block and found[-1].command.endswith("\\")
    return found


class Seeded(random.Random):
    """Stands in for ``secrets`` where codes and keys are made: the same every run."""

    def randbits(self, k: int) -> int:
        return self.getrandbits(k)

    def token_urlsafe(self, nbytes: int = 32) -> str:
        return "".join(self.choice(string.ascii_letters + string.digits + "-_") for _ in range(nbytes * 4 // 3 + 1))


class Shell:
    """One page's session: a database, the variables set so far, the clock."""

    def __init__(self, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.settings = Settings.from_env({"DATABASE_URL": migrated_sqlite_url(tmp / "loyalty.db"),
                                           "LOYALTY_QR_DIR": str(tmp / "loyalty-qr")})
        self.variables: dict[str, str] = {}
        self.now = at(START)
        seeded = Seeded(12)
        monkeypatch.setattr("rewards.codes.secrets", seeded)
        monkeypatch.setattr("rewards.apikeys.secrets", seeded)

    def app(self):  # type: ignore[no-untyped-def]
        app = create_app(self.settings)
        app.extensions["loyalty"].clock = lambda: self.now
        return app

    def run(self, command: str) -> str:
        command = re.sub(r"\$\{?(\w+)\}?", lambda m: self.variables.get(m.group(1), m.group(0)), command)
        if m := re.fullmatch(r"(?:export )?(\w+)=\$\((.*)\)", command):
            out, err = self.loyalty(shlex.split(m.group(2), comments=True))
            self.variables[m.group(1)] = out.strip()
            return err
        words = shlex.split(command, comments=True)
        if words[0] == "printf" and words[-2:-1] == [">"]:
            (Path.cwd() / words[-1]).write_text(words[1].encode().decode("unicode_escape"), encoding="utf-8")
            return ""
        if "|" in words:
            left, right = words[: words.index("|")], words[words.index("|") + 1 :]
            assert left[0] == "printf" and len(left) == 2, f"only printf '...' | loyalty is understood: {command}"
            out, err = self.loyalty(right, stdin=left[1].encode().decode("unicode_escape"))
            return out + err
        if words[0] == "curl":
            return self.curl(words[1:])
        out, err = self.loyalty(words)
        return out + err

    def loyalty(self, words: list[str], stdin: str | None = None) -> tuple[str, str]:
        assert words[0] == "loyalty", f"not a loyalty command: {words}"
        app = self.app()
        result = CliRunner().invoke(cli, words[1:], input=stdin, obj=ScriptInfo(create_app=lambda: app))
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result.stdout, result.stderr

    def curl(self, words: list[str]) -> str:
        method, headers, data, url = None, {}, None, None
        options = iter(words)
        for word in options:
            if word == "-s":
                continue
            if word == "-X":
                method = next(options)
            elif word == "-H":
                name, _, value = next(options).partition(":")
                headers[name.strip()] = value.strip()
            elif word == "-d":
                data = next(options)
            else:
                url = word
        assert url and url.startswith("http://127.0.0.1:8000/"), f"curl to this app only: {url}"
        response = self.app().test_client().open(url.removeprefix("http://127.0.0.1:8000"),
                                                 method=method or ("POST" if data else "GET"), headers=headers, data=data)
        return response.get_data(as_text=True)


def as_pattern(expected: list[str]) -> re.Pattern[str]:
    parts = []
    for line in expected:
        if line.strip() == "...":
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            parts.append(".*?".join(re.escape(piece) for piece in line.rstrip().split("...")) + r"\n")
    return re.compile("".join(parts), re.DOTALL)


def tidy(text: str) -> str:
    lines = [line.rstrip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return "".join(line + "\n" for line in lines)


@pytest.mark.parametrize("path", [p for p in MARKDOWN if p.exists() and steps(p)], ids=lambda p: p.relative_to(ROOT).as_posix())
def test_the_examples_print_what_the_page_says(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    shell = Shell(tmp_path, monkeypatch)
    page = steps(path)
    if not page[0].command.startswith("loyalty demo"):
        shell.run("loyalty demo")
    for step in page:
        shell.now = at(step.now)
        actual = tidy(shell.run(step.command))
        expected = tidy("\n".join(step.expected))
        if not as_pattern(expected.splitlines()).fullmatch(actual):
            pytest.fail(f"{path.relative_to(ROOT)}:{step.line}: $ {step.command}\n"
                        f"--- the page says:\n{expected}--- it prints:\n{actual}", pytrace=False)


def test_the_examples_cover_what_a_merchant_does_first() -> None:
    commands = [step.command for path in MARKDOWN if path.exists() for step in steps(path)]
    wanted = [r"loyalty demo", r"loyalty purchase .*--receipt R-1001", r"loyalty refund ", r"loyalty redeem ",
              r"loyalty member show ", r"loyalty adjust ", r"loyalty campaign preview ", r"loyalty campaign create .*--audience ",
              r"\| loyalty chat --as ", r"^curl .*/api/v1/"]
    missing = [w for w in wanted if not any(re.search(w, c) for c in commands)]
    assert not missing, f"no runnable example runs: {missing}"
    receipts = [c for c in commands if re.search(r"loyalty purchase .*--receipt R-1001", c)]
    assert len(receipts) >= 2, "the repeated purchase (same receipt) is shown and run"


def test_one_purchase_says_the_same_points_everywhere() -> None:
    """Ben's 12.50 (Gold, x 1.5) is 187 points wherever a page mentions it, examples that
    are not run included (a chat transcript, a JSON answer)."""
    for path in MARKDOWN:
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, 1):
            told = re.search(r"[+(](\d[\d,]*) points|\"points\": ?(\d+)", line)
            about_ben = any(ben in window for window in lines[max(0, number - 2):number] for ben in ("+15550000002", "Ben"))
            if "12.50" in "".join(lines[max(0, number - 2):number]) and told and about_ben:
                assert "187" in told.groups(), f"{path.relative_to(ROOT)}:{number}: {line}"


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"\s", "-", re.sub(r"[^\w\- ]", "", heading.strip().lower()))


def test_every_page_is_linked_from_the_readme_and_every_link_resolves() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert PAGES, "docs/ has pages"
    unlinked = [p.name for p in PAGES if f"](docs/{p.name}" not in readme]
    assert not unlinked, f"README.md does not link: {unlinked}"
    broken = []
    for path in MARKDOWN:
        text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.DOTALL)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue  # https:, mailto:
            file, _, anchor = target.partition("#")
            resolved = (path.parent / file).resolve() if file else path
            if not resolved.exists():
                broken.append(f"{path.relative_to(ROOT)}: {target}")
            elif anchor and resolved.suffix == ".md":
                headings = re.findall(r"^#+ (.+)$", resolved.read_text(encoding="utf-8"), flags=re.MULTILINE)
                if anchor not in {slug(h) for h in headings}:
                    broken.append(f"{path.relative_to(ROOT)}: {target} (no such heading)")
    assert not broken, "links that lead nowhere:\n" + "\n".join(broken)
