"""Talk to the bot as a WhatsApp or SMS customer from a terminal, with no Twilio account.

    python tests/fakes/twilio_terminal.py [--channel whatsapp|sms] [--phone +15550001111]
                                          [--app http://127.0.0.1:8000] [--port 8082]

Starts the fake Twilio REST API (``tests/fakes/twilio_api.py``) and prints the one command
that runs the app against it (``loyalty serve`` with TWILIO_API_BASE_URL). What you type is
posted to the app's ``/webhooks/whatsapp`` (or ``/webhooks/sms``) as Twilio posts it, a form
signed with X-Twilio-Signature; what the bot sends back through the Messages API is printed,
and media (the QR on WhatsApp) are fetched from their signed links and saved as PNG files in
./loyalty-terminal-images/ (kept after you quit).
Numbered menus are plain text on these channels: type the number. /quit or Ctrl-D stops.
"""
from __future__ import annotations

import argparse
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import TextIO

if __package__ in (None, ""):  # run as a script: tests/ on the path, for ``fakes``
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from twilio.request_validator import RequestValidator  # noqa: E402

from fakes.terminal import ChatTerminal, run  # noqa: E402
from fakes.twilio_api import FakeTwilio  # noqa: E402

SENDERS = {"whatsapp": "whatsapp:+15550100001", "sms": "+15550100000"}  # the shop's numbers


class TwilioTerminal(ChatTerminal):
    """Typed lines become Twilio's signed webhook posts; the fake's accepted messages are printed."""

    def __init__(self, fake: FakeTwilio, channel: str, phone: str, app: str, photos: Path, out: TextIO) -> None:
        super().__init__(photos, out)
        self.fake, self.channel, self.phone, self.app = fake, channel, phone, app.rstrip("/")
        self.address = ("whatsapp:" if channel == "whatsapp" else "") + phone
        self.validator = RequestValidator(fake.auth_token)
        self._shown = 0

    def send(self, words: str) -> None:
        url = f"{self.app}/webhooks/{self.channel}"
        form = {
            "MessageSid": "SM" + uuid.uuid4().hex,  # new each run: the app ignores a MessageSid it has seen
            "AccountSid": self.fake.account_sid, "From": self.address, "To": SENDERS[self.channel],
            "Body": words, "NumMedia": "0", "NumSegments": "1", "ApiVersion": "2010-04-01",
        }
        if self.channel == "whatsapp":
            form.update(ProfileName="Customer", WaId=self.phone.lstrip("+"))
        request = urllib.request.Request(url, data=urllib.parse.urlencode(form).encode(), headers={
            "X-Twilio-Signature": self.validator.compute_signature(url, form),
            "Content-Type": "application/x-www-form-urlencoded",
        })
        try:
            with urllib.request.urlopen(request, timeout=10):
                pass
        except urllib.error.HTTPError as error:
            self.print(f"(the app answered {error.code} {error.reason}: {error.read()[:200].decode(errors='replace')})",
                       lead="")
        except OSError as error:
            self.print(f"(the app at {self.app} does not answer ({error}): start it as shown above)", lead="")

    def show_new(self, stop: threading.Event) -> None:
        sent = self.fake.sent(to=self.phone)
        if len(sent) <= self._shown:
            stop.wait(0.1)
            return
        for message in sent[self._shown:]:
            for media in message.media_urls:
                self.print(f"[photo: {self._fetch(media)}]")
            if message.body:
                self.print(message.body)
            elif message.content_sid:
                self.print(f"(template {message.content_sid} with {message.content_variables})")
        self._shown = len(sent)

    def _fetch(self, url: str) -> str:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return str(self.save_photo(response.read()))
        except OSError as error:
            return f"{url} could not be fetched: {error}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--channel", choices=("whatsapp", "sms"), default="whatsapp")
    parser.add_argument("--phone", default="+15550001111", help="the customer's number, like +15550001111")
    parser.add_argument("--app", default="http://127.0.0.1:8000", help="where `loyalty serve` answers")
    parser.add_argument("--port", type=int, default=8082, help="where the fake Twilio API listens (0: any free port)")
    args = parser.parse_args(argv)
    if not args.phone.startswith("+") or not args.phone[1:].isdigit():
        raise SystemExit(f"--phone {args.phone!r}: write the number with its country code, like +15550001111")
    try:
        fake = FakeTwilio(port=args.port).start()
    except OSError as error:
        raise SystemExit(f"cannot listen on port {args.port} ({error.strerror}): choose another with --port") from None
    app = args.app.rstrip("/")
    port = urllib.parse.urlsplit(app).port or 8000
    try:
        run(TwilioTerminal, (
            f"A fake Twilio API is listening on {fake.base_url}. In another terminal, run the app against it:\n\n"
            f"  TWILIO_ACCOUNT_SID={fake.account_sid} TWILIO_AUTH_TOKEN={fake.auth_token} \\\n"
            f"  TWILIO_API_BASE_URL={fake.base_url} TWILIO_WHATSAPP_FROM={SENDERS['whatsapp']} \\\n"
            f"  TWILIO_SMS_FROM={SENDERS['sms']} PUBLIC_BASE_URL={app} loyalty serve --port {port}\n\n"
            f"Then write here as {args.phone} on {args.channel} (try: hi). Menus are numbered: type the number.\n"
            f"/quit or Ctrl-D stops."
        ), fake, args.channel, args.phone, app)
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
