"""``loyalty serve``: everything in one process on this machine."""
from __future__ import annotations

import click
from werkzeug.serving import run_simple

from rewards.errors import NotFound
from web.app import runtime
from web.cli import cli, command


@command(cli, "serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.pass_context
def serve_command(ctx: click.Context, host: str, port: int) -> None:
    """Run the web app (and, as they arrive, the sender and scheduler) in one process.

    With no program in the database and no LOYALTY_PROGRAM_FILE, the demo program is loaded.
    """
    from flask import current_app

    from web.program_commands import demo_command

    rt = runtime()
    with rt.transaction() as session:
        try:
            program, _ = rt.program(session)
            name = program.name
        except NotFound:
            name = None
    if name is None:
        ctx.invoke(demo_command)
    click.echo(f"serving on http://{host}:{port}  (health: /healthz)")
    click.echo("channels: none configured yet; use `loyalty chat` to talk to the bot")
    run_simple(host, port, current_app._get_current_object(), threaded=True)  # type: ignore[attr-defined]
