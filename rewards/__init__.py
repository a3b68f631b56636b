"""The loyalty domain: models, program config, ledger, tiers, catalog, codes, referrals.

Functions here take a SQLAlchemy ``session`` and ``now``; they never commit, read the
clock or the environment. This package must not import Flask, Telegram, Twilio,
APScheduler, nor the outer packages ``bot``, ``channels``, ``web`` or ``scheduler``.
"""
