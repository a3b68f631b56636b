"""Staff commands in chat, for the people on the program file's ``[staff]`` allow-list:

    /broadcast <audience>: <text>   preview who it reaches, then YES sends it now
    /redeem <code>                  use a customer's reward code once
    /purchase <phone or member code> <amount> <receipt>   record a purchase (once per receipt)
    /stats                          today's and the last 7 days' figures (the dashboard's)
    /staff                          this list

For anyone else ``handles`` returns False and the message goes on to the customer core,
which reads "/broadcast" like any unknown command: a customer never learns these exist.
"""
from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from bot.intents import Intent
from bot.messages import Button
from bot.turn import Turn
from rewards import earning, members, redemption
from rewards.codes import REDEMPTION_LENGTH, display
from rewards.codes import normalize as normalize_code
from rewards.errors import InvalidInput, LoyaltyError, NotFound, Refused
from rewards.localtime import show
from rewards.metrics.figures import for_period
from rewards.promotions import audiences, campaigns
from rewards.promotions.eligibility import Preview, Rules, preview
from rewards.promotions.fanout import fan_out

# English names, and Spanish ones for staff who think in Spanish (Telegram commands are
# latin letters, so "/difundir" works as well as "/broadcast").
COMMANDS = {
    "broadcast": "broadcast", "difundir": "broadcast",
    "redeem": "redeem", "canjear": "redeem",
    "purchase": "purchase", "compra": "purchase",
    "stats": "stats", "estadisticas": "stats",
    "staff": "staff", "personal": "staff",
}
ASK = "staff-broadcast-text"  # flow: waiting for "audience: text"
CONFIRM = "staff-broadcast"  # flow: a previewed broadcast waits for yes or no
FLOWS = (ASK, CONFIRM)
# Members fanned out inside the confirming message's own transaction, so a small program's
# broadcast leaves at once; a bigger audience's rest goes with the next campaign run (the
# clock, or `loyalty campaign send-due`), which resumes where this stopped.
FIRST_BATCH = 500
_COMMAND = re.compile(r"\s*/([A-Za-z]+)(?:@\w+)?(?:\s+(.*))?", re.DOTALL)


def actor(turn: Turn) -> str:
    """Who did it, for the campaign, the ledger and the wrong-code throttle."""
    message = turn.message
    who = message.address if message.channel == "telegram" else message.phone
    return f"staff:{message.channel}:{who}"


def handles(turn: Turn, intent: Intent) -> bool:
    """Answer a staff command (or a staff flow's next step); False lets the message through."""
    message, identity = turn.message, turn.identity
    open_flow = identity.flow in FLOWS
    if not turn.config.staff.allows(message.channel, message.address, message.phone):
        if open_flow:  # taken off the allow-list meanwhile: forget the question, silently
            _end(turn)
        return False
    found = _COMMAND.fullmatch(message.text or "") if not message.payload else None
    command = COMMANDS.get(found.group(1).lower()) if found else None
    arg = (found.group(2) or "").strip() if found else ""
    if command == "redeem" and len(normalize_code(arg)) != REDEMPTION_LENGTH:
        command = None  # "/redeem 2" is the staff member's own reward, as a customer
    if command is None:
        if open_flow:
            return _answer(turn, intent)
        if intent.name in ("yes", "no") and not identity.flow and turn.member is None:
            # A second tap on Yes must not start a customer sign-up for a cashier.
            turn.say(turn._("There is nothing to confirm right now."))
            return True
        return False
    if identity.flow != "join":  # a new command abandons any open question (join keeps its phone)
        _end(turn)
    if command == "broadcast":
        _broadcast(turn, arg)
    elif command == "redeem":
        _redeem(turn, arg)
    elif command == "purchase":
        _purchase(turn, arg)
    elif command == "stats":
        _stats(turn)
    else:
        _commands(turn)
    return True


def _end(turn: Turn) -> None:
    turn.identity.flow = turn.identity.flow_data = turn.identity.flow_expires_at = None


def _start(turn: Turn, flow: str, **data: Any) -> None:
    turn.identity.flow = flow
    turn.identity.flow_data = dict(data)
    turn.identity.flow_expires_at = turn.now + timedelta(minutes=turn.settings.flow_timeout_minutes)


def _commands(turn: Turn) -> None:
    turn.say("\n".join([
        turn._("Staff commands:"),
        turn._("/broadcast AUDIENCE: TEXT - a promotion now, after a preview (audience: all, tier=Gold, language=es, ...)"),
        turn._("/redeem CODE - use a customer's reward code"),
        turn._("/purchase PHONE-OR-MEMBER-CODE AMOUNT RECEIPT - record a purchase"),
        turn._("/stats - today's and the last 7 days' figures"),
    ]))


# --- /broadcast -------------------------------------------------------------------------


