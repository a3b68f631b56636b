"""How each figure is computed, in one sentence each: the dashboard shows these words beside
the figures, and docs/metrics.md says the same (tests/rewards/test_metrics.py compares them).

Keys are the figure's path in ``Metrics.to_json()``.
"""
from __future__ import annotations

DEFINITIONS: dict[str, str] = {
    "members.total": "Members who had joined by the end of the period and had not deleted their data by then.",
    "members.new": "Members who joined in the period.",
    "members.active": "Members who made a purchase, redeemed points for a reward or sent a message in the period.",
    "members.referred_share": "Of the members who joined in the period, the share who came with a friend's invitation.",
    "purchases.count": "Purchases by members in the period, leaving out purchases refunded since.",
    "purchases.sales": "The amount of those purchases, in the program's currency.",
    "purchases.average": "Sales divided by the number of purchases.",
    "purchases.per_active_member": "Purchases divided by active members.",
    "repeat_purchase_rate": "Of the members with a purchase in the period, the share with two or more.",
    "referral_rate": "Of the members active in the period, the share who invited a friend who joined in the period.",
    "retention_rate": "Of the members who purchased in the previous period, the share who purchased again in this one.",
    "churn_rate": "Of the members who purchased in the previous period, the share who did not purchase in this one:"
                  " one minus the retention rate.",
    "nps.score": "Net Promoter Score: the percentage of survey answers of 9 or 10 less the percentage of answers"
                 " from 0 to 6, over the answers given in the period (from -100 to 100).",
    "nps.responses": "Survey answers given in the period.",
    "points.earned": "Points members earned in the period: purchases, visits, and the join, birthday, referral,"
                     " survey and campaign bonuses.",
    "points.redeemed": "Points members spent on rewards in the period.",
    "points.returned": "Points given back in the period for reward codes that expired unused.",
    "points.refunded": "Points taken back in the period because the purchase that earned them was refunded.",
    "points.expired": "Points that expired in the period, and the balances of members who deleted their data.",
    "points.adjusted": "Staff corrections in the period: points added less points taken.",
    "points.outstanding": "Points members held at the end of the period, including points of purchases still"
                          " in their return period.",
    "points.outstanding_value": "Outstanding points times the program file's [program] point_value, in the"
                                " program's currency; only when the program file sets it.",
    "redemption_rate": "Points redeemed less points returned, divided by points earned, in the period.",
    "rewards": "Reward codes members took for points in the period, by reward, with the points they cost.",
    "campaigns": "Campaigns sent in the period: members sent a message, and the share of them who converted"
                 " (purchased, redeemed or used a code within [promotions] conversion_days of the message).",
    "members.by_tier": "Members by tier today, leaving out members who deleted their data.",
    "members.by_channel": "Members by the channels they have written from (Telegram, WhatsApp, SMS, web chat);"
                          " a member on two channels counts in both.",
    "cohorts": "Members by the month of their first purchase, and the share of them who purchased in each later"
               " month, for the six complete months up to the period's end (a month still going on is left out).",
}
