"""Make the README's pictures from the real thing: docs/images/chat.png (the /chat page in
Chromium, annotated), docs/images/terminal.svg (a `loyalty chat` session, annotated), and
the merchant console's docs/images/dashboard.png (a desktop window) and
docs/images/till.png (a phone at the counter, a reward code checked).

    pip install -e . playwright        # Playwright from PyPI; never `playwright install`
    apt-get install -y chromium        # Debian's Chromium, driven at /usr/bin/chromium
    python docs/images/make.py

Each picture comes from a fresh demo database in a temporary directory: `loyalty serve
--port 0` for the page, `loyalty chat --as` on a pseudo-terminal for the terminal, so both
show what a newcomer sees. Codes are random: each run shows others.
"""
from __future__ import annotations

import os
import pty
import re
import select
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from html import escape
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync"]
BEN = "+15550000002"  # a demo member with points
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def environment(folder: Path) -> dict[str, str]:
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{folder / 'loyalty.db'}", LOYALTY_QR_DIR=str(folder / "loyalty-qr"))
    subprocess.run(["loyalty", "demo"], env=env, cwd=folder, check=True, capture_output=True)
    return env


@contextmanager
def served(folder: Path, env: dict[str, str]) -> Iterator[str]:
    """`loyalty serve --port 0` in ``folder``: its base URL, read from the banner's first
    line; stopped afterwards."""
    server = subprocess.Popen(["loyalty", "serve", "--port", "0", "--no-clock"], env=env, cwd=folder,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert server.stdout is not None
        for line in server.stdout:
            if m := re.match(r"serving on (http://\S+)", line):
                break
        else:
            raise SystemExit("loyalty serve stopped before it served: " + line)
        yield m.group(1)
    finally:
        server.terminate()
        server.wait(timeout=20)


# --- the /chat page ------------------------------------------------------------------


def chat_png(folder: Path, out: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    env = environment(folder)
    with served(folder, env) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
        page.set_default_timeout(15_000)
        page.goto(f"{base}/chat")
        page.fill("#phone", BEN)
        page.click("#who button")
        expect(page.locator("#text")).to_be_enabled()
        page.fill("#text", "rewards")
        page.press("#text", "Enter")
        page.get_by_role("button", name="Free coffee: 500 pts").click()
        page.locator(".msg.bot .buttons").last.get_by_role("button", name="Yes").click()
        qr = page.locator("img.qr").last
        expect(qr).to_be_visible()
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=qr.element_handle())
        qr.scroll_into_view_if_needed()
        marks = [page.locator("#phone"), page.locator(".msg.bot .buttons").last,
                 page.locator(".msg.bot").last, qr]
        boxes = [m.bounding_box() for m in marks]
        shot = folder / "chat-raw.png"
        page.screenshot(path=str(shot))
        browser.close()
    annotate(shot, boxes, out, [
        "The number you type is who you are: +15550000002 is Ben, a demo member with points.",
        "Menus are buttons: pressing one sends what it says.",
        "Every reply is written to the outbox with the message and sent by the sender, as on Telegram or WhatsApp.",
        "A redeemed reward: a single-use code and its QR, to show at the till.",
    ])


def annotate(shot: Path, boxes: list[dict[str, float] | None], out: Path, notes: list[str]) -> None:
    """The screenshot with numbered marks beside what they point at, and the notes in a
    panel on the right."""
    from PIL import Image, ImageDraw, ImageFont

    scale = 2  # device_scale_factor
    image = Image.open(shot).convert("RGB")
    panel = 620
    canvas = Image.new("RGB", (image.width + panel, image.height), "#f4f1ea")
    canvas.paste(image, (0, 0))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.truetype(FONT, 26)
    number_font = ImageFont.truetype(FONT, 24)
    red = "#c0392b"

    def mark(x: float, y: float, n: int) -> None:
        draw.ellipse((x - 20, y - 20, x + 20, y + 20), fill=red, outline="white", width=3)
        draw.text((x, y), str(n), fill="white", font=number_font, anchor="mm")

    for n, box in enumerate(boxes, 1):
        if box and 0 <= box["y"] * scale < image.height:
            mark(min(box["x"] + box["width"], 390 - 14) * scale - 8, max(box["y"] * scale + 22, 22), n)
    y = 60
    for n, note in enumerate(notes, 1):
        mark(image.width + 50, y + 14, n)
        for line in wrap(note, font, panel - 120, draw):
            draw.text((image.width + 90, y), line, fill="#222", font=font)
            y += 36
        y += 30
    canvas.save(out, optimize=True)


def wrap(text: str, font, width: int, draw) -> list[str]:  # type: ignore[no-untyped-def]
    lines, line = [], ""
    for word in text.split():
        trial = f"{line} {word}".strip()
        if draw.textlength(trial, font=font) > width and line:
            lines.append(line)
            line = word
        else:
            line = trial
    return lines + [line]


# --- the terminal --------------------------------------------------------------------


def terminal_svg(folder: Path, out: Path) -> None:
    """`loyalty chat --as` on a pseudo-terminal (so it prompts as it does for a person):
    what it printed, with what was typed, drawn as text."""
    env = environment(folder)
    said = ["hi", "rewards", "1", "yes"]
    pid, fd = pty.fork()
    if pid == 0:  # the child: the real command, its terminal the pty
        os.chdir(folder)
        os.execvpe("loyalty", ["loyalty", "chat", "--as", BEN], env)
    screen = read_until(fd, "you> ")
    for line in said:
        os.write(fd, (line + "\n").encode())
        screen += read_until(fd, "you> ")
    os.write(fd, b"\x04")  # Ctrl-D leaves
    os.waitpid(pid, 0)
    text = screen.replace("\r\n", "\n").replace(str(folder), "~")
    lines = [line for line in text.split("\n")][:-1] + ["you> "]
    notes = {0: "loyalty chat --as +15550000002: you are Ben", 1: "you type; the bot answers",
             "Reply with a number to redeem.": "a menu: answer with its number",
             "Show this code": "a single-use code, valid 30 days",
             "[QR code saved": "its QR, as a PNG to open"}
    draw_svg(lines, notes, out)


def read_until(fd: int, prompt: str) -> str:
    data = b""
    while not data.decode(errors="replace").endswith(prompt):
        ready, _, _ = select.select([fd], [], [], 30)
        if not ready:
            raise SystemExit(f"loyalty chat said nothing for 30 s after: {data.decode(errors='replace')!r}")
        data += os.read(fd, 4096)
    return data.decode()


def draw_svg(lines: list[str], notes: dict, out: Path) -> None:  # type: ignore[type-arg]
    char_w, line_h, pad = 8.4, 20, 18
    note_x = round(pad + char_w * max(len(line) for line in lines) + 30)
    width, height = note_x + 330, pad * 2 + 34 + line_h * len(lines)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
             'font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" font-size="14">',
             f'<rect width="{width}" height="{height}" rx="10" fill="#1e1f24"/>',
             '<circle cx="22" cy="18" r="6" fill="#ff5f56"/><circle cx="42" cy="18" r="6" fill="#ffbd2e"/>'
             '<circle cx="62" cy="18" r="6" fill="#27c93f"/>',
             f'<text x="{width / 2}" y="22" fill="#9a9ca5" text-anchor="middle">loyalty chat --as {BEN}</text>']
    for n, line in enumerate(lines):
        y = pad + 34 + line_h * n
        color = "#8be9fd" if line.startswith("you>") else "#f1f1f1" if line.startswith("bot>") else "#c8c8c8"
        if n == 0:
            color = "#9a9ca5"
        parts.append(f'<text x="{pad}" y="{y}" fill="{color}" xml:space="preserve">{escape(line)}</text>')
        note = notes.get(n) or next((v for k, v in notes.items() if isinstance(k, str) and k in line), None)
        if note:
            parts.append(f'<text x="{note_x}" y="{y}" fill="#ffb86c" font-family="DejaVu Sans, sans-serif">'
                         f'← {escape(note)}</text>')
    parts.append("</svg>")
    out.write_text("\n".join(parts) + "\n", encoding="utf-8")


