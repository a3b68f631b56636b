"""``loyalty telegram set-webhook | poll | info``: connect the bot to Telegram.

``set-webhook`` tells Telegram to post updates to PUBLIC_BASE_URL + /webhooks/telegram with
the secret token; ``poll`` is for a machine without a public URL (local development): it
removes the webhook, fetches updates by long polling, hands each to the core exactly like
the webhook does, and runs a sender in a thread so the replies go out.
"""
from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import click
from flask.cli import AppGroup
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, OperationalError

from channels import telegram
from channels.sender import Sender
from rewards.errors import Inconsistent, LoyaltyError
from rewards.models import OutboxMessage
from web import sender_runtime
from web.cli.support import command
from web.runtime import Runtime, SetupError, runtime

F = TypeVar("F", bound=Callable[..., Any])
WEBHOOK_PATH = "/webhooks/telegram"
_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")  # what Telegram accepts as secret_token


@click.group("telegram", cls=AppGroup)
def telegram_group() -> None:
    """Telegram: register the webhook, or poll without a public URL."""


def _telegram_errors(func: F) -> F:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except telegram.TelegramUnavailable as error:
            raise click.ClickException(str(error)) from None

    return wrapper  # type: ignore[return-value]


def _adapter(rt: Runtime, timeout: float = 10.0) -> telegram.TelegramAdapter:
    if not rt.settings.telegram_bot_token:
        raise click.ClickException(rt.settings.why_unusable("TELEGRAM_BOT_TOKEN")
                                   or "set TELEGRAM_BOT_TOKEN first (create a bot with @BotFather in Telegram to get one)")
    return telegram.TelegramAdapter(rt.settings.telegram_bot_token, rt.settings.telegram_api_base_url, timeout=timeout)


@command("set-webhook", group=telegram_group)
@_telegram_errors
def set_webhook_command() -> None:
    """Tell Telegram to send updates to PUBLIC_BASE_URL/webhooks/telegram."""
    rt = runtime()
    s = rt.settings
    unusable = s.why_unusable("TELEGRAM_BOT_TOKEN")
    if unusable:
        raise click.ClickException(unusable)
    missing = [name for name, value in (("TELEGRAM_BOT_TOKEN", s.telegram_bot_token),
                                        ("TELEGRAM_WEBHOOK_SECRET", s.telegram_webhook_secret),
                                        ("PUBLIC_BASE_URL", s.public_base_url)) if not value]
    if missing:
        raise click.ClickException("set " + ", ".join(missing) + " first (see docs/telegram.md)")
    if s.public_base_url is None or s.telegram_webhook_secret is None:
        raise Inconsistent("s.public_base_url or s.telegram_webhook_secret is missing")
    if not s.public_base_url.startswith("https://"):
        raise click.ClickException(f"PUBLIC_BASE_URL must start with https:// (Telegram only calls HTTPS webhooks; "
                                   f"got {s.public_base_url}); without one, use `loyalty telegram poll`")
    if not _SECRET.fullmatch(s.telegram_webhook_secret):
        raise click.ClickException("TELEGRAM_WEBHOOK_SECRET must be 1 to 256 letters, digits, _ or -; make one with: "
                                   "python -c \"import secrets; print(secrets.token_urlsafe(32))\"")
    url = s.public_base_url + WEBHOOK_PATH
    adapter = _adapter(rt)
    try:
        adapter.set_webhook(url, s.telegram_webhook_secret)
        name = adapter.username()
    finally:
        adapter.close()
    click.echo(f"webhook set: Telegram sends @{name}'s messages to {url}")


@command("info", group=telegram_group)
@_telegram_errors
def info_command() -> None:
    """Show the bot's name and where Telegram sends its updates."""
    adapter = _adapter(runtime())
    try:
        name = adapter.username()
        info = adapter.webhook_info()
    finally:
        adapter.close()
    click.echo(f"bot: @{name}  (https://t.me/{name})")
    if info.url:
        click.echo(f"webhook: {info.url}  ({info.pending_update_count} updates waiting)")
        if info.last_error_message:
            click.echo(f"last delivery error: {info.last_error_message}")
    else:
        click.echo(f"webhook: none (long polling: `loyalty telegram poll`); {info.pending_update_count} updates waiting")


@command("poll", group=telegram_group)
@click.option("--timeout", default=30, show_default=True, type=click.IntRange(0, 50),
              help="Seconds each long poll waits for new updates.")
@click.option("--max-updates", type=click.IntRange(1), default=None,
              help="Stop after this many updates, once their replies are sent (for scripts and tests).")
