"""WhatsApp and SMS through Twilio: the output side (channels/twilio_inbound.py is the input).

``TwilioAdapter.send`` turns a Reply into one ``client.messages.create`` call of the real
SDK: numbered menus as text, the QR as WhatsApp media through a signed URL (SMS shows the
typable code, which is already in the text), WhatsApp's 24-hour window (outside it only an
approved template, or the message is skipped), and Twilio's errors mapped onto what the
sender understands (RetryAfter, PermanentFailure, Skipped; anything else is retried).

May import the twilio SDK; must not import Flask or web (the composition root hands in the
callables that need a database or a URL).
"""
from __future__ import annotations

import json
import logging
import threading
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from twilio.base.exceptions import TwilioException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from bot.messages import Reply
from channels.base import quiet_sdk_logger, render_text
from channels.sender import PermanentFailure, RetryAfter, Skipped
from rewards.phones import mask

log = logging.getLogger(__name__)

WHATSAPP, SMS = "whatsapp", "sms"
CHANNELS = (WHATSAPP, SMS)
WINDOW = timedelta(hours=24)  # WhatsApp: free-form messages only this long after the customer wrote
MAX_BODY = 1600  # Twilio refuses a longer body (error 21617)
MAX_TEMPLATE_TEXT = 1000  # a WhatsApp template body is at most 1024 characters in all
STATUS_PATH = "/webhooks/twilio/status"

NO_TEMPLATE = "outside WhatsApp's 24-hour window and no template"
OPTED_OUT = "opted out (STOP)"
# The reason a 21610 refusal leaves on the identity; twilio_inbound reads it back as a STOP.
CARRIER_STOP_REASON = "twilio 21610: the customer replied STOP to this number"

# Twilio error codes that mean the address itself cannot be reached: the sender marks it
# unreachable (until the customer writes again) and skips what is queued for it.
DEAD_ADDRESS = {
    21211: "invalid 'To' number",
    21214: "'To' number cannot be reached",
    21217: "the number does not appear to be valid",
    21610: CARRIER_STOP_REASON.removeprefix("twilio 21610: "),
    21612: "Twilio cannot route to this number",
    21614: "'To' number is not a mobile number",
    63003: "not a WhatsApp number",
    63024: "invalid message recipient",
}
RATE_LIMITED = {20429, 63018, 14107}  # too many requests / WhatsApp sender rate / SMS rate
OUTSIDE_WINDOW = 63016

