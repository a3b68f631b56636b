"""Database plumbing: engines and per-dialect settings (``db``), statements compiled once and
run on the driver (``prepared``), bulk inserts (``bulk``).

Knows SQL and the tables (``rewards.models``), not the program's rules: must not import any
other ``rewards`` module.
"""
