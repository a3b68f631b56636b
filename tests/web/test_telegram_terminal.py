"""The newcomer's way to try Telegram with no account (README "Telegram"): the terminal of
tests/fakes/telegram_terminal.py and a real `loyalty telegram poll` process pointed at it.
What the customer types reaches the bot, its menus can be pressed by number, a shared phone
joins the member's wallet, and the QR it sends is saved as a PNG that decodes to a code the
API accepts once."""
from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import zxingcpp
from PIL import Image
from running import Running, clean_env, http, loyalty

TERMINAL = Path(__file__).resolve().parents[1] / "fakes" / "telegram_terminal.py"


def test_a_customer_types_in_the_terminal_and_the_polling_bot_answers_with_menus_and_a_qr(tmp_path: Path) -> None:
    env = clean_env(f"sqlite:///{tmp_path / 'terminal.db'}", tmp_path)
    subprocess.run(loyalty("demo"), env=env, cwd=tmp_path, check=True, capture_output=True)
    with Running([sys.executable, str(TERMINAL), "--port", "0", "--chat", "4242"], env, tmp_path, stdin=True) as terminal:
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

            decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(photo.read_bytes())))
            assert [each.text for each in decoded] == [shown.replace("-", "")]  # shown in groups, scanned whole
            scanned = decoded[0].text
            assert "update 5 from chat 4242: 'yes' -> 1 message(s) queued" in bot.output
            bot.stop()
        terminal.type("/quit")
        assert terminal.proc.wait(10) == 0

    # The code scanned off the photo is the one the till redeems, once.
    key = subprocess.run(loyalty("apikey", "create", "--name", "till"), env=env, cwd=tmp_path, check=True,
                         capture_output=True, text=True).stdout.splitlines()[0]
    with Running(loyalty("serve", "--port", "0"), env, tmp_path) as serve:
        url = serve.wait_for(r"serving on (http://127\.0\.0\.1:\d+)").group(1)
        serve.wait_for("Ctrl-C to stop")
        headers = {"Authorization": f"Bearer {key}"}
        assert http("POST", f"{url}/api/v1/codes/{scanned}/redeem", {}, headers)[0] == 200
        assert http("POST", f"{url}/api/v1/codes/{scanned}/redeem", {}, headers)[0] == 409
