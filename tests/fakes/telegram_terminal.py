"""Talk to the bot as a Telegram customer from a terminal, with no Telegram account.

    python tests/fakes/telegram_terminal.py [--port 8081] [--chat 1001] [--language en]

Starts the fake Bot API server (``tests/fakes/telegram_api.py``) and prints the one command
that points the real bot at it (``loyalty telegram poll`` with TELEGRAM_API_BASE_URL). What
you type is handed to the bot as the customer's update, through getUpdates, as Telegram
would; what the bot sends back is printed: texts, menu buttons (numbered: type the number to
press one), the "share my phone" button, and photos (the QR), saved as PNG files in
./loyalty-terminal-images/ (kept after you quit).

    hi                      a text message
    2                       presses button 2 of the bot's last menu (text when there is none)
    /phone +15550001111     shares a phone number, as the "share my phone" button does
    /quit or Ctrl-D         stops
"""
from __future__ import annotations

import argparse
import itertools
import sys
import threading
import time
from pathlib import Path
from typing import TextIO

if __package__ in (None, ""):  # run as a script: tests/ on the path, for ``fakes``
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fakes.telegram_api import Call, FakeTelegram, button_update, contact_update, text_update  # noqa: E402
from fakes.terminal import ChatTerminal, run  # noqa: E402


class TelegramTerminal(ChatTerminal):
    """Typed lines become the customer's updates, handed out by the fake's getUpdates."""

    def __init__(self, fake: FakeTelegram, chat: int, language: str, photos: Path, out: TextIO) -> None:
        super().__init__(photos, out)
        self.fake, self.chat, self.language = fake, chat, language
        self.buttons: list[str] = []  # callback data of the last inline menu, in order
        # Update ids go on from the previous run's: the bot remembers the ids it has answered
        # (and its poll offset), so numbering from 1 again would have the first messages of a
        # second run dropped as repeats. Milliseconds since 1970 grow faster than anyone types.
        self._ids = itertools.count(time.time_ns() // 1_000_000)
        self._shown = 0
        self._lock = threading.Lock()

    def send(self, words: str) -> None:
        n = next(self._ids)
        with self._lock:
            buttons = self.buttons
        if words.isdigit() and 1 <= int(words) <= len(buttons):
            self.fake.push_update(button_update(n, self.chat, buttons[int(words) - 1], self.language))
        elif words.split()[0] == "/phone":
            phone = words[len("/phone"):].strip()
            if not phone:
                self.print("(write the number after /phone, like /phone +15550001111)", lead="")
            else:
                self.fake.push_update(contact_update(n, self.chat, phone, language=self.language))
        else:
            self.fake.push_update(text_update(n, self.chat, words, self.language))

    def show_new(self, stop: threading.Event) -> None:
        self.fake.wait_for(lambda f: stop.is_set() or len(f.sent(chat_id=self.chat)) > self._shown, timeout=0.5)
        sent = self.fake.sent(chat_id=self.chat)
        for call in sent[self._shown:]:
            self.show(call)
        self._shown = len(sent)

    def show(self, call: Call) -> None:
        if call.method == "sendPhoto":
            self.print(f"[photo: {self.save_photo(call.files.get('photo', b''))}]")
        if call.text:
            self.print(str(call.text))
        markup = call.params.get("reply_markup")
        if not isinstance(markup, dict):
            return
        if "inline_keyboard" in markup:
            pressed = [button for row in markup["inline_keyboard"] for button in row if "callback_data" in button]
            with self._lock:
                self.buttons = [str(button["callback_data"]) for button in pressed]
            self.print("  ".join(f"[{i}] {button['text']}" for i, button in enumerate(pressed, 1)), lead="     ")
        for row in markup.get("keyboard", []):
            for button in row:
                if isinstance(button, dict) and button.get("request_contact"):
                    self.print(f"[{button['text']}]: type /phone and your number", lead="     ")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8081, help="where the fake Bot API listens (0: any free port)")
    parser.add_argument("--chat", type=int, default=1001, help="the customer's chat id")
    parser.add_argument("--language", default="en", help="the customer's Telegram language (en, es...)")
    args = parser.parse_args(argv)
    try:
        fake = FakeTelegram(port=args.port).start()
    except OSError as error:
        raise SystemExit(f"cannot listen on port {args.port} ({error.strerror}): choose another with --port") from None
    try:
        run(TelegramTerminal, (
            f"A fake Telegram Bot API is listening on {fake.base_url}. In another terminal, run the bot against it:\n\n"
            f"  loyalty demo   # once, if this database has no program yet\n"
            f"  TELEGRAM_BOT_TOKEN={fake.token} TELEGRAM_API_BASE_URL={fake.base_url} loyalty telegram poll\n\n"
            f"Then write here as the customer of chat {args.chat} (try: hi). A number presses that button of the\n"
            f"bot's last menu; /phone +15550001111 shares a phone number; /quit or Ctrl-D stops."
        ), fake, args.chat, args.language)
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