# --- GSM-7 --------------------------------------------------------------------------------

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")  # each costs two septets
_LOOKALIKES = {
    "\u00a0": " ", "\u202f": " ", "\u2009": " ", "\u2007": " ", "\t": " ",
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u2032": "'", "\u00b4": "'", "`": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-",
    "\u2026": "...", "\u2022": "-", "\u00b7": "-", "\u00d7": "x",
}


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in text)


def gsm7(text: str) -> str:
    """``text`` with characters outside GSM-7 replaced by their look-alikes where one exists
    ("á" -> "a", curly quotes -> straight, no-break space -> space), so an SMS costs one
    160-character segment instead of a 70-character UCS-2 one. Anything without a look-alike
    (emoji) is kept: meaning comes before price."""
    out = []
    for ch in text:
        if ch in GSM7_BASIC or ch in GSM7_EXTENDED:
            out.append(ch)
        elif ch in _LOOKALIKES:
            out.append(_LOOKALIKES[ch])
        else:
            base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
            out.append(base if base and is_gsm7(base) else ch)
    return "".join(out)


def segments(text: str) -> int:
    """How many SMS segments ``text`` costs (160/153 septets in GSM-7, 70/67 in UCS-2)."""
    if is_gsm7(text):
        units = sum(2 if ch in GSM7_EXTENDED else 1 for ch in text)
        return 1 if units <= 160 else -(-units // 153)
    units = len(text.encode("utf-16-le")) // 2
    return 1 if units <= 70 else -(-units // 67)


def _chunks(text: str, limit: int = MAX_BODY) -> list[str]:
    """``text`` in pieces Twilio accepts, cut at line ends where possible (a data export can
    run past 1,600 characters)."""
    pieces: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        cut = cut if cut > limit // 2 else text.rfind(" ", 0, limit)
        cut = cut if cut > limit // 2 else limit
        pieces.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    return [*pieces, text] if text or not pieces else pieces


# --- the HTTP client ----------------------------------------------------------------------


class TwilioHttp(TwilioHttpClient):
    """The SDK's own HTTP client (it still does all the serialisation) with a timeout, sent
    to ``base_url`` instead of Twilio's hosts when one is given (TWILIO_API_BASE_URL: a
    gateway, or a test server), and remembering the Retry-After of a 429."""

    def __init__(self, base_url: str | None = None, timeout: float = 15.0) -> None:
        super().__init__(timeout=timeout)
        quiet_sdk_logger("twilio.http_client")
        self.base_url = base_url.rstrip("/") if base_url else None
        self._local = threading.local()

    def rewrite(self, url: str) -> str:
        if not self.base_url:
            return url
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if host != "twilio.com" and not host.endswith(".twilio.com"):
            return url
        return self.base_url + parts.path + (f"?{parts.query}" if parts.query else "")

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        response = super().request(method, self.rewrite(url), *args, **kwargs)
        self._local.retry_after = response.headers.get("Retry-After") if response.status_code == 429 else None
        return response

    def retry_after(self, default: float = 1.0) -> float:
        """Seconds the last 429 on this thread asked for (``default`` when it did not say)."""
        raw = getattr(self._local, "retry_after", None)
        try:
            return min(3600.0, max(0.0, float(raw))) if raw is not None else default
        except ValueError:
            return default


def make_client(account_sid: str, auth_token: str, api_base_url: str | None = None, timeout: float = 15.0) -> Client:
    """The real ``twilio.rest.Client``, through ``TwilioHttp``."""
    return Client(account_sid, auth_token, http_client=TwilioHttp(api_base_url, timeout))


# --- sending --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Contact:
    """What the adapter must know about an address at send time: when the customer last
    wrote (WhatsApp's window), whether they sent STOP, and the program's template."""

    last_inbound_at: datetime | None
    stopped: bool = False
    template_sid: str | None = None


class TwilioError(Exception):
    """A Twilio refusal worth retrying. Carries status and code only: Twilio's own message
    can quote the customer's number, and this ends up in logs."""

    def __init__(self, status: int, code: int | None) -> None:
        super().__init__(f"twilio HTTP {status}, error {code}")
        self.status, self.code = status, code


def whatsapp_address(number: str) -> str:
    return number if number.startswith("whatsapp:") else f"whatsapp:{number}"


def one_line(text: str) -> str:
    """WhatsApp refuses template variables with line breaks, tabs or runs of spaces."""
    return " ".join(text.split())


class TwilioAdapter:
    """Sends Replies from one Twilio sender (a WhatsApp sender or an SMS number).

    ``contact(address)`` reads what is known about the address (None: nothing);
    ``media_url(text)`` makes the signed URL of a QR image of ``text``; ``status_callback``
    is the URL Twilio reports delivery to. Addresses are E.164 numbers on both channels.
    """

    def __init__(
        self,
        client: Client,
        channel: str,
        sender: str,
        *,
        contact: Callable[[str], Contact | None],
        status_callback: str | None = None,
        media_url: Callable[[str], str] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if channel not in CHANNELS:
            raise ValueError(f"channel must be one of {CHANNELS}, not {channel!r}")
        self.client = client
        self.channel = channel
        self.sender = whatsapp_address(sender) if channel == WHATSAPP else sender.removeprefix("whatsapp:")
        self.contact = contact
        self.status_callback = status_callback
        self.media_url = media_url
        self.clock = clock

    def send(self, address: str, reply: Reply) -> str:
        """Send ``reply``; returns the Twilio message SID (of the first part, when a long
        text needs several)."""
        contact = self.contact(address)
        if contact is not None and contact.stopped and reply.kind != "reply":
            # Answers to what the customer writes still go; news and promotions do not.
            raise Skipped(OPTED_OUT)
        if self.channel == WHATSAPP:
            messages = self._whatsapp(reply, contact)
        else:
            # SMS: no MMS; the typable code is in the text already, a picture goes as its link.
            text = render_text(reply, True, reply.hint)
            if reply.image is not None and reply.image.kind == "url":
                text = f"{text}\n{reply.image.data}"
            messages = [{"body": part} for part in _chunks(gsm7(text))]
        sids = [self._create(address, params) for params in messages]
        return sids[0]

    def _whatsapp(self, reply: Reply, contact: Contact | None) -> list[dict[str, Any]]:
        last = contact.last_inbound_at if contact else None
        if last is None or self.clock() - last > WINDOW:
            template = contact.template_sid if contact else None
            text = one_line(render_text(reply, True, reply.hint))
            if template is None:
                raise Skipped(NO_TEMPLATE)
            if len(text) > MAX_TEMPLATE_TEXT:
                raise Skipped("outside WhatsApp's 24-hour window and too long for a template")
            return [{"content_sid": template, "content_variables": json.dumps({"1": text}, ensure_ascii=False)}]
        messages: list[dict[str, Any]] = [{"body": part} for part in _chunks(render_text(reply, True, reply.hint))]
        if reply.image is not None and reply.image.kind == "qr" and self.media_url is not None:
            messages[0]["media_url"] = [self.media_url(reply.image.data)]
        elif reply.image is not None and reply.image.kind == "url":
            messages[0]["media_url"] = [reply.image.data]  # a campaign's picture: Twilio fetches it
        return messages

    def _create(self, address: str, params: dict[str, Any]) -> str:
        to = whatsapp_address(address) if self.channel == WHATSAPP else address
        if self.status_callback:
            params = {**params, "status_callback": self.status_callback}
        try:
            message = self.client.messages.create(from_=self.sender, to=to, **params)
        except TwilioException as error:  # TwilioRestException, TwilioServiceException (RFC 9457)
            raise self._outcome(error, address) from None
        return str(message.sid)

    def _outcome(self, error: TwilioException, address: str) -> Exception:
        status, code = _int(getattr(error, "status", None)) or 0, _int(getattr(error, "code", None))
        if status == 429 or code in RATE_LIMITED:
            http = self.client.http_client
            return RetryAfter(http.retry_after() if isinstance(http, TwilioHttp) else 1.0)
        if code in DEAD_ADDRESS:
            log.info("%s to %s refused for good: twilio %s", self.channel, mask(address), code)
            return PermanentFailure(f"twilio {code}: {DEAD_ADDRESS[code]}")
        if code == OUTSIDE_WINDOW:
            return Skipped("outside WhatsApp's 24-hour window (twilio 63016)")
        return TwilioError(status, code)


def _int(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[call-overload,no-any-return]
    except (TypeError, ValueError):
        return None
