"""Starting a web server process (gunicorn on web/wsgi.py) with settings that cannot work:
the one line the ``loyalty`` command would print, on stderr, and the exit status that makes
gunicorn stop, never a traceback."""
from __future__ import annotations

import sys
from collections.abc import Callable
from typing import NoReturn, TypeVar

from rewards.errors import LoyaltyError
from web.database import open_engine
from web.settings import Settings

T = TypeVar("T")

# gunicorn's own status for a worker that could not boot (Arbiter.WORKER_BOOT_ERROR): on it
# the master stops ("Worker failed to boot.") instead of starting worker after worker, each
# failing the same way, as it does for any other status.
WORKER_BOOT_ERROR = 3


def refuse(error: LoyaltyError) -> NoReturn:
    print(f"Error: {error}", file=sys.stderr, flush=True)
    raise SystemExit(WORKER_BOOT_ERROR)


def or_exit(build: Callable[[], T]) -> T:
    """``build()``, or, when it says the setup cannot work (DATABASE_URL not a URL, a SQLite
    folder that does not exist, PostgreSQL's driver not installed), ``refuse``."""
    try:
        return build()
    except LoyaltyError as error:
        refuse(error)


def check_settings() -> None:
    """What building the app would refuse, found without building it: for gunicorn's master
    (gunicorn.conf.py), so that it stops before any worker starts. With several workers each
    failing on its own, gunicorn's master, stopping for the first, prints a traceback of its
    own when it reaps the next."""
    or_exit(lambda: open_engine(Settings.from_env().database_url).dispose())
