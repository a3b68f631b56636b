"""What the chat terminals share (telegram_terminal.py, twilio_terminal.py): reading what the
customer types, printing what the bot sends as it arrives, keeping its pictures as files."""
from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

# Where the bot's pictures are saved, in the directory the terminal runs from. They are kept
# after /quit: their paths were printed for the user to open, maybe later.
PHOTOS = "loyalty-terminal-images"


class ChatTerminal:
    """One customer's chat. Subclasses hand a typed line to the bot (``send``) and print
    what reached the fake provider (``show_new``)."""

    def __init__(self, photos: Path, out: TextIO) -> None:
        self.photos, self.out = photos, out
        self._photo_count = 0

    def say(self, line: str) -> bool:
        """Hand ``line`` to the bot; False when it asks to stop."""
        words = line.strip()
        if words in ("/quit", "/exit"):
            return False
        if words:
            self.send(words)
        return True

    def send(self, words: str) -> None:
        raise NotImplementedError

    def show_new(self, stop: threading.Event) -> None:
        """Print what the bot sent since the last call; wait a little when nothing came."""
        raise NotImplementedError

    def save_photo(self, data: bytes) -> Path:
        """A new file, never one an earlier run saved (its path may still be open somewhere)."""
        self.photos.mkdir(parents=True, exist_ok=True)
        while True:
            self._photo_count += 1
            path = self.photos / f"photo-{self._photo_count}.png"
            try:
                with path.open("xb") as file:
                    file.write(data)
                return path
            except FileExistsError:
                continue

    def print(self, text: str, lead: str = "bot> ") -> None:
        pad = " " * len(lead)
        lines = text.splitlines() or [""]
        self.out.write(lead + lines[0] + "".join("\n" + pad + line for line in lines[1:]) + "\n")
        self.out.flush()


def run(make: Callable[..., ChatTerminal], introduction: str, *args: object) -> None:
    """Print ``introduction``, then hand each line typed to the terminal ``make(*args,
    photos, out)`` builds, while its bot's messages are printed as they come; /quit, Ctrl-D
    or Ctrl-C stops."""
    stop = threading.Event()
    photos = Path.cwd() / PHOTOS
    terminal = make(*args, photos, sys.stdout)
    print(f"{introduction}\nPictures the bot sends are saved in {photos}/ (kept after you quit).", flush=True)

    def watch() -> None:
        while not stop.is_set():
            terminal.show_new(stop)

    watcher = threading.Thread(target=watch, name="chat-terminal", daemon=True)
    watcher.start()
    try:
        for line in sys.stdin:
            if not terminal.say(line):
                break
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        watcher.join(2)
