"""Replies that show a member their program: balance, rewards, history, invite, card, help.

Each function reads through ``rewards`` and adds replies to the turn; none changes data.
Texts stay short so an SMS reply fits one segment where it can.
"""
from __future__ import annotations

from sqlalchemy.orm import Session

from bot.i18n import translator
from bot.intents import suggestions
from bot.messages import SHARE_PHONE, Button, Image, Reply
from bot.turn import BotSettings, Speaking, Turn, Voice, invite_links
from rewards import catalog, ledger, referrals
from rewards.models import Member, Program
from rewards.program.config import ProgramConfig
from rewards.standing import Standing, standing

MENU = ("balance", "rewards", "invite", "history")


def main_buttons(turn: Speaking) -> tuple[Button, ...]:
    titles = {
        "balance": turn._("Balance"),
        "rewards": turn._("Rewards"),
        "invite": turn._("Invite friends"),
        "history": turn._("History"),
    }
    return tuple(Button(titles[name], name) for name in MENU)


def balance(turn: Turn, member: Member) -> None:
    show_balance(turn, standing(turn.session, turn.config, member, turn.now))


def show_balance(turn: Turn | Voice, figures: Standing) -> None:
    """The balance answer, from figures however they were read (bot/quick.py reads them
    without the ORM)."""
    progress = figures.progress
    lines = [turn._("You have {points} points. Tier: {tier}.", points=turn.points(figures.balance), tier=progress.tier.name)]
    if progress.next_tier is not None:
        lines.append(
            turn._("{points} points to {tier}.", points=turn.points(progress.points_to_next), tier=progress.next_tier.name)
        )
    if figures.pending > 0:
        lines.append(turn._("{points} of them unlock after the return period.", points=turn.points(figures.pending)))
    if figures.balance < 0:
        lines.append(turn._("Your balance is below zero after a refund; rewards unlock when it is positive again."))
    if figures.expiring_soon > 0:
        lines.append(turn._("{points} points expire within {days} days.", points=turn.points(figures.expiring_soon),
                            days=turn.config.expiry.remind_days_before))
    turn.say(" ".join(lines), main_buttons(turn))


def rewards_list(turn: Turn, member: Member) -> None:
    offers = catalog.offers(turn.session, turn.config, member, turn.now)
    if not offers:
        turn.say(turn._("There are no rewards right now."), main_buttons(turn))
        return
    available = ledger.spendable(turn.session, member, turn.now)
    buttons: list[Button] = []
    for offer in offers:
        reward = offer.reward
        note = ""
        if offer.blocked == "points":
            note = turn._(" (need {points} more)", points=turn.points(reward.cost - available))
        elif offer.blocked == "tier":
            note = turn._(" ({tier} only)", tier=reward.min_tier)
        elif offer.blocked == "stock":
            note = turn._(" (sold out)")
        elif offer.blocked == "limit":
            note = turn._(" (limit reached)")
        elif offer.blocked == "dates":
            continue
        title = turn._("{reward}: {points} pts", reward=reward.name, points=turn.points(reward.cost))
        buttons.append(Button(title + note, f"redeem {reward.slug}"))
    turn.say(
        turn._("Rewards (you have {points} points):", points=turn.points(member.balance)),
        tuple(buttons),
        hint=turn._("Reply with a number to redeem."),
    )


def history(turn: Turn, member: Member) -> None:
    entries = ledger.history(turn.session, member.id, 5)
    if not entries:
        turn.say(turn._("No activity yet. Earn points with your next purchase!"), main_buttons(turn))
        return
    lines = [turn._("Recent activity:")]
    for entry in entries:
        when = turn.t.format_date(entry.created_at.date())
        lines.append(f"{when} {turn.t.format_signed(entry.amount)} {describe_entry(turn, entry.kind)}")
    lines.append(turn._("Balance: {points}", points=turn.points(member.balance)))
    turn.say("\n".join(lines))


