"""The till (``/pos``): a phone or a tablet at the counter. Find a member, record a purchase,
redeem a reward code in two steps, refund a purchase in two steps, ask a new customer to join.

Every action is a plain form POST that answers with the page itself (no JavaScript needed);
pos.js adds the camera, which only fills a field and submits its form. Each request is one
transaction (``staff_page``) and calls the same domain functions as the REST API
(web/api.py), so a purchase here and one from a till's software cannot disagree:
``members.find``, ``earning.record_purchase`` and its notice, ``redemption.check`` then
``redemption.use``. Redeeming is two steps: "check" shows what the code is without using it;
"confirm" uses it, once, whatever the number of tills confirming at the same moment (the
database decides: rewards/redemption.py). Wrong codes count toward the throttle of the
staff member who typed them, so a refused check still commits.

Refunding is two steps too: "check" shows the purchase a receipt id names (when, how much,
the points it earned, whose) or why it cannot be refunded; "confirm" refunds it through
``earning.refund``, the API's and the CLI's refund, which takes the member's row lock and
reads the purchase again under it, so of two tills confirming the same receipt at once one
refunds and the other is told it already was.

Enrolling sends the customer the bot's own sign-up question on their phone's channel
(rewards/enrolment.py, bot/invitation.py); the cashier never joins anyone.
Every action goes to the activity log: who, what, when, on whom.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, render_template, request

from bot.invitation import ask_to_join
from bot.outbox_payload import to_payload
from rewards import earning, enrolment, members, outbox, redemption
from rewards.codes import display
from rewards.errors import LoyaltyError, Refused
from rewards.models import Code, Member, Purchase
from rewards.phones import looks_like_phone, mask, parse_phone
from rewards.standing import Standing, standing
from web.console import words
from web.console.access import Visit, staff_page
from web.console.words import _
from web.runtime import runtime

bp = Blueprint("pos", __name__, template_folder="templates")
ROLES = ("owner", "manager", "cashier")
MAX_FIELD = 100
# A refused purchase's status, as the REST API answers it (409 for the rest: a receipt
# reused, a deleted member).
_PURCHASE_STATUS = {"unknown_member": 404, "bad_amount": 422, "bad_receipt": 422, "too_many_points": 422}
# A refused refund's status: the API's for the same reasons, 409 for the rest.
_REFUND_STATUS = {"unknown_receipt": 404, "unknown_member": 404, "bad_receipt": 422, "bad_phone": 422}


@dataclass
class Till:
    """What the page shows after an action; every part optional."""

    values: dict[str, str] = field(default_factory=dict)  # the fields as typed, to fill them again
    errors: dict[str, str] = field(default_factory=dict)  # by section: find, purchase, code, refund, enrol
    member: Member | None = None
    figures: Standing | None = None
    purchase: dict[str, Any] | None = None
    check: dict[str, Any] | None = None  # a code looked at, not used
    redeemed: dict[str, Any] | None = None
    refund: dict[str, Any] | None = None  # a purchase looked at, not refunded by this page
    refunded: dict[str, Any] | None = None
    enrolled: dict[str, Any] | None = None


def _field(name: str) -> str:
    value = request.form.get(name, "")
    return value.strip()[:MAX_FIELD] if value.isprintable() else ""


def _page(till: Till, status: int = 200) -> Any:
    return render_template("console/pos.html", till=till), status


def _refusal(error: LoyaltyError) -> str:
    """The cashier's words for a domain refusal (the domain's own message is English)."""
    words = {
        "unknown_member": _("No member has this phone number or member code."),
        "bad_phone": _("This is not a phone number: write it with its country code, like +15550001111."),
        "bad_amount": _("Write the amount like 12.50, more than zero."),
        "bad_receipt": _("The receipt id must be 1 to 100 characters."),
        "receipt_conflict": _("This receipt id was already used for another customer or amount: use the receipt's own id."),
        "deleted_member": _("This member deleted their data."),
        "too_many_points": _("This purchase is over the points limit: check the amount."),
        "already_member": _("This phone number already belongs to a member."),
        "stopped": _("This number asked for no messages from us, so it cannot be asked to join."),
        "no_channel": _("No channel can send a message to this number (SMS or WhatsApp must be set up)."),
        "unknown_receipt": _("No purchase has this receipt id: check it and try again."),
        "other_member": _("This receipt is another member's purchase: check the receipt id and the member."),
    }
    return words.get(error.reason, str(error))


def _code_refusal(reason: str) -> str:
    words = {
        "unknown": _("No such code: check it and try again."),
        "used": _("This code was already used. Do not give the reward again."),
        "expired": _("This code has expired."),
        "cancelled": _("This code was cancelled."),
        "throttled": _("Too many wrong codes: wait {minutes} minutes, then try again.",
                       minutes=int(redemption.THROTTLE_WINDOW.total_seconds() // 60)),
    }
    return words.get(reason, reason)


def _show_member(visit: Visit, till: Till, member: Member) -> None:
    till.member = member
    till.figures = standing(visit.session, visit.config, member, visit.now)
    till.values.setdefault("customer", member.code)


def _code_details(code: Code) -> dict[str, Any]:
    return {"code": code.code, "display": display(code.code), "reward": code.reward.name,
            "member": code.member.code, "expires_at": code.expires_at, "used_at": code.used_at,
            "confirm": _("Confirm: give {reward}", reward=code.reward.name)}


@bp.get("/pos")
@staff_page(*ROLES)
def page(visit: Visit) -> Any:
    return _page(Till())


@bp.post("/pos/find")
@staff_page(*ROLES)
def find(visit: Visit) -> Any:
    ref = _field("customer")
    till = Till(values={"customer": ref})
    try:
        member = members.find(visit.session, visit.program.id, ref, visit.config.phone_region)
    except LoyaltyError as error:
        till.errors["find"] = _refusal(error)
        if looks_like_phone(ref, visit.config.phone_region):
            till.values["phone"] = ref  # not a member yet: ready to be asked to join
        visit.log("find_member", refused=error.reason)
        return _page(till, 404)
    _show_member(visit, till, member)
    visit.log("find_member", target=member.code)
    return _page(till)


@bp.post("/pos/purchase")
@staff_page(*ROLES)
def purchase(visit: Visit) -> Any:
    values = {name: _field(name) for name in ("customer", "amount", "receipt_id")}
    till = Till(values=values)
    try:
        member = members.find(visit.session, visit.program.id, values["customer"], visit.config.phone_region)
        result = earning.record_purchase(visit.session, visit.program, visit.config, member, values["amount"],
                                         values["receipt_id"], visit.now, actor=visit.actor)
    except LoyaltyError as error:
        till.errors["purchase"] = _refusal(error)
        visit.log("purchase", refused=error.reason, receipt_id=values["receipt_id"])
        return _page(till, _PURCHASE_STATUS.get(error.reason, 409))
    if result.created:
        visit.notify(result.events)  # "+125 points. Balance: 300." on the member's last channel
    if result.created:
        said = _("+{points} points. New balance: {balance}.", points=result.points, balance=result.member.balance)
    else:
        said = _("Receipt {receipt} was already recorded: no points again. Balance: {balance}.",
                 receipt=result.purchase.receipt_id, balance=result.member.balance)
    till.purchase = {"created": result.created, "message": said}
    visit.log("purchase", target=result.member.code, receipt_id=result.purchase.receipt_id,
              amount=values["amount"], points=result.points, created=result.created)
    till.values = {"customer": result.member.code}  # the next purchase: same customer, new receipt
    _show_member(visit, till, result.member)
    return _page(till, 201 if result.created else 200)


@bp.post("/pos/check")
@staff_page(*ROLES)
def check(visit: Visit) -> Any:
    """Step one of a redemption: what the code is, without using it."""
    text = _field("code")
    till = Till(values={"code": text})
    result = redemption.check(visit.session, visit.program.id, text, visit.now, visit.actor)
    if result.code is not None:
        till.check = _code_details(result.code)
    target = result.code.member.code if result.code is not None else None
    if result.refused:
        # Returned, not raised: the transaction commits, so a wrong code counts toward the throttle.
        till.errors["code"] = _code_refusal(result.refused)
        visit.log("check_code", target=target, refused=result.refused)
        return _page(till, {"unknown": 404, "throttled": 429}.get(result.refused, 409))
    visit.log("check_code", target=target, reward=till.check["reward"] if till.check else None)
    return _page(till)


@bp.post("/pos/redeem")
@staff_page(*ROLES)
def redeem(visit: Visit) -> Any:
    """Step two: use the code, once. A second till confirming the same code is refused."""
    text = _field("code")
    till = Till()
    result = redemption.use(visit.session, visit.program.id, text, visit.now, visit.actor)
    target = result.code.member.code if result.code is not None else None
    if result.refused or result.code is None:
        till.values = {"code": text}
        if result.code is not None:
            till.check = _code_details(result.code)
        till.errors["code"] = _code_refusal(result.refused or "unknown")
        visit.log("redeem", target=target, refused=result.refused)
        return _page(till, {"unknown": 404, "throttled": 429}.get(result.refused or "", 409))
    till.redeemed = _code_details(result.code)
    till.redeemed["message"] = _("Accepted: give {reward} to member {member}.", reward=result.code.reward.name,
                                 member=result.code.member.code)
    visit.log("redeem", target=target, reward=result.code.reward.name, code_id=result.code.id)
    return _page(till)


@bp.post("/pos/enrol")
@staff_page(*ROLES)
def enrol(visit: Visit) -> Any:
    """Ask a customer to join: one message on their phone's channel; they answer yes or no."""
    typed = _field("phone")
    till = Till(values={"phone": typed})
    try:
        phone = parse_phone(typed, visit.config.phone_region)
        identity = enrolment.address_for(
            visit.session, visit.program.id, phone, runtime().enabled_channels, visit.now,
            whatsapp_template=visit.config.whatsapp.notice_template_sid is not None,
        )
    except LoyaltyError as error:
        till.errors["enrol"] = _refusal(error)
        visit.log("enrol", target=mask(typed), refused=error.reason)
        return _page(till, 422 if error.reason == "bad_phone" else 409)
    reply = ask_to_join(visit.session, visit.program, visit.config, identity, phone, visit.now)
    # One question a day per number, however often the button is pressed.
    queued = outbox.enqueue(visit.session, visit.program.id, identity.channel, identity.address, to_payload(reply),
                            reply.kind, visit.now, dedupe_key=f"till-invite:{identity.id}:{visit.now.date()}")
    names = {"whatsapp": "WhatsApp", "sms": "SMS", "web": _("the web chat")}
    if queued is not None:
        said = _("Sent: the customer was asked on {channel} to join. They join when they answer yes.",
                 channel=names.get(identity.channel, identity.channel))
    else:
        said = _("This number was already asked today: nothing was sent again.")
    till.enrolled = {"sent": queued is not None, "message": said}
    till.values = {}
    visit.log("enrol", target=mask(phone), channel=identity.channel, sent=queued is not None)
    return _page(till, 201 if queued is not None else 200)


