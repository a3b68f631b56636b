"""The console's catalogs from the shell (pybabel with this project's paths), run from the
repository root: ``python -m web.console.translate update`` extracts web/console (Python
and templates) into web/console/locale/console.pot and merges it into every language's
console.po; then translate the new (empty or fuzzy) entries."""
from __future__ import annotations

import os
import sys

from babel.messages.frontend import CommandLineInterface

from web.console.words import DOMAIN, LOCALE_DIR


def main(argv: list[str]) -> int:
    """``python -m web.console.translate extract|update|init LANG``."""
    def pybabel(*args: str) -> None:
        CommandLineInterface().run(["pybabel", "-q", *args])

    os.chdir(LOCALE_DIR.parent.parent.parent)  # the repository root: portable locations in the .pot
    pot, locale_dir = "web/console/locale/console.pot", "web/console/locale"
    command = argv[0] if argv else ""
    if command in ("extract", "update"):
        pybabel("extract", "--no-wrap", "--add-comments=Translators:", "--project=loyalty-bot", "-k", "N_",
                "-F", "web/console/locale/babel.cfg", "-o", pot, ".")
    if command == "update":
        pybabel("update", "--no-wrap", "--ignore-obsolete", "-D", DOMAIN, "-i", pot, "-d", locale_dir)
    elif command == "init" and len(argv) == 2:
        pybabel("init", "--no-wrap", "-D", DOMAIN, "-i", pot, "-d", locale_dir, "-l", argv[1])
    elif command != "extract":
        print("usage: python -m web.console.translate extract | update | init LANG", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
