"""Running the product's own commands as real processes, for the smoke tests: a clean
environment (no channel credentials), output collected line by line, stopped by signal."""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from support import wait_until

BIN = Path(sys.executable).parent
DROPPED = ("TELEGRAM_", "TWILIO_", "LOYALTY_", "PUBLIC_BASE_URL", "DATABASE_URL", "SECRET_KEY", "PORT", "WEB_CONCURRENCY")


def clean_env(database_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(DROPPED)}
    env.update(DATABASE_URL=database_url, LOYALTY_QR_DIR=str(tmp_path / "qr"), PYTHONUNBUFFERED="1", **extra)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"  # this venv's loyalty and gunicorn first
    return env


def loyalty(*args: str) -> list[str]:
    script = BIN / "loyalty"
    if script.exists():
        return [str(script), *args]
    return [sys.executable, "-c", "from web.cli import main; main()", *args]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Running:
    """A child process whose output (stdout and stderr together) is read as it comes."""

    def __init__(self, command: list[str], env: dict[str, str], cwd: Path, stdin: bool = False) -> None:
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env=env, cwd=cwd, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def type(self, line: str) -> None:
        """Write ``line`` to its input, as someone typing it (``stdin=True``)."""
        assert self.proc.stdin is not None, "started without stdin=True"
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while True:
            for line in list(self.lines):
                found = re.search(pattern, line)
                if found:
                    return found
            if self.proc.poll() is not None and not self._reader.is_alive():
                raise AssertionError(f"exited {self.proc.returncode} before {pattern!r}:\n{self.output}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {pattern!r} within {timeout} s:\n{self.output}")
            time.sleep(0.02)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"did not stop within {timeout} s on {signal.Signals(sig).name}:\n{self.output}") from None
        self._reader.join(5)
        return code

    def __enter__(self) -> Running:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def http(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={
        **({"Content-Type": "application/json"} if data else {}), **(headers or {}),
    })
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        raw, status = error.read(), error.code
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw


def wait_until_up(url: str, proc: Running, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if http("GET", url)[0] == 200:
                return
        except OSError:
            pass
        assert proc.proc.poll() is None, f"the server died:\n{proc.output}"
        assert time.monotonic() < deadline, f"{url} did not answer within {timeout} s:\n{proc.output}"
        time.sleep(0.05)


def chat_round_trip(base: str, phone: str, text: str, timeout: float = 10.0) -> list[dict[str, Any]]:
    """Post on /chat, look until the bot's replies are there, and return them."""
    status, body = http("POST", f"{base}/chat/messages", {"phone": phone, "text": text, "id": os.urandom(8).hex()},
                        {"X-Loyalty-Chat": "1"})
    assert status == 200, body
    query = urllib.parse.urlencode({"phone": phone, "after": 0})
    pages: list[dict[str, Any]] = []

    def replied() -> bool:
        status, page = http("GET", f"{base}/chat/messages?{query}")
        assert status == 200, page
        pages.append(page)
        return bool(page["messages"]) and not page["pending"]

    wait_until(replied, f"no reply within {timeout} s", timeout)
    return pages[-1]["messages"]