def _purchase_details(visit: Visit, purchase: Purchase) -> dict[str, Any]:
    member = visit.session.get(Member, purchase.member_id)
    return {"receipt_id": purchase.receipt_id, "created_at": purchase.created_at, "points": purchase.points,
            "amount": earning.from_minor(purchase.amount_minor, visit.program.currency),
            "member": member.code if member is not None else "", "refunded_at": purchase.refunded_at,
            "confirm": _("Confirm: refund receipt {receipt}", receipt=purchase.receipt_id)}


def _refundable(visit: Visit, values: dict[str, str]) -> Purchase:
    """The purchase of the typed receipt id, refused when the typed member (if any) is not
    its buyer: a cashier refunding for the customer in front of them gets no one else's."""
    purchase = earning.purchase_of(visit.session, visit.program.id, values["receipt_id"])
    if values["customer"]:
        member = members.find(visit.session, visit.program.id, values["customer"], visit.config.phone_region)
        if member.id != purchase.member_id:
            raise Refused(f"receipt {purchase.receipt_id} is not member {member.code}'s", reason="other_member")
    return purchase


def _already_refunded(visit: Visit, details: dict[str, Any]) -> str:
    return _("Receipt {receipt} was already refunded ({when}): its points were taken back then.",
             receipt=details["receipt_id"], when=words.moment(details["refunded_at"], visit.program.timezone))


