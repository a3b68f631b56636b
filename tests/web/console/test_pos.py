"""The till (/pos) on the server: what a cashier sees after each form, what the database then
holds, and what the activity log says. The camera is tried in test_pos_browser.py."""
from __future__ import annotations

import re
import threading
from datetime import timedelta
from typing import Any

from conftest import csrf_token, email_of, post_form, sign_in
from flask.testing import FlaskClient
from sqlalchemy import select
from test_api import BEN, CHLOE, Shop, any_shop, shop  # noqa: F401 - fixtures used by name

from bot.messages import IncomingMessage
from rewards import activity, members, redemption
from rewards.codes import display
from rewards.models import Code, CodeAttempt, LedgerEntry, Member, OutboxMessage, Purchase
from web.console.access import ROLES

NEWCOMER = "+15550004444"


def text(response: Any) -> str:
    """The page as a person reads it: tags out, spaces collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)).split())


def till(client: FlaskClient, action: str, **data: str) -> Any:
    return post_form(client, f"/pos/{action}", data, token_from="/pos")


def member_of(shop: Shop, phone: str) -> Member:
    with shop.rt.transaction() as session:
        return members.find(session, shop.program_id, phone)


def log(shop: Shop, action: str) -> list[Any]:
    with shop.rt.transaction() as session:
        return [(e.email, e.target, e.details) for e in activity.entries(session, shop.program_id, action=action)]


def status_of(shop: Shop, code: str) -> str:
    with shop.rt.transaction() as session:
        return str(session.scalar(select(Code.status).where(Code.code == code)))


# --- who may use it -------------------------------------------------------------------------


def test_owner_manager_and_cashier_open_the_till_and_the_cashier_sees_only_it(console: Shop) -> None:
    pages = {role: sign_in(console, role).get("/pos") for role in ROLES}
    for role, page in pages.items():
        assert page.status_code == 200, role
        assert "Till" in text(page) and "Record the purchase" in text(page)
    menu = re.findall(r"<nav.*?</nav>", pages["cashier"].get_data(as_text=True), re.S)
    assert menu and re.findall(r'href="([^"]+)"', menu[0]) == ["/pos", "/account"]  # and their own account


def test_signed_out_the_till_asks_to_sign_in_and_changes_nothing(console: Shop) -> None:
    client = console.app.test_client()
    assert client.get("/pos").status_code == 302
    before = console.snapshot()
    response = client.post("/pos/purchase", data={"customer": BEN, "amount": "5", "receipt_id": "X"})
    assert response.status_code in (302, 400)
    assert console.snapshot() == before


# --- finding a member and recording purchases ------------------------------------------------


def test_a_member_is_found_by_phone_or_member_code(console: Shop) -> None:
    cashier = sign_in(console, "cashier")
    ben = member_of(console, BEN)
    for typed in (BEN, ben.code.lower(), "(555) 000-0002"):
        found = till(cashier, "find", customer=typed)
        assert found.status_code == 200, typed
        assert f"Member {ben.code}" in text(found) and "Tier Gold" in text(found)
    missing = till(cashier, "find", customer="+15559999999")
    assert missing.status_code == 404
    assert "No member has this phone number or member code." in text(missing)
    assert 'id="enrol-phone" name="phone" type="tel" value="+15559999999"' in missing.get_data(as_text=True)
    assert log(console, "find_member")[0][:2] == (email_of("cashier"), None)
    assert log(console, "find_member")[1][:2] == (email_of("cashier"), ben.code)


def test_a_purchase_shows_the_points_and_the_new_balance_and_a_receipt_earns_once(console: Shop) -> None:
    console.rt.receive(IncomingMessage(console.program_id, "web", BEN, "balance", phone=BEN))  # Ben on /chat
    cashier = sign_in(console, "cashier")
    before = member_of(console, BEN).balance
    first = till(cashier, "purchase", customer=BEN, amount="12.50", receipt_id="R-1")
    assert first.status_code == 201
    assert f"+187 points. New balance: {before + 187:,}." in text(first)
    again = till(cashier, "purchase", customer=BEN, amount="12.50", receipt_id="R-1")
    assert again.status_code == 200
    assert f"Receipt R-1 was already recorded: no points again. Balance: {before + 187:,}." in text(again)
    assert member_of(console, BEN).balance == before + 187
    with console.rt.transaction() as session:
        bought = session.scalars(select(Purchase).where(Purchase.receipt_id == "R-1")).all()
        assert [p.actor for p in bought] == [f"staff:{email_of('cashier')}"]
        # Ben is told on the channel he last wrote from, once.
        told = session.scalars(select(OutboxMessage.payload).where(OutboxMessage.kind == "notice",
                                                                    OutboxMessage.address == BEN)).all()
    assert [payload["text"] for payload in told] == [f"+187 points. Balance: {before + 187:,}."]
    code = member_of(console, BEN).code
    entries = log(console, "purchase")
    assert [(e[0], e[1], e[2]["created"], e[2]["points"]) for e in entries] == [
        (email_of("cashier"), code, False, 187), (email_of("cashier"), code, True, 187)]


def test_purchase_refusals_say_why_and_change_nothing(console: Shop) -> None:
    cashier = sign_in(console, "cashier")
    till(cashier, "purchase", customer=BEN, amount="12.50", receipt_id="R-1")
    before = console.snapshot()
    cases = [
        ({"customer": "+15559999999", "amount": "5", "receipt_id": "X"}, 404, "No member has this phone number"),
        ({"customer": BEN, "amount": "ten", "receipt_id": "X"}, 422, "Write the amount like 12.50"),
        ({"customer": BEN, "amount": "0", "receipt_id": "X"}, 422, "Write the amount like 12.50"),
        ({"customer": CHLOE, "amount": "12.50", "receipt_id": "R-1"}, 409, "already used for another customer"),
    ]
    for data, status, words in cases:
        response = till(cashier, "purchase", **data)
        assert (response.status_code, words in text(response)) == (status, True), data
        assert f'value="{data["amount"]}"' in response.get_data(as_text=True)  # typed values kept
    assert console.snapshot() == before


# --- redeeming: check, then confirm ---------------------------------------------------------


def test_checking_a_code_shows_it_without_using_it_and_confirm_uses_it_once(console: Shop) -> None:
    code = console.issue_code(BEN)
    ben = member_of(console, BEN).code
    cashier = sign_in(console, "cashier")
    shown = till(cashier, "check", code=display(code).lower())
    assert shown.status_code == 200
    words = text(shown)
    assert "Reward Free coffee" in words and f"Member {ben}" in words and "Valid until" in words
    assert "Confirm: give Free coffee" in words
    assert status_of(console, code) == "issued"
    used = till(cashier, "redeem", code=code)
    assert used.status_code == 200
    assert f"Accepted: give Free coffee to member {ben}." in text(used)
    assert status_of(console, code) == "redeemed"
    again = till(cashier, "redeem", code=code)
    assert again.status_code == 409 and "already used. Do not give the reward again" in text(again)
    looked = till(cashier, "check", code=code)
    assert looked.status_code == 409 and "Used" in text(looked) and "Confirm" not in text(looked)
    with console.rt.transaction() as session:
        assert session.scalar(select(Code.used_by).where(Code.code == code)) == f"staff:{email_of('cashier')}"
    assert [(e[0], e[1], e[2].get("refused")) for e in log(console, "redeem")] == [
        (email_of("cashier"), ben, "used"), (email_of("cashier"), ben, None)]
    assert code not in str(log(console, "check_code")) + str(log(console, "redeem"))  # no usable code in the log


def test_codes_that_cannot_be_used_say_why(console: Shop) -> None:
    expired, cancelled = console.issue_code(BEN), console.issue_code(BEN)
    with console.rt.transaction() as session:
        session.execute(Code.__table__.update().where(Code.code == cancelled).values(status="cancelled"))
        session.execute(Code.__table__.update().where(Code.code == expired).values(
            expires_at=console.rt.clock() - timedelta(days=1)))
    cashier = sign_in(console, "cashier")
    for code, status, words in (
        ("K7QM3XPA9RT2W", 404, "No such code: check it and try again."),
        (expired, 409, "This code has expired."),
        (cancelled, 409, "This code was cancelled."),
    ):
        for action in ("check", "redeem"):
            response = till(cashier, action, code=code)
            assert (response.status_code, words in text(response)) == (status, True), (code, action)
            assert "Confirm:" not in text(response)
    assert status_of(console, expired) == "issued" and status_of(console, cancelled) == "cancelled"


def test_wrong_codes_are_throttled_per_staff_member(console: Shop) -> None:
    cashier = sign_in(console, "cashier")
    for n in range(redemption.THROTTLE_LIMIT):
        assert till(cashier, "check", code=f"K7QM3XPA9RT{n:02d}").status_code == 404
    good = console.issue_code(BEN)
    stopped = till(cashier, "check", code=good)
    assert stopped.status_code == 429 and "Too many wrong codes: wait 15 minutes" in text(stopped)
    manager = sign_in(console, "manager")  # another person at another till is not held up
    assert till(manager, "check", code=good).status_code == 200
    with console.rt.transaction() as session:
        actors = set(session.scalars(select(CodeAttempt.actor)))
    assert actors == {f"staff:{email_of('cashier')}"}


def at_once(clients: list[FlaskClient], path: str, form: dict[str, str]) -> list[tuple[int, str]]:
    """Each till posts ``form`` to ``path`` at the same moment: their (status, words)."""
    tokens = [csrf_token(c, "/pos") for c in clients]
    barrier = threading.Barrier(len(clients))
    answers: list[tuple[int, str]] = []

    def confirm(client: FlaskClient, token: str) -> None:
        barrier.wait()
        response = client.post(path, data={**form, "csrf_token": token})
        answers.append((response.status_code, text(response)))

    threads = [threading.Thread(target=confirm, args=pair) for pair in zip(clients, tokens, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def test_two_tills_confirming_the_same_code_at_once_give_it_once(any_shop: Shop) -> None:  # noqa: F811
    code = any_shop.issue_code(BEN)
    clients = [sign_in(any_shop, role) for role in ("cashier", "manager")]
    answers = at_once(clients, "/pos/redeem", {"code": code})
    assert sorted(status for status, _ in answers) == [200, 409], answers
    assert sum("Accepted: give Free coffee" in words for _, words in answers) == 1
    assert status_of(any_shop, code) == "redeemed"


# --- refunding: show the purchase, then confirm --------------------------------------------


def refunded_at(shop: Shop, receipt_id: str) -> Any:
    with shop.rt.transaction() as session:
        return session.scalar(select(Purchase.refunded_at).where(Purchase.receipt_id == receipt_id))


def test_a_refund_shows_the_purchase_then_confirm_takes_its_points_back_once(console: Shop) -> None:
    console.rt.receive(IncomingMessage(console.program_id, "web", BEN, "balance", phone=BEN))  # Ben on /chat
    cashier = sign_in(console, "cashier")
    before = member_of(console, BEN).balance
    till(cashier, "purchase", customer=BEN, amount="12.50", receipt_id="R-1")
    ben = member_of(console, BEN).code
    shown = till(cashier, "refund/check", receipt_id="R-1", customer="")
    assert shown.status_code == 200
    words = text(shown)
    for fact in ("Receipt id R-1", f"Member {ben}", "Amount $12.50", "Points it earned 187", "Bought"):
        assert fact in words, fact
    assert "Confirm: refund receipt R-1" in words
    assert refunded_at(console, "R-1") is None and member_of(console, BEN).balance == before + 187  # looking only
    done = till(cashier, "refund", receipt_id="R-1", customer="")
    assert done.status_code == 200
    assert f"Refunded receipt R-1: -187 points. New balance: {before:,}." in text(done)
    assert f"Member {ben}" in text(done) and f"Points {before:,}" in text(done)  # the member, as now
    assert member_of(console, BEN).balance == before and refunded_at(console, "R-1") is not None
    for action in ("refund/check", "refund"):  # again, from this till or another
        again = till(cashier, action, receipt_id="R-1", customer="")
        assert again.status_code == 409, action
        assert "Receipt R-1 was already refunded (" in text(again) and "Confirm:" not in text(again)
    assert member_of(console, BEN).balance == before
    with console.rt.transaction() as session:
        told = session.scalars(select(OutboxMessage.payload).where(OutboxMessage.kind == "notice",
                                                                    OutboxMessage.address == BEN)).all()
        reversed_by = session.scalars(select(LedgerEntry.actor).where(LedgerEntry.kind == "reversal")).all()
    assert [p["text"] for p in told][-1] == f"Refund of receipt R-1: -187 points. Balance: {before:,}."
    assert set(reversed_by) == {f"staff:{email_of('cashier')}"}
    assert [(e[0], e[1], e[2].get("refused"), e[2].get("points")) for e in log(console, "refund")] == [
        (email_of("cashier"), ben, "already_refunded", None), (email_of("cashier"), ben, None, 187)]
    assert [(e[1], e[2].get("refused")) for e in log(console, "check_refund")] == [
        (ben, "already_refunded"), (ben, None)]


def test_a_refund_for_the_member_found_refuses_another_members_receipt(console: Shop) -> None:
    cashier = sign_in(console, "cashier")
    till(cashier, "purchase", customer=BEN, amount="12.50", receipt_id="R-1")
    found = till(cashier, "find", customer=BEN)  # the refund form is filled with the member found
    assert 'id="refund-customer" name="customer" value="' + member_of(console, BEN).code in found.get_data(as_text=True)
    assert till(cashier, "refund/check", receipt_id="R-1", customer=BEN).status_code == 200
    before = console.snapshot()
    cases = [
        ({"receipt_id": "R-1", "customer": CHLOE}, 409, "This receipt is another member"),
        ({"receipt_id": "R-1", "customer": "+15559999999"}, 404, "No member has this phone number"),
        ({"receipt_id": "NOPE", "customer": ""}, 404, "No purchase has this receipt id: check it and try again."),
        ({"receipt_id": "NOPE", "customer": BEN}, 404, "No purchase has this receipt id"),
    ]
    for data, status, words in cases:
        for action in ("refund/check", "refund"):
            response = till(cashier, action, **data)
            assert (response.status_code, words in text(response)) == (status, True), (data, action)
            assert "Confirm:" not in text(response)
            assert f'id="refund-receipt" name="receipt_id" value="{data["receipt_id"]}"' in response.get_data(as_text=True)
    assert console.snapshot() == before
    assert refunded_at(console, "R-1") is None


def test_owners_managers_and_cashiers_refund_and_signed_out_nothing_changes(console: Shop) -> None:
    cashier = sign_in(console, "cashier")
    for role in ROLES:
        till(cashier, "purchase", customer=BEN, amount="10", receipt_id=f"R-{role}")
        client = cashier if role == "cashier" else sign_in(console, role)
        done = till(client, "refund", receipt_id=f"R-{role}", customer="")
        assert done.status_code == 200 and f"Refunded receipt R-{role}: -150 points." in text(done), role
        assert log(console, "refund")[0][:2] == (email_of(role), member_of(console, BEN).code)
    till(cashier, "purchase", customer=BEN, amount="10", receipt_id="R-kept")
    before = console.snapshot()
    signed_out = console.app.test_client().post("/pos/refund", data={"receipt_id": "R-kept"})
    assert signed_out.status_code in (302, 400)
    no_token = cashier.post("/pos/refund", data={"receipt_id": "R-kept"})
    assert no_token.status_code == 400
    assert console.snapshot() == before and refunded_at(console, "R-kept") is None


def test_two_tills_confirming_the_same_refund_at_once_refund_it_once(any_console: Shop) -> None:
    clients = [sign_in(any_console, role) for role in ("cashier", "manager")]
    till(clients[0], "purchase", customer=BEN, amount="12.50", receipt_id="R-RACE")
    after_purchase = member_of(any_console, BEN).balance
    answers = at_once(clients, "/pos/refund", {"receipt_id": "R-RACE", "customer": ""})
    assert sorted(status for status, _ in answers) == [200, 409], answers
    assert sum("Refunded receipt R-RACE: -187 points." in words for _, words in answers) == 1
    assert sum("Receipt R-RACE was already refunded" in words for _, words in answers) == 1
    assert member_of(any_console, BEN).balance == after_purchase - 187
    with any_console.rt.transaction() as session:
        reversals = session.scalars(select(LedgerEntry.amount).where(LedgerEntry.kind == "reversal")).all()
    assert sum(reversals) == -187


# --- asking a new customer to join ----------------------------------------------------------


def test_enrolling_asks_the_customer_once_and_only_their_yes_joins_them(console: Shop) -> None:
    cashier = sign_in(console, "cashier")
    sent = till(cashier, "enrol", phone="(555) 000-4444")
    assert sent.status_code == 201
    assert "Sent: the customer was asked on the web chat to join." in text(sent)
    again = till(cashier, "enrol", phone=NEWCOMER)
    assert again.status_code == 200 and "already asked today: nothing was sent again" in text(again)
    with console.rt.transaction() as session:
        rows = session.scalars(select(OutboxMessage).where(OutboxMessage.address == NEWCOMER)).all()
        assert [(r.channel, "Reply YES or NO" in r.payload["text"]) for r in rows] == [("web", True)]
        assert members.by_phone(session, console.program_id, NEWCOMER) is None  # the cashier joined no one
    console.rt.receive(IncomingMessage(console.program_id, "web", NEWCOMER, "yes", phone=NEWCOMER))
    joined = member_of(console, NEWCOMER)
    assert joined.balance == 50
    assert [(e[0], e[1], e[2]) for e in log(console, "enrol")] == [
        (email_of("cashier"), "+15*******44", {"channel": "web", "sent": False}),
        (email_of("cashier"), "+15*******44", {"channel": "web", "sent": True})]
    member = till(cashier, "enrol", phone=NEWCOMER)
    assert member.status_code == 409 and "already belongs to a member" in text(member)
    bad = till(cashier, "enrol", phone="hello")
    assert bad.status_code == 422 and "This is not a phone number" in text(bad)


def test_a_form_without_its_token_changes_nothing(console: Shop) -> None:
    client = sign_in(console, "cashier")
    before = console.snapshot()
    response = client.post("/pos/purchase", data={"customer": BEN, "amount": "5", "receipt_id": "X"})
    assert response.status_code == 400 and "This form has expired" in text(response)
    assert console.snapshot() == before
