"""A small fake Twilio REST API (Programmable Messaging) for tests and benchmarks.

It speaks the real wire format, so the real ``twilio.rest.Client`` talks to it unchanged
(through ``TWILIO_API_BASE_URL`` / ``channels.twilio.TwilioHttp``):
``POST /2010-04-01/Accounts/<AccountSid>/Messages.json`` with a form body and HTTP Basic
auth, answered 201 with a real-shaped Message resource (sid "SM" + 32 hex, status
"queued"), or refused the way Twilio refuses (401 code 20003 for wrong credentials, 400
with ``{"code", "message", "more_info", "status"}`` for a missing To/From/Body, and any
failure a test scripts: 429, 400 with 21211/21610/63016, 500). Every accepted message is
recorded with its parameters and arrival time.

    with FakeTwilio() as fake:
        client = make_client(fake.account_sid, fake.auth_token, fake.base_url)
        ...
        fake.sent(to="+15550001111")         # the messages to that number
        fake.fail(400, 21610, to="+1555...")  # that number replied STOP (for ever)
        fake.rate_limit(retry_after=2)       # the next request: 429
        fake.fail(500, times=1)              # the next request: a server error
"""
from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

API_VERSION = "2010-04-01"
_MESSAGES = re.compile(rf"^/{API_VERSION}/Accounts/([^/]+)/Messages\.json$")
ERROR_TEXT = {
    20003: "Authenticate",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    21211: "The 'To' number is not a valid phone number.",
    21603: "A 'From' phone number is required.",
    21604: "A 'To' phone number is required.",
    21610: "Attempt to send to unsubscribed recipient",
    21614: "'To' number is not a valid mobile number",
    21617: "The concatenated message body exceeds the 1600 character limit.",
    21619: "A text message body or media urls must be specified.",
    63003: "Channel could not find To address",
    63016: "Failed to send freeform message because you are outside the allowed window.",
    20500: "An internal server error has occurred",
}


@dataclass
class SentMessage:
    """One message the fake accepted."""

    sid: str
    params: dict[str, list[str]]
    at: float  # time.monotonic() on arrival

    def _one(self, name: str) -> str | None:
        values = self.params.get(name)
        return values[0] if values else None

    @property
    def from_(self) -> str | None:
        return self._one("From")

    @property
    def to(self) -> str | None:
        return self._one("To")

    @property
    def body(self) -> str | None:
        return self._one("Body")

    @property
    def media_urls(self) -> list[str]:
        return list(self.params.get("MediaUrl", []))

    @property
    def content_sid(self) -> str | None:
        return self._one("ContentSid")

    @property
    def content_variables(self) -> dict[str, str] | None:
        raw = self._one("ContentVariables")
        return None if raw is None else json.loads(raw)

    @property
    def status_callback(self) -> str | None:
        return self._one("StatusCallback")


@dataclass
class _Failure:
    status: int
    code: int | None
    to: str | None  # only requests to this address ("+1555..." or "whatsapp:+1555...")
    times: int | None  # None: for ever
    retry_after: float | None = None


