"""Campaigns: a merchant's promotion checked and scheduled (``campaigns``, ``cron``), who it
is for (``audiences``, ``eligibility``), fanned out to the outbox (``fanout``), its offers
(``offers``: points multiplier, coupons) and its counts (``campaign_stats``).

May import the loyalty core, ``rewards.program`` and ``rewards.storage``. The core uses only
``offers`` (earning's multiplier) and ``campaigns``' dedupe key (the outbox); neither
``rewards.program`` nor ``rewards.storage`` may import this package.
"""
