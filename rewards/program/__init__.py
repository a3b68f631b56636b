"""The program file: reading and checking the merchant's TOML (``config`` is the entry point,
``config_*`` one table each), the demo program, and loading a file into the database
(``programs``).

Pure reading except ``programs``. Imports from the rest of ``rewards`` only ``errors``,
``inputs``, ``phones`` and ``models``; must not import ``rewards.promotions`` or
``rewards.storage``, nor the loyalty core's rules (ledger, members, ...), which read it.
"""
