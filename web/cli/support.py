"""What every ``loyalty`` command shares: the app context, and a user mistake or a database
that does not answer shown as ``Error: <one line>`` (exit status 1), never a stack trace; a
mistake in how a command is typed is one line too (exit status 2, ``LoyaltyGroup``)."""
from __future__ import annotations

import copy
import functools
import re
from collections.abc import Callable, Mapping
from typing import IO, Any, TypeVar

import click
from click.exceptions import NoArgsIsHelpError
from flask import has_app_context
from flask.cli import AppGroup, FlaskGroup, routes_command, shell_command, with_appcontext
from sqlalchemy.exc import InterfaceError, OperationalError

from rewards.errors import LoyaltyError
from web import database
from web.runtime import runtime

F = TypeVar("F", bound=Callable[..., Any])


def friendly_errors(func: F) -> F:
    """Show a domain or setup refusal, or a database that does not open or answer, as one
    clear line (exit status 1)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except LoyaltyError as error:
            raise click.ClickException(str(error)) from None
        except (OperationalError, InterfaceError) as error:
            if not has_app_context():
                raise
            raise click.ClickException(database.describe_failure(error, runtime().engine.url)) from None

    return wrapper  # type: ignore[return-value]


# For a command with a number argument that may be written negative (``adjust BEN -50``):
# "-50" is then taken as the argument, not refused as an unknown option.
SIGNED_NUMBERS = {"ignore_unknown_options": True}


def named_as_options(names: Mapping[str, str]) -> Callable[[F], F]:
    """Domain refusals name what was wrong as the API's fields (``send_at``, ``offer_from``);
    a command's refusal names its options instead (``--at``, ``--from``): ``names`` maps
    one to the other. Put it right above the ``def``."""
    # Whole words only, and not "coupon's": field names are also plain words in the messages.
    word = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, names)) + r")(?![\w'-])")

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return func(*args, **kwargs)
            except LoyaltyError as error:
                raise click.ClickException(word.sub(lambda m: names[m.group(1)], str(error))) from None

        return wrapper  # type: ignore[return-value]

    return decorate


def command(*args: Any, group: click.Group | None = None, **kwargs: Any) -> Callable[[F], click.Command]:
    """A command that has the app context and turns domain errors into one clear line
    (also those of making the app: a DATABASE_URL that is not a URL, say). Added to
    ``group`` when given; a top-level command is added to ``loyalty`` by web/cli/__init__.py."""

    def decorate(func: F) -> click.Command:
        wrapped = friendly_errors(with_appcontext(func))
        if group is None:
            return click.command(*args, **kwargs)(wrapped)
        if isinstance(group, AppGroup):
            kwargs.setdefault("with_appcontext", False)  # it would load the app outside friendly_errors
        return group.command(*args, **kwargs)(wrapped)

    return decorate


class OneLineUsageError(click.UsageError):
    """A usage mistake (a missing option, an unknown one) said in one line, not after the
    command's usage text."""

    def __init__(self, error: click.UsageError) -> None:
        super().__init__(error.format_message(), error.ctx)

    def show(self, file: IO[Any] | None = None) -> None:
        see = f" See '{self.ctx.command_path} --help'." if self.ctx is not None else ""
        click.echo(f"Error: {self.format_message()}{see}", err=True, file=file)


class LoyaltyGroup(FlaskGroup):
    """Flask's CLI group as a merchant needs it: ``routes`` and ``shell`` but not Flask's
    ``run`` (``loyalty serve`` runs everything), Flask's developer options (--app,
    --env-file, --debug) accepted but not shown, and a usage mistake said in one line."""

    def __init__(self, **extra: Any) -> None:
        super().__init__(add_default_commands=False, add_version_option=False, load_dotenv=False, **extra)
        # Copies: Flask's option objects are shared by every FlaskGroup.
        self.params = [copy.copy(param) for param in self.params]
        for param in self.params:
            if isinstance(param, click.Option):
                param.hidden = True
        self.add_command(routes_command)
        self.add_command(shell_command)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        with _one_line_usage():
            return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        with _one_line_usage():
            return super().invoke(ctx)


class _one_line_usage:  # noqa: N801  (a context manager used as a statement)
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: object) -> bool:
        if isinstance(error, click.UsageError) and not isinstance(error, (NoArgsIsHelpError, OneLineUsageError)):
            raise OneLineUsageError(error) from None
        return False