@dataclass
class FakeTwilio:
    """Start with ``with FakeTwilio() as fake`` (or ``start()`` / ``stop()``)."""

    account_sid: str = "AC" + "0" * 31 + "1"
    auth_token: str = "fake-auth-token-0123456789abcdef"
    host: str = "127.0.0.1"
    port: int = 0  # 0: any free one
    messages: list[SentMessage] = field(default_factory=list)
    refused: list[tuple[int, dict[str, list[str]]]] = field(default_factory=list)  # (status, params)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: list[_Failure] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- running ------------------------------------------------------------------------------

    def start(self) -> FakeTwilio:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8")
                status, payload, headers = fake._handle(self.path, self.headers.get("Authorization"), body)
                self._answer(status, payload, headers)

            def do_GET(self) -> None:  # noqa: N802
                self._answer(404, _error(20404, 404), {})

            def _answer(self, status: int, payload: dict[str, Any], headers: dict[str, str]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:  # the test output stays quiet
                pass

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-twilio", daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeTwilio:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start the fake first"
        return f"http://{self.host}:{self._server.server_address[1]}"

    # -- scripting ------------------------------------------------------------------------------

    def fail(self, status: int, code: int | None = None, *, to: str | None = None, times: int | None = 1) -> None:
        """Refuse the next ``times`` requests (to ``to``, if given) with this status and
        Twilio error code (``times=None``: for ever)."""
        with self._lock:
            self._failures.append(_Failure(status, code, to, times))

    def rate_limit(self, retry_after: float | None = 1, times: int = 1) -> None:
        """The next ``times`` requests get 429 (code 20429), with a Retry-After header."""
        with self._lock:
            self._failures.append(_Failure(429, 20429, None, times, retry_after))

    def clear_failures(self) -> None:
        with self._lock:
            self._failures.clear()

    def sent(self, to: str | None = None) -> list[SentMessage]:
        """Accepted messages, oldest first; ``to`` matches with or without "whatsapp:"."""
        with self._lock:
            return [m for m in self.messages if to is None or (m.to or "").removeprefix("whatsapp:") == to.removeprefix("whatsapp:")]

    # -- the API --------------------------------------------------------------------------------

    def _authorized(self, header: str | None) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return header == f"Basic {expected}"

    def _handle(self, path: str, auth: str | None, body: str) -> tuple[int, dict[str, Any], dict[str, str]]:
        params = parse_qs(body, keep_blank_values=True)
        match = _MESSAGES.match(path.split("?")[0])
        if match is None:
            return self._refuse(404, 20404, params)
        if not self._authorized(auth):
            return self._refuse(401, 20003, params)
        if match.group(1) != self.account_sid:
            return self._refuse(404, 20404, params)
        to = (params.get("To") or [""])[0]
        failure = self._next_failure(to)
        if failure is not None:
            headers = {"Retry-After": f"{failure.retry_after:g}"} if failure.retry_after is not None else {}
            return self._refuse(failure.status, failure.code, params, headers)
        if not to:
            return self._refuse(400, 21604, params)
        if not (params.get("From") or [""])[0] and "MessagingServiceSid" not in params:
            return self._refuse(400, 21603, params)
        text = (params.get("Body") or [""])[0]
        if not text and "MediaUrl" not in params and "ContentSid" not in params:
            return self._refuse(400, 21619, params)
        if len(text) > 1600:
            return self._refuse(400, 21617, params)
        with self._lock:
            sid = "SM" + uuid.uuid4().hex
            self.messages.append(SentMessage(sid, params, time.monotonic()))
        return 201, self._resource(sid, params), {}

    def _next_failure(self, to: str) -> _Failure | None:
        with self._lock:
            for failure in self._failures:
                if failure.to is not None and failure.to.removeprefix("whatsapp:") != to.removeprefix("whatsapp:"):
                    continue
                if failure.times is not None:
                    failure.times -= 1
                    if failure.times <= 0:
                        self._failures.remove(failure)
                return failure
        return None

    def _refuse(
        self, status: int, code: int | None, params: dict[str, list[str]], headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self._lock:
            self.refused.append((status, params))
        return status, _error(code or status, status), headers or {}

    def _resource(self, sid: str, params: dict[str, list[str]]) -> dict[str, Any]:
        now = format_datetime(datetime.now(UTC).replace(microsecond=0), usegmt=False)
        body = (params.get("Body") or [""])[0]
        base = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}"
        return {
            "account_sid": self.account_sid, "api_version": API_VERSION, "body": body,
            "date_created": now, "date_sent": None, "date_updated": now, "direction": "outbound-api",
            "error_code": None, "error_message": None, "from": (params.get("From") or [None])[0],
            "messaging_service_sid": (params.get("MessagingServiceSid") or [None])[0],
            "num_media": str(len(params.get("MediaUrl", []))), "num_segments": str(max(1, -(-len(body) // 153))),
            "price": None, "price_unit": "USD", "sid": sid, "status": "queued",
            "subresource_uris": {"media": f"{base}/Media.json"}, "to": (params.get("To") or [None])[0],
            "uri": f"{base}.json",
        }


def _error(code: int, status: int) -> dict[str, Any]:
    return {
        "code": code, "message": ERROR_TEXT.get(code, "Error"),
        "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status,
    }
