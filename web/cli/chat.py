"""``loyalty chat``: talk to the bot as a customer, from a terminal or a script."""
from __future__ import annotations

import sys

import click

from bot.handler import handle
from bot.messages import IncomingMessage
from channels.terminal import NAME, TerminalOutput
from rewards.phones import parse_phone
from web.cli.support import command
from web.runtime import runtime


@command("chat")
@click.option("--as", "phone", metavar="PHONE", help="The customer's phone number, like +15550001111.")
def chat_command(phone: str | None) -> None:
    """Chat with the bot as a customer. Reads lines from standard input when it is not a
    terminal and prints each reply, so a conversation can be scripted."""
    interactive = sys.stdin.isatty()
    if phone is None:
        if not interactive:
            raise click.UsageError("give the customer's phone with --as PHONE")
        phone = click.prompt("Your phone number (with country code)", default="+15550001111")
    rt = runtime()
    output = TerminalOutput(rt.settings.qr_dir)
    with rt.transaction() as session:
        program, config = rt.program(session)
        program_id, name = program.id, program.name
    phone = parse_phone(phone, config.phone_region)
    if interactive:
        click.echo(f"Chatting with {name} as {phone}. Say hi; Ctrl-D to leave.")
    while True:
        try:
            line = input("you> ") if interactive else sys.stdin.readline()
        except (EOFError, KeyboardInterrupt):
            break
        if not interactive and line == "":
            break
        line = line.strip()
        if not line:
            continue
        message = IncomingMessage(program_id=program_id, channel=NAME, address=phone, text=line, phone=phone)
        with rt.transaction() as session:
            replies = handle(session, message, rt.clock())
            rendered = [output.render(reply) for reply in replies]
        for text in rendered:
            click.echo(("bot> " + text.replace("\n", "\n     ")) if interactive else text)
        if not interactive:
            click.echo()


COMMANDS: tuple[click.Command, ...] = (chat_command,)