def _usage(turn: Turn) -> str:
    return turn._("Write the audience, a colon, then the message, like: all: Double points this weekend! "
                  "or tier=Gold,language=es: ¡Doble puntos!")


def _answer(turn: Turn, intent: Intent) -> bool:
    """The next message inside a broadcast flow."""
    flow, data = turn.identity.flow, turn.identity.flow_data or {}
    if intent.name == "no":
        _end(turn)
        turn.say(turn._("Cancelled: nothing was sent."))
        return True
    if flow == ASK:
        _end(turn)
        _broadcast(turn, turn.message.text or "")
        return True
    if intent.name != "yes":
        _end(turn)  # like every other question: a new command abandons it
        return False
    _end(turn)
    _send(turn, data.get("audience") or {}, str(data.get("text", "")))
    return True


def _draft(turn: Turn, audience: Any, text: str) -> campaigns.Draft:
    name = "Chat broadcast: " + " ".join(text.split())[:60]
    return campaigns.draft(turn.session, turn.program, turn.config, turn.now, name=name, text=text,
                           audience=audience, send_now=True)


def _broadcast(turn: Turn, arg: str) -> None:
    if not arg:
        _start(turn, ASK)
        turn.say(turn._("What should the broadcast say, and to whom?") + " " + _usage(turn))
        return
    audience_text, colon, text = arg.partition(":")
    if not colon or not text.strip():
        turn.say(_usage(turn))
        return
    try:
        draft = _draft(turn, audience_text, text)
    except InvalidInput as error:
        turn.say(turn._("That broadcast cannot be sent: {problem}.", problem=str(error)) + " " + _usage(turn))
        return
    rules = Rules.of(turn.program.id, turn.config, draft.audience, turn.settings.channels, turn.now)
    counted = preview(turn.session, draft.audience, rules)
    lines = [turn._("Broadcast to {audience}:", audience=audiences.describe(draft.audience)), '"' + draft.text + '"',
             _counts(turn, counted)]
    if counted.sending == 0:
        lines.append(turn._("Nobody would receive it, so there is nothing to send."))
        turn.say("\n".join(lines))
        return
    _start(turn, CONFIRM, audience=draft.audience, text=draft.text)
    lines.append(turn._("Send it now? Reply YES or NO."))
    turn.say("\n".join(lines), (Button(turn._("Yes"), "yes"), Button(turn._("No"), "no")))


def _counts(turn: Turn, counted: Preview) -> str:
    n = turn.t.format_number
    text = turn._("Members matching: {matching}. Would receive it: {sending}.",
                  matching=n(counted.matching), sending=n(counted.sending))
    if counted.waiting:
        text += " " + turn._("Waiting for quiet hours to end: {waiting}.", waiting=n(counted.waiting))
    labels = {
        "no_consent": turn._("no marketing consent"),
        "opted_out": turn._("opted out"),
        "no_channel": turn._("no reachable chat"),
        "over_cap": turn._("over the weekly limit"),
        "whatsapp_window": turn._("outside WhatsApp's 24-hour window"),
    }
    skipped = [f"{labels.get(reason, reason)} {n(count)}" for reason, count in counted.skipped.items() if count]
    if skipped:
        text += " " + turn._("Skipped: {reasons}.", reasons=", ".join(skipped))
    return text


def _send(turn: Turn, audience: Any, text: str) -> None:
    try:  # checked again: the catalog or the tiers may have changed since the preview
        draft = _draft(turn, audience, text)
    except InvalidInput as error:
        turn.say(turn._("That broadcast cannot be sent: {problem}.", problem=str(error)))
        return
    campaign = campaigns.create(turn.session, turn.program, turn.config, draft, turn.now, actor(turn))
    step = fan_out(turn.session, campaign, turn.now, turn.settings.channels, limit=FIRST_BATCH)
    n = turn.t.format_number
    if step.done:
        turn.say(turn._("Sent: campaign {id}. Messages queued: {queued}; skipped: {skipped}. They go out at each channel's pace.",
                        id=str(campaign.id), queued=n(step.queued), skipped=n(step.skipped)))
    else:
        turn.say(turn._("Sending: campaign {id}. Messages queued so far: {queued}; the rest follow with the next campaign run.",
                        id=str(campaign.id), queued=n(step.queued)))


# --- /redeem ----------------------------------------------------------------------------