@bp.post("/pos/refund/check")
@staff_page(*ROLES)
def check_refund(visit: Visit) -> Any:
    """Step one of a refund: the purchase a receipt id names, or why it cannot be refunded."""
    values = {name: _field(name) for name in ("customer", "receipt_id")}
    till = Till(values={"refund_customer": values["customer"], "refund_receipt": values["receipt_id"]})
    try:
        purchase = _refundable(visit, values)
    except LoyaltyError as error:
        till.errors["refund"] = _refusal(error)
        visit.log("check_refund", refused=error.reason, receipt_id=values["receipt_id"])
        return _page(till, _REFUND_STATUS.get(error.reason, 409))
    till.refund = _purchase_details(visit, purchase)
    if purchase.refunded_at is not None:
        till.errors["refund"] = _already_refunded(visit, till.refund)
        visit.log("check_refund", target=till.refund["member"], refused="already_refunded",
                  receipt_id=purchase.receipt_id)
        return _page(till, 409)
    visit.log("check_refund", target=till.refund["member"], receipt_id=purchase.receipt_id)
    return _page(till)


@bp.post("/pos/refund")
@staff_page(*ROLES)
def refund(visit: Visit) -> Any:
    """Step two: refund it, once. A second till confirming the same receipt is refused."""
    values = {name: _field(name) for name in ("customer", "receipt_id")}
    till = Till(values={"refund_customer": values["customer"], "refund_receipt": values["receipt_id"]})
    try:
        with visit.session.begin_nested():
            _refundable(visit, values)
            result = earning.refund(visit.session, visit.program, visit.config, values["receipt_id"], visit.now,
                                    actor=visit.actor)
    except LoyaltyError as error:
        if error.reason == "already_refunded":
            till.refund = _purchase_details(visit, earning.purchase_of(visit.session, visit.program.id,
                                                                       values["receipt_id"]))
            till.errors["refund"] = _already_refunded(visit, till.refund)
        else:
            till.errors["refund"] = _refusal(error)
        visit.log("refund", target=till.refund["member"] if till.refund else None, refused=error.reason,
                  receipt_id=values["receipt_id"])
        return _page(till, _REFUND_STATUS.get(error.reason, 409))
    visit.notify(result.events)  # "Refund of receipt R-1: -187 points. Balance: 1,206." in their chat
    till.refunded = _purchase_details(visit, result.purchase)
    till.refunded["message"] = _("Refunded receipt {receipt}: -{points} points. New balance: {balance}.",
                                 receipt=result.purchase.receipt_id, points=result.points,
                                 balance=result.member.balance)
    visit.log("refund", target=result.member.code, receipt_id=result.purchase.receipt_id, points=result.points,
              balance=result.member.balance)
    till.values = {}
    _show_member(visit, till, result.member)
    return _page(till)
