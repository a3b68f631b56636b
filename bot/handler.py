"""``handle``: one incoming message in, the replies out. Never sends, never commits.

Multi-step flows (join consent, redeem confirm, birthday, delete, the survey's 0-10) keep
their state on the channel identity, with an expiry, so a conversation survives restarts
and several processes. Unknown input always gets help, never silence.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session

from bot import invitation, staff, survey, views
from bot.i18n import SUPPORTED, translator
from bot.intents import Intent, match
from bot.language_offer import offer_switch
from bot.messages import SHARE_PHONE, Button, Image, IncomingMessage, Reply
from bot.notices import render
from bot.turn import BotSettings, Turn, words_of
from rewards import catalog, ledger, members, redemption, referrals
from rewards.codes import display
from rewards.errors import Inconsistent, InsufficientPoints, LoyaltyError, Refused
from rewards.events import Event
from rewards.inputs import ascii_digits
from rewards.program.programs import config_of


@dataclass(frozen=True, slots=True)
class Handled:
    """The answer to one message: ``replies`` go back to the sender's address; ``others``
    are events for other members, to be told on their own channels."""

    replies: list[Reply]
    others: list[Event]
    member_id: int | None  # who the replies are for, once they are a member


def handle(session: Session, message: IncomingMessage, now, settings: BotSettings | None = None) -> list[Reply]:  # type: ignore[no-untyped-def]
    return respond(session, message, now, settings).replies


def respond(session: Session, message: IncomingMessage, now, settings: BotSettings | None = None) -> Handled:  # type: ignore[no-untyped-def]
    identity = members.get_identity(session, message.program_id, message.channel, message.address, now)
    program = identity.program
    config = config_of(program)
    if identity.member is None and message.phone:
        members.link_phone(session, identity, message.phone)
    intent = match(words_of(message), identity.menu)
    language = _language(identity, message, intent, config.default_language)
    turn = Turn(session, program, config, identity, message, now, translator(language), settings or BotSettings())
    _dispatch(turn, intent)
    offer_switch(turn, intent)
    _remember_menu(turn)
    if turn.member is not None:
        members.record_activity(session, turn.member, now, config.timezone)
    return Handled(turn.replies, turn.others, turn.identity.member_id)


def _language(identity, message: IncomingMessage, intent: Intent, default: str) -> str:  # type: ignore[no-untyped-def]
    if identity.member is not None:
        return identity.member.language
    if identity.language is None:
        # A newcomer's first words choose the language: "hola" gets Spanish.
        hint = intent.language or message.language_hint
        identity.language = hint if hint in SUPPORTED else None
    return identity.language or default


def menu_after(replies: list[Reply], current: dict[str, str] | None) -> dict[str, str] | None:
    """The numbered options to remember after ``replies``: the last reply's buttons (the
    share-phone button is no numbered option), none after a reply without, ``current``
    when nothing was said."""
    if not replies:
        return current
    last = replies[-1]
    return {str(i): b.payload for i, b in enumerate(last.choices, 1)} if last.choices else None


def _remember_menu(turn: Turn) -> None:
    menu = menu_after(turn.replies, turn.identity.menu)
    if menu != turn.identity.menu:  # the same menu again (most answers) leaves the row alone
        turn.identity.menu = menu


def _dispatch(turn: Turn, intent: Intent) -> None:
    identity = turn.identity
    if turn.message.payload == SHARE_PHONE:
        _phone_shared(turn, turn.message.phone)
        return
    if identity.flow and identity.flow_expires_at and identity.flow_expires_at <= turn.now:
        expired, identity.flow, identity.flow_data = identity.flow, None, None
        if intent.name in ("yes", "no") and expired != "join":
            turn.say(turn._("That request timed out. Nothing was changed."), views.main_buttons(turn))
            return
    if staff.handles(turn, intent):  # allow-listed staff only; False for everyone else
        return
    if identity.flow and _continue_flow(turn, intent):
        return
    if turn.member is None:
        _newcomer(turn, intent)
        return
    member = turn.member
    simple = {
        "balance": views.balance,
        "rewards": views.rewards_list,
        "history": views.history,
        "invite": views.invite,
        "card": views.card,
    }
    if intent.name in simple:
        simple[intent.name](turn, member)
    elif intent.name == "start":
        if intent.arg:
            _refuse_referral(turn, referrals.record_invite(turn.session, turn.config, identity, intent.arg, turn.now))
        turn.say(turn._("Welcome back!"))
        views.balance(turn, member)
    elif intent.name == "redeem":
        _ask_redeem(turn, intent.arg)
    elif intent.name == "language":
        _set_language(turn, intent.arg)
    elif intent.name == "birthday":
        _birthday(turn, intent.arg)
    elif intent.name in ("optout", "optin"):
        members.set_marketing(member, identity, intent.name == "optin")
        turn.say(turn._("Done: you will get promotions again.") if intent.name == "optin"
                 else turn._("Done: no more promotions. You still get replies to your messages. Say OPTIN to undo."))
    elif intent.name == "export":
        data = members.export(turn.session, member)
        # ephemeral: the outbox keeps no copy of the export once it is sent
        turn.say(turn._("Here is all the data we hold about you:") + "\n" + json.dumps(data, ensure_ascii=False),
                 ephemeral=True)
    elif intent.name == "delete":
        _start_flow(turn, "delete")
        turn.say(
            turn._("This deletes your personal data and your {points} points, and cannot be undone. Delete?",
                   points=turn.points(member.balance)),
            _yes_no(turn),
        )
    elif intent.name in ("yes", "no"):
        turn.say(turn._("There is nothing to confirm right now."), views.main_buttons(turn))
    elif intent.name == "help":
        views.help_text(turn)
    else:
        views.unknown(turn)


def _yes_no(turn: Turn) -> tuple[Button, ...]:
    return (Button(turn._("Yes"), "yes"), Button(turn._("No"), "no"))


def _start_flow(turn: Turn, flow: str, **data: object) -> None:
    turn.identity.flow = flow
    turn.identity.flow_data = dict(data)
    turn.identity.flow_expires_at = turn.now + timedelta(minutes=turn.settings.flow_timeout_minutes)


def _end_flow(turn: Turn) -> None:
    turn.identity.flow = turn.identity.flow_data = turn.identity.flow_expires_at = None


def _continue_flow(turn: Turn, intent: Intent) -> bool:
    """Handle ``intent`` inside the open flow; False lets it through as a fresh command."""
    flow, data = turn.identity.flow, turn.identity.flow_data or {}
    if flow == "join":
        return _join_answer(turn, intent, data)
    if flow == "survey":
        return survey.answer(turn, data)
    if flow == "birthday" and intent.name in ("unknown", "birthday") and turn.member is not None:
        _end_flow(turn)
        _birthday(turn, intent.arg if intent.name == "birthday" else turn.words)
        return True
    if intent.name not in ("yes", "no"):
        _end_flow(turn)  # a new command abandons the question
        return False
    _end_flow(turn)
    if intent.name == "no":
        turn.say(turn._("OK, cancelled."), views.main_buttons(turn))
        return True
    if flow == "redeem" and turn.member is not None:
        _redeem(turn, str(data.get("reward", "")))
    elif flow == "delete" and turn.member is not None:
        members.delete_member(turn.session, turn.member, turn.now)
        turn.identity.member_id = None
        # The one message still sent to the erased address; erased itself once sent.
        turn.say(turn._("Your data is deleted. Thank you for being with us. Send any message to join again."),
                 ephemeral=True)
    return True


# --- joining --------------------------------------------------------------------------


def _newcomer(turn: Turn, intent: Intent) -> None:
    if intent.name == "start" and intent.arg:
        attribution = referrals.record_invite(turn.session, turn.config, turn.identity, intent.arg, turn.now, turn.message.phone)
        if not _refuse_referral(turn, attribution) and attribution.referrer is not None:
            turn.say(turn._("You were invited by a friend: you both get points after your first purchase.")
                     if turn.config.referrals.qualify_on == "first_purchase"
                     else turn._("You were invited by a friend: you both get points when you join."))
    if intent.name == "language" and intent.arg in SUPPORTED:
        turn.identity.language = intent.arg
        turn.t = translator(intent.arg)
    # A number shared before consenting is kept for the sign-up (Telegram has no sender number).
    phone = turn.message.phone or (turn.identity.flow_data or {}).get("phone")
    _start_flow(turn, "join", **({"phone": phone} if phone else {}))
    # No bonus promised to a number or chat whose member deleted their data (members.join pays none).
    returning = invitation.returning_contact(turn.session, turn.program.id, turn.identity, phone)
    lines = invitation.welcome_lines(turn.t, turn.program, turn.config, returning=returning)
    share = () if phone else views.share_phone_button(turn)
    if share:
        lines.append(turn._("Already a member on WhatsApp or SMS? Share your phone number to use the same account here."))
    turn.say(" ".join(lines), _yes_no(turn) + share)


def _refuse_referral(turn: Turn, attribution: referrals.Attribution) -> bool:
    texts = {
        "unknown_code": turn._("That invite code was not found; you can still join."),
        "self_referral": turn._("That is your own invite code: share it with friends instead."),
        "already_member": turn._("Invite codes are for new members; you are already one."),
        "second_referrer": turn._("You were already invited by someone else; that invite stays."),
        "cap_reached": turn._("That invite code has reached its limit this month; you can still join."),
        "returning_member": turn._("Invite codes are for first-time members, and this number was a member before;"
                                   " you can still join."),
    }
    if attribution.accepted or attribution.reason is None:
        return False
    turn.say(texts[attribution.reason])
    return True


def _join_answer(turn: Turn, intent: Intent, data: dict) -> bool:  # type: ignore[type-arg]
    if turn.member is not None:  # joined meanwhile on another channel
        _end_flow(turn)
        return False
    if intent.name == "no":
        _end_flow(turn)
        turn.say(turn._("No problem. Send JOIN whenever you want to join."))
        return True
    if intent.name != "yes":
        return False  # _newcomer asks again, and records a referral code if one came
    _end_flow(turn)
    phone = turn.message.phone or data.get("phone")
    if phone and members.link_phone(turn.session, turn.identity, phone) is not None:
        # The shared number joined on another channel since: use that wallet.
        _phone_shared(turn, phone)
        return True
    joined = members.join(
        turn.session, turn.program, turn.config, turn.identity, turn.now,
        phone=phone, language=turn.language,
    )
    turn.say(turn._("You're in! Your member code is {code}.", code=joined.member.code))
    if joined.returning:
        turn.say(turn._("Welcome back! The welcome bonus and invites are for first-time members, so none this time."))
    if joined.referral is not None:
        _refuse_referral(turn, joined.referral)
    for event in joined.events:
        if getattr(event, "member_id", None) == joined.member.id:
            turn.replies.append(render(event, turn.t, kind="reply"))
        else:
            turn.others.append(event)
    views.balance(turn, joined.member)
    return True


def _phone_shared(turn: Turn, phone: str | None) -> None:
    """The customer's own number, shared with the share-phone button. ``respond`` has
    already linked a newcomer to the member who owns it, if there is one."""
    member = turn.member
    if phone is None:  # someone else's contact: only the customer's own number links
        turn.say(turn._("Please share your own phone number, with the button."), views.share_phone_button(turn))
        return
    if member is None:
        turn.say(turn._("No member has that number yet: join now and it will be linked to your new account."))
        _newcomer(turn, Intent("start"))
        return
    _end_flow(turn)
    if member.phone == phone:
        turn.say(turn._("Linked: this chat now uses your rewards account (member {code}).", code=member.code))
    elif member.phone is None and members.by_phone(turn.session, member.program_id, phone) is None:
        member.phone = phone
        turn.say(turn._("Saved your number: messages from it on WhatsApp or SMS use this same account."))
    else:
        turn.say(turn._("That number belongs to another account, so it cannot be linked here. Ask staff for help."))
    views.balance(turn, member)


# --- redeeming ------------------------------------------------------------------------


def _ask_redeem(turn: Turn, arg: str | None) -> None:
    member = turn.member
    if member is None:
        raise Inconsistent("member is missing")
    reward = catalog.find_reward(turn.session, member.program_id, arg) if arg else None
    if reward is None and arg and ascii_digits(arg):  # "redeem 2": the second one listed
        offers = [o.reward for o in catalog.offers(turn.session, turn.config, member, turn.now) if o.blocked != "dates"]
        index = int(arg) - 1
        reward = offers[index] if 0 <= index < len(offers) else None
    if reward is None:
        if arg:
            turn.say(turn._("I don't know that reward."))
        views.rewards_list(turn, member)
        return
    spendable = ledger.spendable(turn.session, member, turn.now)
    blocked = catalog.blocked_reason(turn.session, turn.config, member, reward, turn.now, spendable)
    if blocked:
        turn.say(_blocked_text(turn, blocked, reward.cost - spendable, reward.min_tier), views.main_buttons(turn))
        return
    _start_flow(turn, "redeem", reward=reward.slug)
    turn.say(
        turn._("Redeem {reward} for {points} points?", reward=reward.name, points=turn.points(reward.cost)), _yes_no(turn)
    )


def _blocked_text(turn: Turn, blocked: str, missing: int, tier: str | None) -> str:
    return {
        "points": turn._("You need {points} more points for that.", points=turn.points(max(missing, 0))),
        "tier": turn._("That reward is for {tier} members.", tier=tier or ""),
        "stock": turn._("Sorry, that reward is sold out."),
        "limit": turn._("You already have the most of that reward allowed."),
        "dates": turn._("That reward is not available now."),
    }[blocked]


def _redeem(turn: Turn, slug: str) -> None:
    member = turn.member
    if member is None:
        raise Inconsistent("member is missing")
    reward = catalog.find_reward(turn.session, member.program_id, slug)
    if reward is None:
        turn.say(turn._("That reward is not available now."))
        return
    try:
        code = redemption.issue(turn.session, turn.config, member, reward, turn.now)
    except InsufficientPoints as error:
        missing = int(error.details.get("needed", 0)) - int(error.details.get("available", 0))  # type: ignore[call-overload]
        turn.say(_blocked_text(turn, "points", missing, None))
        return
    except Refused as error:
        turn.say(_blocked_text(turn, error.reason, 0, reward.min_tier))
        return
    turn.say(
        turn._("Show this code at the counter: {code}. Valid until {date}. Balance: {points}.",
               code=display(code.code), date=turn.t.format_date(code.expires_at.date()), points=turn.points(member.balance)),
        image=Image("qr", code.code, f"code-{code.code}.png"),
    )


# --- profile --------------------------------------------------------------------------


def _set_language(turn: Turn, arg: str | None) -> None:
    offered = [lang for lang in turn.config.languages if lang in SUPPORTED]
    if arg not in offered:
        names = {"en": "English", "es": "Español"}
        turn.say(turn._("Choose a language:"), tuple(Button(names.get(code, code), f"language {code}") for code in offered))
        return
    if turn.member is None:
        raise Inconsistent("turn.member is missing")
    turn.member.language = arg
    turn.t = translator(arg)
    turn.say(turn._("Language set to English."))


def _birthday(turn: Turn, arg: str | None) -> None:
    member = turn.member
    if member is None:
        raise Inconsistent("member is missing")
    if member.birthday is not None:
        turn.say(turn._("Your birthday is set to {date}. Ask staff if it needs correcting.",
                        date=turn.t.format_date(member.birthday, format="d MMMM")))
        return
    if not arg:
        _start_flow(turn, "birthday")
        turn.say(turn._("When is your birthday? For example 14/05 or 14/05/1990."))
        return
    try:
        day = members.set_birthday(member, arg, turn.now)
    except LoyaltyError:
        _start_flow(turn, "birthday")
        turn.say(turn._("I couldn't read that date. Try day/month, like 14/05."))
        return
    bonus = turn.config.earning.birthday_bonus
    text = turn._("Saved: {date}.", date=turn.t.format_date(day, format="d MMMM"))
    if bonus:
        text += " " + turn._("You'll get {points} points on your birthday.", points=turn.points(bonus))
    turn.say(text)
