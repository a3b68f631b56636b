"""The newcomer's way to try Telegram, WhatsApp and SMS with no account (docs/telegram.md,
docs/whatsapp-sms.md): the terminals of tests/fakes/ and the real commands they print, run as
processes. What the customer types reaches the bot, menus can be answered by number, a
shared phone joins the member's wallet, and the QR the bot sends is saved as a PNG that
decodes to a code the API accepts once."""
from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import zxingcpp
from PIL import Image
from running import Running, clean_env, free_port, http, loyalty

FAKES = Path(__file__).resolve().parents[1] / "fakes"


def scan(photo: Path) -> str:
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(photo.read_bytes())))
    assert len(decoded) == 1, f"{photo} holds {len(decoded)} QR codes"
    return str(decoded[0].text)


def redeem_twice(url: str, env: dict[str, str], cwd: Path, code: str) -> list[int]:
    key = subprocess.run(loyalty("apikey", "create", "--name", "till"), env=env, cwd=cwd, check=True,
                         capture_output=True, text=True).stdout.splitlines()[0]
    headers = {"Authorization": f"Bearer {key}"}
    return [http("POST", f"{url}/api/v1/codes/{code}/redeem", {}, headers)[0] for _ in range(2)]


def test_a_customer_types_in_the_terminal_and_the_polling_bot_answers_with_menus_and_a_qr(tmp_path: Path) -> None:
    env = clean_env(f"sqlite:///{tmp_path / 'terminal.db'}", tmp_path)
    subprocess.run(loyalty("demo"), env=env, cwd=tmp_path, check=True, capture_output=True)
    with Running([sys.executable, str(FAKES / "telegram_terminal.py"), "--port", "0", "--chat", "4242"], env, tmp_path, stdin=True) as terminal:
        base = terminal.wait_for(r"listening on (http://127\.0\.0\.1:\d+)").group(1)
        token = terminal.wait_for(r"TELEGRAM_BOT_TOKEN=(\S+)").group(1)
        bot_env = {**env, "TELEGRAM_BOT_TOKEN": token, "TELEGRAM_API_BASE_URL": base}
        with Running(loyalty("telegram", "poll", "--timeout", "1"), bot_env, tmp_path) as bot:
            bot.wait_for("polling Telegram as @loyalty_test_bot")

            terminal.type("hi")
            terminal.wait_for(r"^bot> Welcome to Bean There Coffee rewards!")
            terminal.wait_for(r"^ +\[1\] Yes  \[2\] No$")
            terminal.wait_for(r"\[Share my phone number\]: type /phone")

            terminal.type("/phone +15550000002")  # Ben's number: this chat joins his wallet
            terminal.wait_for(r"^bot> Linked: this chat now uses your rewards account")
            terminal.wait_for(r"^bot> You have 3,466 points\. Tier: Gold\.")
            terminal.type("rewards")
            terminal.wait_for(r"^ +\[1\] Free coffee: 500 pts  \[2\] Free pastry")
            terminal.type("1")  # the menu's first button: Free coffee
            terminal.wait_for(r"^bot> Redeem Free coffee for 500 points\?")
            terminal.type("1")  # Yes
            photo = Path(terminal.wait_for(r"^bot> \[photo: (.+\.png)\]").group(1))
            shown = terminal.wait_for(r"Show this code at the counter: (\S+)\. .*Balance: 2,966\.").group(1)

            assert shown
            assert re.search(r"update \d+ from chat 4242: 'yes' -> 1 message\(s\) queued", bot.output)
            bot.stop()
        terminal.type("/quit")
        assert terminal.proc.wait(10) == 0

    # The printed photo outlives the terminal: the user may open it after quitting.
    assert photo.parent == tmp_path / "loyalty-terminal-images"
    scanned = scan(photo)
    assert scanned == shown.replace("-", "")  # shown in groups, scanned whole

    # A second run, against the same database: its first messages are new ones, not repeats.
    with Running([sys.executable, str(FAKES / "telegram_terminal.py"), "--port", "0", "--chat", "4242"], env, tmp_path, stdin=True) as terminal:
        base = terminal.wait_for(r"listening on (http://127\.0\.0\.1:\d+)").group(1)
        bot_env = {**env, "TELEGRAM_BOT_TOKEN": token, "TELEGRAM_API_BASE_URL": base}
        with Running(loyalty("telegram", "poll", "--timeout", "1"), bot_env, tmp_path) as bot:
            bot.wait_for("polling Telegram as @loyalty_test_bot")
            terminal.type("balance")
            terminal.wait_for(r"^bot> You have 2,966 points\.")
            bot.stop()
        terminal.type("/quit")
        assert terminal.proc.wait(10) == 0

    # The code scanned off the photo is the one the till redeems, once.
    with Running(loyalty("serve", "--port", "0"), env, tmp_path) as serve:
        url = serve.wait_for(r"serving on (http://127\.0\.0\.1:\d+)").group(1)
        serve.wait_for("Ctrl-C to stop")
        assert redeem_twice(url, env, tmp_path, scanned) == [200, 409]


def test_a_whatsapp_customer_types_in_the_terminal_and_the_served_app_answers_with_a_qr(tmp_path: Path) -> None:
    env = clean_env(f"sqlite:///{tmp_path / 'terminal.db'}", tmp_path)
    app = f"http://127.0.0.1:{free_port()}"
    terminal_command = [sys.executable, str(FAKES / "twilio_terminal.py"), "--port", "0", "--app", app,
                        "--phone", "+15550000002"]  # Ben, a demo member with points
    with Running(terminal_command, env, tmp_path, stdin=True) as terminal:
        terminal.wait_for("Then write here as")
        printed = re.findall(r"\b((?:TWILIO_\w+|PUBLIC_BASE_URL)=\S+)", terminal.output)
        app_env = {**env, **dict(each.split("=", 1) for each in printed)}
        assert app_env["PUBLIC_BASE_URL"] == app and app_env["TWILIO_API_BASE_URL"].startswith("http://127.0.0.1:")
        port = terminal.wait_for(r"loyalty serve --port (\d+)$").group(1)
        with Running(loyalty("serve", "--port", port), app_env, tmp_path) as serve:
            serve.wait_for("whatsapp  on ")
            serve.wait_for("Ctrl-C to stop")

            terminal.type("rewards")
            terminal.wait_for(r"^bot> Rewards \(you have 3,466 points\):")
            terminal.wait_for(r"^ +1\) Free coffee: 500 pts$")
            terminal.type("1")
            terminal.wait_for(r"^bot> Redeem Free coffee for 500 points\?")
            terminal.type("1")
            photo = Path(terminal.wait_for(r"^bot> \[photo: (.+\.png)\]").group(1))
            shown = terminal.wait_for(r"Show this code at the counter: (\S+)\. .*Balance: 2,966\.").group(1)
            scanned = scan(photo)
            assert scanned == shown.replace("-", "")
            assert redeem_twice(app, env, tmp_path, scanned) == [200, 409]
            log = serve.output.split("Ctrl-C to stop", 1)[1]  # after the banner (which shows the demo's numbers)
            assert "POST /webhooks/whatsapp" in log
            assert "twilio.http_client" not in log  # the SDK's request log stays out of the console
            assert "5550000002" not in log  # and so does the customer's full number
        terminal.type("/quit")
        assert terminal.proc.wait(10) == 0
