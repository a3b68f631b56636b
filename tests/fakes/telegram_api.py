"""A small fake Telegram Bot API server for tests and benchmarks.

It speaks the real wire format, so the real ``telegram.Bot`` talks to it unchanged:
``POST /bot<token>/<method>`` with query, form, JSON or multipart parameters (sendPhoto
uploads), answers ``{"ok": true, "result": ...}`` with real-shaped objects, and refuses the
way Telegram does (401 for a wrong token, 404 for an unknown method, 429 with
``parameters.retry_after``, 403 for a blocked bot, 400 "chat not found"). Every call is
recorded with its parameters, uploaded file bytes and arrival time.

    with FakeTelegram() as fake:
        adapter = TelegramAdapter(fake.token, fake.base_url)
        ...
        fake.sent(chat_id=42)          # the sendMessage / sendPhoto calls to chat 42
        fake.block(42)                 # from now on: 403 "bot was blocked by the user"
        fake.rate_limit(3)             # the next send: 429, retry after 3 s
        fake.fail(502, "Bad Gateway", times=None)   # an outage: every send refused...
        fake.heal()                    # ...until now
        fake.push_update({...})        # handed out by getUpdates

``python tests/fakes/telegram_api.py`` serves one in a process of its own (bench/sender.py),
which tells what arrived when at ``GET /_fake/sent?after=N``.
"""
from __future__ import annotations

import argparse
import itertools
import json
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from telegram import CallbackQuery, Chat, Contact, Message, MessageEntity, Update, User
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

SEND_METHODS = ("sendMessage", "sendPhoto")


@dataclass
class Call:
    """One request the fake answered (or refused)."""

    method: str
    params: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)
    at: float = 0.0  # time.monotonic() on arrival
    status: int = 200

    @property
    def chat_id(self) -> str | None:
        value = self.params.get("chat_id")
        return None if value is None else str(value)

    @property
    def text(self) -> str | None:
        return self.params.get("text", self.params.get("caption"))


@dataclass
class _Failure:
    status: int
    description: str
    method: str | None
    chat_id: str | None
    times: int | None  # None: for ever
    parameters: dict[str, Any] | None = None


class _Quiet(WSGIRequestHandler):
    def log(self, *args: Any, **kwargs: Any) -> None:  # werkzeug would print every request
        pass


