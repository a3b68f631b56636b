"""The loyalty domain. This package's own modules are the loyalty core: models, ledger, tiers,
catalog, codes, redemption, referrals, members, earning, standing, the outbox. Its subpackages:
``rewards.program`` (the program file), ``rewards.promotions`` (campaigns) and
``rewards.storage`` (engines, prepared statements, bulk inserts).

Functions here take a SQLAlchemy ``session`` and ``now``; they never commit, read the
clock or the environment. This package must not import Flask, Telegram, Twilio,
APScheduler, nor the outer packages ``bot``, ``channels``, ``web`` or ``scheduler``.
"""
