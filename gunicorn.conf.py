"""gunicorn's settings, read from the working directory (the Procfile's ``web`` line runs
there; elsewhere pass ``--config path/to/gunicorn.conf.py``). Flags on the command line
still win."""
from web.boot import check_settings


def on_starting(server: object) -> None:
    """In the master, before a worker starts: settings that cannot work stop gunicorn with
    one line (web/boot.py), not a traceback from each worker."""
    check_settings()
