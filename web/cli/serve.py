"""``loyalty serve``: everything in one process on this machine (web app, sender, clock)."""
from __future__ import annotations

import logging
import signal
from typing import Any

import click
from werkzeug.serving import WSGIRequestHandler, make_server

from rewards.errors import NotFound
from web import sender_runtime
from web.cli.support import command
from web.providers import telegram
from web.runtime import runtime

# Replies are woken at once; the poll only finds what other processes queued on SQLite
# (`loyalty purchase` from another shell) and retries coming due.
SERVE_POLL_SECONDS = 1.0


class QuietRequestHandler(WSGIRequestHandler):
    """Access log lines without query strings (the chat page sends a phone number in one)
    and without the chat page's routine polls."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        full = getattr(self, "path", None)
        if full is None:
            return super().log_request(code, size)
        path = full.partition("?")[0]
        if self.command == "GET" and str(code) == "200" and path.startswith(("/chat/messages", "/chat/qr/")):
            return None
        self.path = path
        try:
            super().log_request(code, size)
        finally:
            self.path = full


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # SIGTERM stops like Ctrl-C: the sender finishes its message


@command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--no-clock", is_flag=True, help="Do not run the clock (campaigns, expiry, birthdays...) in this process.")
@click.pass_context
def serve_command(ctx: click.Context, host: str, port: int, no_clock: bool) -> None:
    """Run the web app, the outbox sender and the clock in one process (Ctrl-C stops them).

    With no program in the database and no LOYALTY_PROGRAM_FILE, the demo program is loaded.
    """
    from flask import current_app

    from web.cli import clock as clock_command
    from web.cli.program import demo_command

    rt = runtime()
    with rt.transaction() as session:
        try:
            program, _ = rt.program(session)
            name = program.name
        except NotFound:
            name = None
    if name is None:
        ctx.invoke(demo_command)
    limits = sender_runtime.limits(rt.settings)  # a wrong LOYALTY_RATE_* stops us here, said plainly
    telegram.learn_at_start(rt)  # for invite links, before any webhook comes
    service = sender_runtime.for_runtime(rt, poll_seconds=SERVE_POLL_SECONDS)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Bound before anything is printed: a port in use is said once, and --port 0 picks a free one.
    server = make_server(host, port, current_app._get_current_object(), threaded=True,  # type: ignore[attr-defined]
                         request_handler=QuietRequestHandler)
    clock = None if no_clock else clock_command.for_runtime(rt, click.echo)
    base = f"http://{host}:{server.port}"
    for line in [
        f"serving on {base}",
        *([f"  chat as a customer:  {base}/chat"] if rt.settings.web_chat else []),  # off, it is a 404
        f"  merchant console:    {base}/console (first: loyalty users create EMAIL --role owner)",
        f"  health check:        {base}/healthz",
        *sender_runtime.channel_lines(rt.settings, service.channels),
        f"sender: in this process, woken at once ({sender_runtime.describe(limits, service.channels)})",
        "clock: off (--no-clock); run `loyalty clock` elsewhere" if clock is None else
        f"clock: in this process (daily at {clock.config.automations.run_at} {clock.config.timezone}; --no-clock turns it off)",
        "Ctrl-C to stop",
    ]:
        click.echo(line)
    service.start()
    rt.wake_sender = sender_runtime.wake_both(service.wake, rt.wake_sender)
    if clock is not None:
        clock.clock.start()
    # Both, explicitly: a shell starts background jobs with SIGINT ignored.
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.serve_forever()  # returns on Ctrl-C (werkzeug catches KeyboardInterrupt)
    except KeyboardInterrupt:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        click.echo("stopping: the sender finishes the message in hand")
        if clock is not None:
            clock.stop()
        stopped = service.stop()
        click.echo(f"stopped (messages sent: {service.tally.sent})" if stopped else "stopped; the sender did not finish in time")


COMMANDS: tuple[click.Command, ...] = (serve_command,)