@_telegram_errors
def poll_command(timeout: int, max_updates: int | None) -> None:
    """Run the bot by long polling, with no public URL (removes the webhook). Ctrl-C stops."""
    rt = runtime()
    adapter = _adapter(rt)
    with rt.transaction() as session:
        program, _ = rt.program(session)
        program_id, program_name = program.id, program.name
    name = adapter.username()  # asked at start, as web/telegram_name.py does for the webhook
    rt.telegram_username = name  # invite links name the bot
    if adapter.webhook_info().url:
        click.echo("removing the webhook: updates come to this process until `loyalty telegram set-webhook`")
    adapter.delete_webhook()
    limits = sender_runtime.limits(rt.settings)
    sender = Sender(rt.sessions, {telegram.NAME: adapter}, limits={k: v for k, v in limits.items() if k == telegram.NAME},
                    poll_seconds=1.0)
    stop = threading.Event()
    thread = threading.Thread(target=sender.run, args=(stop,), name="telegram-poll-sender", daemon=True)
    thread.start()
    previous_wake = rt.wake_sender
    rt.wake_sender = sender_runtime.wake_both(previous_wake, sender.wake)
    click.echo(f"{program_name}: polling Telegram as @{name} (https://t.me/{name}); Ctrl-C to stop")
    handled = 0
    offset: int | None = None
    try:
        while max_updates is None or handled < max_updates:
            try:
                updates = adapter.get_updates(offset, timeout)
            except telegram.TelegramUnavailable as error:
                click.echo(f"getUpdates failed ({error}); trying again in 5 s", err=True)
                stop.wait(5)
                continue
            for update in updates:
                try:
                    _handle(rt, adapter, update, program_id)
                except (SetupError, OperationalError, IntegrityError) as error:
                    # Not confirmed: the next getUpdates hands this update out again.
                    click.echo(f"update {update.update_id}: {type(error).__name__}; trying it again", err=True)
                    stop.wait(2)
                    break
                # The next offset confirms this update to Telegram. A restart may see the last
                # few again; the inbound dedupe makes that harmless.
                offset = update.update_id + 1
                handled += 1
                if max_updates is not None and handled >= max_updates:
                    break
        _drain(rt, deadline_seconds=15)
    except KeyboardInterrupt:
        click.echo("stopping (replies still queued go out with the next `serve`, `worker` or `poll`)")
    finally:
        stop.set()
        sender.wake()
        thread.join(10)
        rt.wake_sender = previous_wake
        adapter.close()
    click.echo(f"handled {handled} updates")


def _handle(rt: Runtime, adapter: telegram.TelegramAdapter, update: Any, program_id: int) -> None:
    try:
        parsed = telegram.parse_update(update, program_id)
    except (AttributeError, TypeError, ValueError):
        click.echo(f"update {update.update_id}: not understood; skipped", err=True)
        return
    if parsed is None:
        click.echo(f"update {update.update_id}: a kind the bot does not answer; ignored")
        return
    message = parsed.message
    try:
        received = rt.receive(message)
    except LoyaltyError as error:
        if isinstance(error, SetupError):
            raise
        click.echo(f"update {update.update_id} could not be handled: {error}; skipped", err=True)
        return
    if parsed.callback_query_id:
        try:
            adapter.answer_callback_query(parsed.callback_query_id)
        except telegram.TelegramUnavailable:
            pass  # the button's spinner stops on its own; the reply matters, and it is queued
    said = "shared a phone number" if message.phone else repr(message.text[:40])
    outcome = "duplicate, ignored" if received.duplicate else f"{received.queued} message(s) queued"
    click.echo(f"update {message.provider_message_id} from chat {message.address}: {said} -> {outcome}")


def _drain(rt: Runtime, deadline_seconds: float) -> None:
    """Wait (a while) until the Telegram replies due now have left, so the last updates'
    replies are not left behind when ``--max-updates`` ends the run."""
    stop = threading.Event()
    waited = 0.0
    while waited < deadline_seconds:
        with rt.sessions() as session:
            waiting = session.scalar(select(func.count()).select_from(OutboxMessage).where(
                OutboxMessage.channel == telegram.NAME, OutboxMessage.status.in_(("queued", "sending")),
                OutboxMessage.available_at <= rt.clock(),
            ))
        if not waiting:
            return
        stop.wait(0.1)
        waited += 0.1


COMMANDS: tuple[click.Command, ...] = (telegram_group,)
