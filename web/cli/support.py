"""What every ``loyalty`` command shares: the app context, and a user mistake or a database
that does not answer shown as ``Error: <one line>`` (exit status 1), never a stack trace."""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click
from flask import has_app_context
from flask.cli import AppGroup, with_appcontext
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