def _redeem(turn: Turn, code_text: str) -> None:
    result = redemption.use(turn.session, turn.program.id, code_text, turn.now, actor(turn))
    code, zone = result.code, turn.config.timezone
    if result.refused is None and code is not None:
        turn.say(turn._("Redeemed: {reward} for member {member}. Code {code} is now used.",
                        reward=code.reward.name, member=code.member.code, code=display(code.code)))
        return
    texts = {
        "unknown": turn._("No code {code}: check it and try again.", code=code_text),
        "used": turn._("Refused: that code was already used ({when}).",
                       when=show(code.used_at, zone) if code is not None else "-"),
        "expired": turn._("Refused: that code expired on {when}.",
                          when=show(code.expires_at, zone) if code is not None else "-"),
        "cancelled": turn._("Refused: that code was cancelled."),
        "throttled": turn._("Too many wrong codes: try again in {minutes} minutes.",
                            minutes=redemption.THROTTLE_WINDOW.seconds // 60),
    }
    turn.say(texts.get(result.refused or "", result.message))


# --- /purchase --------------------------------------------------------------------------


def _amount(text: str) -> str:
    # "12,50" is how half the world writes 12.50; only an unambiguous comma is read so.
    return text.replace(",", ".") if text.count(",") == 1 and "." not in text else text


def _purchase(turn: Turn, arg: str) -> None:
    words = arg.split()
    if len(words) < 3:
        turn.say(turn._("Write: /purchase PHONE-OR-MEMBER-CODE AMOUNT RECEIPT, like /purchase +15550000002 12.50 R-1001"))
        return
    customer, amount, receipt = " ".join(words[:-2]), _amount(words[-2]), words[-1]
    try:
        member = members.find(turn.session, turn.program.id, customer, turn.config.phone_region)
        result = earning.record_purchase(turn.session, turn.program, turn.config, member, amount, receipt, turn.now,
                                         actor=actor(turn))
    except NotFound:
        turn.say(turn._("No member with phone or member code {customer}.", customer=customer))
        return
    except LoyaltyError as error:
        turn.say(_purchase_refusal(turn, error, amount, receipt))
        return
    currency = turn.program.currency
    shown = turn.t.format_currency(earning.from_minor(result.purchase.amount_minor, currency), currency)
    n = turn.t.format_number
    if not result.created:
        turn.say(turn._("Receipt {receipt} was already recorded ({amount}, {points} points): nothing earned again.",
                        receipt=receipt, amount=shown, points=n(result.points)))
        return
    turn.others.extend(result.events)  # the member is told on their own channel
    turn.say(turn._("Recorded {amount} for member {member}: +{points} points, balance {balance}.",
                    amount=shown, member=member.code, points=n(result.points), balance=n(result.member.balance)))


def _purchase_refusal(turn: Turn, error: LoyaltyError, amount: str, receipt: str) -> str:
    if error.reason == "bad_amount":
        return turn._("{amount} is not an amount I can record: write it like 12.50.", amount=amount)
    if error.reason == "bad_receipt":
        return turn._("A receipt is 1 to 100 characters.")
    if isinstance(error, Refused) and error.reason == "receipt_conflict":
        return turn._("Receipt {receipt} was already recorded for another member or amount: use a new receipt.",
                      receipt=receipt)
    return turn._("Not recorded: {problem}.", problem=str(error))


# --- /stats -----------------------------------------------------------------------------


def _stats(turn: Turn) -> None:
    """Today's and the last 7 days' headline figures: the dashboard's numbers, from the
    same code (rewards/metrics/), each beside the period of the same length before."""
    today = for_period(turn.session, turn.program.id, turn.config, turn.now, days=1).to_json()
    week = for_period(turn.session, turn.program.id, turn.config, turn.now, days=7).to_json()
    first = date.fromisoformat(week["period"]["from"])
    last = date.fromisoformat(week["period"]["to"])
    turn.say("\n\n".join([
        turn._("Today, {day} (yesterday in brackets):", day=turn.t.format_date(last)) + "\n" + _headline(turn, today),
        turn._("Last 7 days, {first} to {last} (the 7 days before in brackets):",
               first=turn.t.format_date(first), last=turn.t.format_date(last)) + "\n" + _headline(turn, week),
    ]))


def _headline(turn: Turn, figures: dict[str, Any]) -> str:
    before = figures["previous"]
    n, currency = turn.t.format_number, turn.program.currency

    def both(path: str, shown: Any = n) -> str:
        now, then = _pick(figures, path), _pick(before, path)
        return f"{shown(now) if now is not None else '-'} ({shown(then) if then is not None else '-'})"

    def money(value: str) -> str:
        return turn.t.format_currency(Decimal(value), currency)

    return "\n".join([
        turn._("New members: {new}. Active members: {active}.", new=both("members.new"), active=both("members.active")),
        turn._("Purchases: {count}. Sales: {sales}.", count=both("purchases.count"), sales=both("purchases.sales", money)),
        turn._("Points earned: {earned}. Points redeemed: {redeemed}.", earned=both("points.earned"),
               redeemed=both("points.redeemed")),
        turn._("NPS: {score} from {responses} answers.", score=both("nps.score"), responses=both("nps.responses")),
    ])


def _pick(document: dict[str, Any], path: str) -> Any:
    for part in path.split("."):
        document = document[part]
    return document