# --- the console ---------------------------------------------------------------------


def console_pngs(folder: Path, dashboard_out: Path, till_out: Path) -> None:
    """`loyalty demo --busy`, an owner made with `loyalty users create`, then the dashboard
    on a desktop and the till on a phone with one of Ben's reward codes checked."""
    from playwright.sync_api import sync_playwright

    env = environment(folder)
    subprocess.run(["loyalty", "demo", "--busy"], env=env, cwd=folder, check=True, capture_output=True)
    subprocess.run(["loyalty", "users", "create", "owner@bean-there.example", "--role", "owner"], env=env, cwd=folder,
                   input="correct horse battery\n", text=True, check=True, capture_output=True)
    with served(folder, env) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        desk = browser.new_page(viewport={"width": 1280, "height": 800}, device_scale_factor=1)
        desk.set_default_timeout(60_000)
        desk.goto(f"{base}/login")
        desk.get_by_label("Email").fill("owner@bean-there.example")
        desk.get_by_label("Password").fill("correct horse battery")
        desk.get_by_role("button", name="Sign in").click()
        desk.goto(f"{base}/dashboard?days=90")
        desk.screenshot(path=str(dashboard_out), full_page=False)
        # The till, on a phone: the owner's session; one of Ben's rewards as a code.
        said = subprocess.run(["loyalty", "chat", "--as", BEN], input="rewards\n1\nyes\n", env=env, cwd=folder,
                              check=True, capture_output=True, text=True).stdout
        found = re.search(r"Show this code at the counter: ([A-Z0-9-]+)\.", said)
        phone = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
        phone.context.add_cookies(desk.context.cookies())
        phone.set_default_timeout(60_000)
        phone.goto(f"{base}/pos")
        if found:
            phone.get_by_role("textbox", name="Code", exact=True).fill(found.group(1))
            phone.get_by_role("button", name="Check").click()
            phone.locator("#confirm").scroll_into_view_if_needed()
        phone.screenshot(path=str(till_out))
        browser.close()


def main() -> None:
    if not shutil.which("loyalty"):
        raise SystemExit("no `loyalty` command: pip install -e . in this environment first")
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "console").mkdir()
        console_pngs(Path(tmp) / "console", HERE / "dashboard.png", HERE / "till.png")
        print(f"wrote {HERE / 'dashboard.png'} and {HERE / 'till.png'}")
        (Path(tmp) / "term").mkdir()
        terminal_svg(Path(tmp) / "term", HERE / "terminal.svg")
        print(f"wrote {HERE / 'terminal.svg'}")
        if not Path(CHROMIUM).exists():
            sys.exit(f"no Chromium at {CHROMIUM} (apt-get install -y chromium): chat.png not made")
        (Path(tmp) / "page").mkdir()
        chat_png(Path(tmp) / "page", HERE / "chat.png")
        print(f"wrote {HERE / 'chat.png'}")


if __name__ == "__main__":
    main()
