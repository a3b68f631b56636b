"""The console's catalogs from the shell, run from the repository root:
``python -m web.console.translate update`` extracts web/console (Python and templates) into
web/console/locale/console.pot and merges it into every language's console.po; then
translate the new (empty or fuzzy) entries. The same pybabel commands as the bot's
catalog (``bot.i18n.catalog_command``), with the console's paths."""
from __future__ import annotations

import sys

from bot.i18n import catalog_command
from web.console.words import DOMAIN


def main(argv: list[str]) -> int:
    """``python -m web.console.translate extract|update|init LANG``."""
    return catalog_command(argv, module="web.console.translate", domain=DOMAIN,
                           pot="web/console/locale/console.pot", locale_dir="web/console/locale",
                           extract=("-k", "N_", "-F", "web/console/locale/babel.cfg", "."))


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