def describe_entry(turn: Turn, kind: str) -> str:
    names = {
        "purchase": turn._("purchase"),
        "visit": turn._("visit"),
        "join": turn._("welcome bonus"),
        "birthday": turn._("birthday bonus"),
        "referral": turn._("referral bonus"),
        "survey": turn._("survey bonus"),
        "bonus": turn._("bonus"),
        "code_return": turn._("unused code returned"),
        "redeem": turn._("reward redeemed"),
        "expire": turn._("points expired"),
        "reversal": turn._("refund"),
        "forfeit": turn._("points forfeited"),
        "adjust": turn._("adjustment by staff"),
    }
    return names.get(kind, kind)


def invite(turn: Turn, member: Member) -> None:
    turn.say(invite_text(turn, turn.session, turn.program, turn.config, turn.settings, member))


def invite_message(session: Session, program: Program, config: ProgramConfig, settings: BotSettings,
                   member: Member) -> Reply:
    """The member's invite (code, links, rules, how it went so far) in their language, as a
    notice for staff to send again (the console's member page)."""
    voice = Voice(config, translator(member.language))
    return Reply(invite_text(voice, session, program, config, settings, member), kind="notice")


def invite_text(speaking: Speaking, session: Session, program: Program, config: ProgramConfig,
                settings: BotSettings, member: Member) -> str:
    """What a member reads when they ask to invite friends."""
    rules = config.referrals
    stats = referrals.stats(session, member)
    lines = [speaking._("Your invite code: {code}", code=member.code)]
    links = invite_links(settings, member.code)
    if "telegram" in links:
        lines.append(f"Telegram: {links['telegram']}")
    elif "telegram" in settings.channels:  # on, but its @name is not known yet
        lines.append(speaking._("Telegram: the link is unavailable right now."))
    if "whatsapp" in links:
        lines.append(f"WhatsApp: {links['whatsapp']}")
    if "sms" in links:
        lines.append(speaking._("SMS: text JOIN {code} to {number}", code=member.code, number=links["sms"]))
    if not links:
        lines.append(speaking._("Friends send JOIN {code} to join.", code=member.code))
    if rules.qualify_on == "first_purchase":
        amount = speaking.t.format_currency(rules.min_purchase, program.currency)
        lines.append(
            speaking._(
                "After their first purchase of {amount} or more you get {mine} points and they get {theirs}.",
                amount=amount, mine=speaking.points(rules.referrer_points), theirs=speaking.points(rules.referee_points),
            )
        )
    else:
        lines.append(
            speaking._("When they join you get {mine} points and they get {theirs}.",
                       mine=speaking.points(rules.referrer_points), theirs=speaking.points(rules.referee_points))
        )
    lines.append(
        speaking._(
            "Invited {invited}, joined {joined}, qualified {qualified}; you earned {points} points.",
            invited=stats.invited, joined=stats.joined, qualified=stats.qualified, points=speaking.points(stats.points),
        )
    )
    return "\n".join(lines)


def card(turn: Turn, member: Member) -> None:
    turn.say(
        turn._("Your member code: {code}. Show this at the till to earn points.", code=member.code),
        image=Image("qr", member.code, f"card-{member.code}.png"),
    )


def help_text(turn: Turn) -> None:
    text = turn._("You can say: {words}.", words=", ".join(suggestions(turn.language)))
    share = share_phone_button(turn) if turn.member is not None and turn.member.phone is None else ()
    if share:
        text += " " + turn._("Share your phone number to use this account on WhatsApp and SMS too.")
    turn.say(text, main_buttons(turn) + share)


def share_phone_button(turn: Turn) -> tuple[Button, ...]:
    """The share-phone button where the channel did not give us the number (Telegram); it
    joins this chat to the customer's wallet on WhatsApp or SMS. Empty elsewhere."""
    if turn.message.phone is not None:
        return ()
    return (Button(turn._("Share my phone number"), SHARE_PHONE),)


def unknown(turn: Turn) -> None:
    words = ", ".join(suggestions(turn.language)[:4])
    turn.say(turn._("Sorry, I didn't get that. Try: {words}.", words=words), main_buttons(turn))