class FakeTelegram:
    """Start with ``with FakeTelegram() as fake`` (or ``start()`` / ``stop()``)."""

    def __init__(self, token: str = "123456:TEST-fake-token_0000000000000000", username: str = "loyalty_test_bot",
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self.token = token
        self.username = username
        self.bot_id = int(token.split(":")[0])
        self.calls: list[Call] = []
        self.webhook: dict[str, Any] = {}
        self._host, self._port = host, port  # port 0: any free one
        self._failures: list[_Failure] = []
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1000)
        self._message_ids = itertools.count(1)
        self._files = itertools.count(1)
        self._changed = threading.Condition()
        self._stopping = False
        self._server: Any = None
        self._thread: threading.Thread | None = None

    # -- running ----------------------------------------------------------------------------

    def start(self) -> FakeTelegram:
        self._server = make_server(self._host, self._port, self._wsgi, threaded=True, request_handler=_Quiet)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="fake-telegram", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> FakeTelegram:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """The server root, as TELEGRAM_API_BASE_URL takes it (``/bot<token>/`` follows)."""
        return f"http://{self._host}:{self._server.server_port}"

    # -- scripting ------------------------------------------------------------------------------

    def fail(self, status: int, description: str, *, method: str | None = None, chat_id: object = None,
             times: int | None = 1, retry_after: int | None = None) -> None:
        """The next ``times`` calls (None: every call) of ``method`` (None: any send) to
        ``chat_id`` (None: any chat) are refused with ``status`` and ``description``."""
        parameters = {"retry_after": retry_after} if retry_after is not None else None
        with self._changed:
            self._failures.append(_Failure(status, description, method, None if chat_id is None else str(chat_id),
                                           times, parameters))

    def rate_limit(self, seconds: int, *, method: str | None = None, times: int = 1) -> None:
        self.fail(429, f"Too Many Requests: retry after {seconds}", method=method, times=times, retry_after=seconds)

    def block(self, chat_id: object) -> None:
        """The user blocked the bot: every send to them is refused from now on."""
        self.fail(403, "Forbidden: bot was blocked by the user", chat_id=chat_id, times=None)

    def forget(self, chat_id: object) -> None:
        self.fail(400, "Bad Request: chat not found", chat_id=chat_id, times=None)

    def heal(self) -> None:
        """Refuse nothing scripted any more (an outage is over); what was called is kept."""
        with self._changed:
            self._failures.clear()

    def push_update(self, update: dict[str, Any]) -> int:
        """Queue an update for getUpdates (an update_id is given when it has none)."""
        update = dict(update)
        update.setdefault("update_id", next(self._update_ids))
        with self._changed:
            self._updates.append(update)
            self._changed.notify_all()
        return int(update["update_id"])

    # -- reading what happened ---------------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        with self._changed:
            return [call for call in self.calls if call.method == method and call.status == 200]

    def sent(self, chat_id: object = None) -> list[Call]:
        """Messages and photos delivered (not refused), to ``chat_id`` or to anyone."""
        with self._changed:
            return [c for c in self.calls if c.method in SEND_METHODS and c.status == 200
                    and (chat_id is None or c.chat_id == str(chat_id))]

    def wait_for(self, predicate: Callable[[FakeTelegram], bool], timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
        return True

    def reset(self) -> None:
        with self._changed:
            self.calls.clear()
            self._failures.clear()

    # -- the Bot API -------------------------------------------------------------------------------

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        arrived = time.monotonic()  # before parsing: the stamp is the arrival, not the parse
        request = Request(environ)
        if request.path == "/_fake/sent" and request.method == "GET":
            return self._sent_since(int(request.args.get("after") or 0))(environ, start_response)
        parts = request.path.strip("/").split("/")
        if len(parts) != 2 or not parts[0].startswith("bot"):
            return self._answer(404, None, "Not Found")(environ, start_response)
        token, method = parts[0][3:], parts[1]
        params, files = _params(request)
        call = Call(method, params, files, arrived)
        if token != self.token:
            call.status = 401
            response = self._answer(401, None, "Unauthorized")
        else:
            response = self._dispatch(call)
        with self._changed:
            self.calls.append(call)
            self._changed.notify_all()
        return response(environ, start_response)

    def _sent_since(self, after: int) -> Response:
        """For a fake in a process of its own (``main``): how many messages were delivered,
        and the arrival times (``time.monotonic()``, the same clock in every process) of
        those after the first ``after``."""
        arrivals = [call.at for call in self.sent()]
        return Response(json.dumps({"count": len(arrivals), "at": arrivals[after:]}), content_type="application/json")

    def _dispatch(self, call: Call) -> Response:
        handler = getattr(self, f"_api_{call.method.lower()}", None)
        if handler is None:
            call.status = 404
            return self._answer(404, None, "Not Found")
        failure = self._scripted(call)
        if failure is not None:
            call.status = failure.status
            return self._answer(failure.status, None, failure.description, failure.parameters)
        try:
            return self._answer(200, handler(call))
        except _Refused as refused:
            call.status = refused.status
            return self._answer(refused.status, None, refused.description)

    def _scripted(self, call: Call) -> _Failure | None:
        with self._changed:
            for failure in self._failures:
                if failure.method is None and call.method not in SEND_METHODS:
                    continue
                if failure.method not in (None, call.method) or failure.chat_id not in (None, call.chat_id):
                    continue
                if failure.times is not None:
                    failure.times -= 1
                    if failure.times <= 0:
                        self._failures.remove(failure)
                return failure
        return None

    @staticmethod
    def _answer(status: int, result: Any, description: str | None = None,
                parameters: dict[str, Any] | None = None) -> Response:
        if status == 200:
            body: dict[str, Any] = {"ok": True, "result": result}
        else:
            body = {"ok": False, "error_code": status, "description": description}
            if parameters:
                body["parameters"] = parameters
        return Response(json.dumps(body), status=status, content_type="application/json")

    def _me(self) -> dict[str, Any]:
        return {"id": self.bot_id, "is_bot": True, "first_name": "Loyalty Test", "username": self.username,
                "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False}

    def _message(self, call: Call, **content: Any) -> dict[str, Any]:
        chat_id = call.params.get("chat_id")
        if chat_id in (None, ""):
            raise _Refused(400, "Bad Request: chat_id is empty")
        chat = {"id": int(chat_id) if str(chat_id).lstrip("-").isdigit() else chat_id, "type": "private",
                "first_name": "Customer"}
        message = {"message_id": next(self._message_ids), "from": self._me(), "chat": chat, "date": int(time.time()),
                   **content}
        markup = call.params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = markup  # Telegram echoes inline keyboards only
        return message

    def _api_getme(self, call: Call) -> Any:
        return self._me()

    def _api_sendmessage(self, call: Call) -> Any:
        text = call.params.get("text")
        if not text:
            raise _Refused(400, "Bad Request: message text is empty")
        if len(str(text)) > 4096:
            raise _Refused(400, "Bad Request: message is too long")
        return self._message(call, text=text)

    def _api_sendphoto(self, call: Call) -> Any:
        if "photo" not in call.files and not call.params.get("photo"):
            raise _Refused(400, "Bad Request: there is no photo in the request")
        caption = call.params.get("caption")
        if caption is not None and len(str(caption)) > 1024:
            raise _Refused(400, "Bad Request: message caption is too long")
        size = len(call.files.get("photo", b""))
        n = next(self._files)
        photo = [{"file_id": f"AgAC-{n}-s", "file_unique_id": f"u{n}s", "width": 90, "height": 90, "file_size": size},
                 {"file_id": f"AgAC-{n}-m", "file_unique_id": f"u{n}m", "width": 320, "height": 320, "file_size": size}]
        return self._message(call, photo=photo, **({"caption": caption} if caption is not None else {}))

    def _api_answercallbackquery(self, call: Call) -> Any:
        if not call.params.get("callback_query_id"):
            raise _Refused(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
        return True

    def _api_setwebhook(self, call: Call) -> Any:
        url = str(call.params.get("url") or "")
        if url and not url.startswith("https://"):
            raise _Refused(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        secret = str(call.params.get("secret_token") or "")
        if secret and (len(secret) > 256 or not all(ch.isalnum() or ch in "_-" for ch in secret)):
            raise _Refused(400, "Bad Request: secret token contains unallowed characters")
        with self._changed:
            self.webhook = {"url": url, "secret_token": secret, "allowed_updates": call.params.get("allowed_updates")}
        return True

    def _api_deletewebhook(self, call: Call) -> Any:
        with self._changed:
            self.webhook = {}
            if call.params.get("drop_pending_updates") in (True, "true"):
                self._updates.clear()
        return True

    def _api_getwebhookinfo(self, call: Call) -> Any:
        with self._changed:
            info: dict[str, Any] = {"url": self.webhook.get("url", ""), "has_custom_certificate": False,
                                    "pending_update_count": len(self._updates)}
            if self.webhook.get("allowed_updates"):
                info["allowed_updates"] = self.webhook["allowed_updates"]
        return info

    def _api_getupdates(self, call: Call) -> Any:
        if self.webhook.get("url"):
            raise _Refused(409, "Conflict: can't use getUpdates method while webhook is active; "
                                "use deleteWebhook to delete the webhook first")
        offset = int(call.params.get("offset") or 0)
        limit = int(call.params.get("limit") or 100)
        deadline = time.monotonic() + float(call.params.get("timeout") or 0)
        with self._changed:
            while True:
                # An offset confirms every update before it: they are never handed out again.
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
                if self._updates or self._stopping:
                    return self._updates[:limit]
                left = deadline - time.monotonic()
                if left <= 0:
                    return []
                self._changed.wait(min(left, 0.5))


class _Refused(Exception):  # noqa: N818
    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status, self.description = status, description


def _params(request: Request) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The call's parameters from the query string, a form (url-encoded or multipart: values
    that are objects or arrays arrive JSON-encoded) or a JSON body, and uploaded files."""
    params: dict[str, Any] = dict(request.args.items())
    if request.is_json:
        body = request.get_json(silent=True)
        if isinstance(body, dict):
            params.update(body)
    else:
        for name, value in request.form.items():
            params[name] = _decode(value)
    files = {name: storage.read() for name, storage in request.files.items()}
    return params, files


def _decode(value: str) -> Any:
    if value[:1] in "{[" or value in ("true", "false"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


# --- updates as Telegram sends them, built with PTB's own classes ---------------------------

_BOT_USER = {"id": 123456, "is_bot": True, "first_name": "Loyalty Test", "username": "loyalty_test_bot"}


def _user(chat_id: int, language: str | None) -> User:
    return User(chat_id, "Customer", False, language_code=language)


def _message(update_id: int, chat_id: int, language: str | None = "en", *, chat_type: str = "private",
             **content: Any) -> Message:
    chat = Chat(chat_id, chat_type)
    return Message(update_id, datetime.now(UTC).replace(microsecond=0), chat, from_user=_user(chat_id, language), **content)


def text_update(update_id: int, chat_id: int, text: str, language: str | None = "en", chat_type: str = "private") -> dict[str, Any]:
    """A customer's text message (a leading /command gets its bot_command entity)."""
    entities = None
    if text.startswith("/"):
        entities = (MessageEntity(MessageEntity.BOT_COMMAND, 0, len(text.split()[0])),)
    message = _message(update_id, chat_id, language, chat_type=chat_type, text=text, entities=entities)
    return Update(update_id, message=message).to_dict()


def button_update(update_id: int, chat_id: int, data: str, language: str | None = "en") -> dict[str, Any]:
    """A press on an inline keyboard button under one of the bot's messages."""
    shown = Message(update_id, datetime.now(UTC).replace(microsecond=0), Chat(chat_id, "private"),
                    from_user=User(**_BOT_USER), text="(the bot's menu)")
    query = CallbackQuery(f"cq-{update_id}", _user(chat_id, language), f"ci-{chat_id}", message=shown, data=data)
    return Update(update_id, callback_query=query).to_dict()


def contact_update(update_id: int, chat_id: int, phone: str, *, user_id: int | None = None,
                   language: str | None = "en") -> dict[str, Any]:
    """A contact shared with the request_contact button: the customer's own unless ``user_id``
    says otherwise. Telegram writes the number without "+" as often as with it."""
    contact = Contact(phone, "Customer", user_id=chat_id if user_id is None else user_id)
    return Update(update_id, message=_message(update_id, chat_id, language, contact=contact)).to_dict()


def main(argv: list[str] | None = None) -> None:
    """Serve a fake Bot API in a process of its own until SIGTERM or Ctrl-C; the first line
    printed is its base URL and token. A benchmark that runs the fake in its own process keeps
    the fake's arrival stamps from waiting on the benchmark's threads for the GIL;
    ``GET /_fake/sent?after=N`` reads them."""
    parser = argparse.ArgumentParser(description=main.__doc__.split(";")[0] if main.__doc__ else None)
    parser.add_argument("--port", type=int, default=0, help="where to listen (0: any free port)")
    args = parser.parse_args(argv)
    fake = FakeTelegram(port=args.port).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(fake.base_url, fake.token, flush=True)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
