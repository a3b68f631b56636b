"""The members pages as an owner or a manager uses them: a search by phone (as dialled or
with +country), member code or name; sorting and paging; the CSV; a member's page showing
what the database holds; adjusting points, cancelling a code and sending the invite again,
each written to the activity log. Cashiers get 403 on all of it, and a form without its
CSRF token is refused."""
from __future__ import annotations

import csv
import io
import re

from conftest import csrf_token, post_form, sign_in
from flask.testing import FlaskClient
from sqlalchemy import insert, select, update
from test_api import BEN, CHLOE, Shop
from test_chat_page import Browser

from rewards import members
from rewards.models import Code, LedgerEntry, Member, OutboxMessage, StaffActivity
from web.console import members_page

ROW = re.compile(r'<a href="/members/([0-9A-Z]+)">')


def member_code(shop: Shop, phone: str) -> str:
    with shop.rt.transaction() as session:
        return members.find(session, shop.program_id, phone).code


def listed(client: FlaskClient, **query: str) -> list[str]:
    response = client.get("/members", query_string=query)
    assert response.status_code == 200
    return ROW.findall(response.get_data(as_text=True))


def balances(shop: Shop) -> dict[str, int]:
    with shop.rt.transaction() as session:
        return dict(session.execute(select(Member.code, Member.balance)).all())


def activity(shop: Shop) -> list[tuple[str, str | None, str]]:
    with shop.rt.transaction() as session:
        rows = session.scalars(select(StaffActivity).order_by(StaffActivity.id))
        return [(row.action, row.target, row.email) for row in rows]


def flash_of(client: FlaskClient, response) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    found = re.search(r'<p class="(ok|error)" role="status">([^<]*)</p>', page)
    assert found, "no one-line result on the page"
    return f"{found.group(1)}: {found.group(2)}"


# --- the list ----------------------------------------------------------------------


def test_a_member_is_found_by_phone_as_dialled_or_with_country_by_code_and_by_name(any_console: Shop) -> None:
    owner = sign_in(any_console, "owner")
    ben = member_code(any_console, BEN)
    assert listed(owner, q="(555) 000-0002") == [ben]
    assert listed(owner, q="555 000 0002") == [ben]
    assert listed(owner, q="+1 555 000 0002") == [ben]
    assert listed(owner, q=ben) == [ben]
    assert listed(owner, q=f"{ben[:4].lower()}-{ben[4:].lower()}") == [ben]
    assert listed(owner, q="Ben") == [ben]
    assert listed(owner, q="be") == [ben]
    assert listed(owner, q="BEN") == [ben]
    assert listed(owner, q="ben_") == [] and listed(owner, q="b%") == []  # LIKE's wildcards are plain text
    assert listed(owner, q="Zed") == [] and listed(owner, q="Be\x00n") == [ben]  # unprintable characters are dropped
    assert "No member matches “Zed”." in owner.get("/members?q=Zed").get_data(as_text=True)
    assert len(listed(owner)) == 5


def count_of(client: FlaskClient, **query: str) -> str:
    found = re.search(r'<p class="count" id="member-count">([^<]*)</p>', client.get("/members", query_string=query)
                      .get_data(as_text=True))
    assert found, "no count on the page"
    return found.group(1)


def test_the_list_says_how_many_members_the_search_finds_over_all_pages(any_console: Shop, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    with any_console.rt.transaction() as session:
        joined = session.scalar(select(Member.joined_at).limit(1))
        session.execute(insert(Member), [
            {"program_id": any_console.program_id, "code": f"BULK{n:04d}", "name": f"Bulk {n}", "language": "en",
             "joined_at": joined, "last_activity_at": joined, "balance": 0, "marketing_consent": False}
            for n in range(1234)])
        session.execute(update(Member).where(Member.code == "BULK0000").values(deleted_at=joined))  # not listed
    monkeypatch.setattr(members_page, "PAGE", 2)
    owner = sign_in(any_console, "owner")
    assert count_of(owner) == "1,238 members"  # the demo's 5, and 1,233 more
    assert count_of(owner, q="bulk 12") == "45 members"  # Bulk 12, 120-129, 1200-1233
    assert count_of(owner, q="Ben") == "1 member" and count_of(owner, q="Zed") == "0 members"
    assert count_of(owner, q="bulk 12", page="3") == "45 members"  # the same on every page
    spanish = sign_in(any_console, "manager", language="es")
    assert count_of(spanish) == "1.238 miembros" and count_of(spanish, q="Ben") == "1 miembro"


def test_the_list_sorts_by_balance_last_visit_and_join_date_and_pages(console: Shop, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    manager = sign_in(console, "manager")
    with console.rt.transaction() as session:
        rows = session.scalars(select(Member).order_by(Member.id)).all()
        by = {
            "balance": [m.code for m in sorted(rows, key=lambda m: (m.balance, m.id), reverse=True)],
            "last_visit": [m.code for m in sorted(rows, key=lambda m: (m.last_activity_at, m.id), reverse=True)],
            "joined": [m.code for m in sorted(rows, key=lambda m: (m.joined_at, m.id), reverse=True)],
        }
    assert by["balance"] != by["joined"]
    for sort, expected in by.items():
        assert listed(manager, sort=sort) == expected
        assert listed(manager, sort=sort, dir="asc") == expected[::-1]
    assert listed(manager, sort="nonsense") == by["joined"]  # an unknown sort is the default one
    monkeypatch.setattr(members_page, "PAGE", 2)
    pages = [listed(manager, sort="balance", page=str(n)) for n in (1, 2, 3)]
    assert pages == [by["balance"][:2], by["balance"][2:4], by["balance"][4:]]
    first = manager.get("/members?sort=balance&page=1").get_data(as_text=True)
    last = manager.get("/members?sort=balance&page=3").get_data(as_text=True)
    assert 'rel="next"' in first and 'rel="prev"' not in first and "<span>Page 1</span>" in first
    assert 'rel="prev"' in last and 'rel="next"' not in last


def test_the_csv_has_every_member_the_search_finds_in_its_order(console: Shop, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(members_page, "CSV_CHUNK", 2)  # several chunks, each after the last one's cursor
    owner = sign_in(console, "owner")
    response = owner.get("/members.csv?sort=balance&dir=desc")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    held = balances(console)
    assert [row["member_code"] for row in rows] == listed(owner, sort="balance")
    assert {row["member_code"]: int(row["balance"]) for row in rows} == held
    ben = next(row for row in rows if row["phone"] == BEN)
    assert (ben["name"], ben["tier"], ben["language"], ben["marketing_consent"]) == ("Ben", "Gold", "en", "yes")
    only_ben = list(csv.DictReader(io.StringIO(owner.get("/members.csv?q=ben").get_data(as_text=True))))
    assert [row["phone"] for row in only_ben] == [BEN]
    assert ("members.export", None, "owner@shop.example") in activity(console)


# --- one member ----------------------------------------------------------------------


def test_the_member_page_shows_what_the_database_holds(console: Shop) -> None:
    code_text = console.issue_code(BEN)
    Browser(console, BEN).say("balance")  # Ben now writes on the web chat too
    manager = sign_in(console, "manager")
    ben = member_code(console, BEN)
    page = manager.get(f"/members/{ben.lower()}").get_data(as_text=True)  # as typed: the code is normalized
    with console.rt.transaction() as session:
        member = members.find(session, console.program_id, BEN)
        entries = session.scalars(select(LedgerEntry).where(LedgerEntry.member_id == member.id)).all()
        balance, tier = member.balance, member.tier.name
    assert f'<dd id="balance">{balance:,}</dd>' in page
    assert f"<dd>{tier}</dd>" in page and BEN in page
    for entry in entries:
        assert entry.reason in page
    assert code_text in page and "Free coffee" in page and f'aria-label="Cancel code {code_text}"' in page
    assert f"<dd>{tier}</dd>" in page
    assert re.search(r"<td>web( <span[^<]*</span>)?</td>", page), "Ben's web chat is not listed"
    assert manager.get("/members/NOSUCHCODE").status_code == 404


def test_adjusting_needs_a_reason_writes_the_ledger_tells_the_member_and_is_logged(console: Shop) -> None:
    Browser(console, BEN).say("balance")
    manager = sign_in(console, "manager")
    ben = member_code(console, BEN)
    before = balances(console)[ben]
    path = f"/members/{ben}"

    refused = post_form(manager, f"{path}/adjust", {"points": "50", "reason": "  "}, token_from=path)
    assert flash_of(manager, refused) == "error: Write a reason for the adjustment."
    too_much = post_form(manager, f"{path}/adjust", {"points": str(-(before + 1)), "reason": "typo"}, token_from=path)
    assert flash_of(manager, too_much) == "error: Not enough spendable points for that deduction."
    assert balances(console)[ben] == before

    done = post_form(manager, f"{path}/adjust", {"points": "50", "reason": "coffee spilt"}, token_from=path)
    assert flash_of(manager, done) == f"ok: Adjusted by +50 points: the balance is now {before + 50:,}."
    taken = post_form(manager, f"{path}/adjust", {"points": "-20", "reason": "double scan"}, token_from=path)
    assert flash_of(manager, taken) == f"ok: Adjusted by -20 points: the balance is now {before + 30:,}."
    with console.rt.transaction() as session:
        adjustments = session.execute(select(LedgerEntry.amount, LedgerEntry.reason, LedgerEntry.actor)
                                      .where(LedgerEntry.kind == "adjust").order_by(LedgerEntry.id)).all()
        told = session.scalars(select(OutboxMessage.payload).where(OutboxMessage.kind == "notice")
                               .order_by(OutboxMessage.id)).all()
    assert [tuple(row) for row in adjustments] == [(50, "coffee spilt", "staff:manager@shop.example"),
                                                   (-20, "double scan", "staff:manager@shop.example")]
    assert [p["text"] for p in told] == [f"+50 points. Balance: {before + 50:,}.",
                                         f"The shop took 20 points off your balance. Balance: {before + 30:,}."]
    assert [a for a in activity(console) if a[0] == "member.adjust"] == [
        ("member.adjust", ben, "manager@shop.example")] * 2
    assert f"{before + 30:,}" in manager.get(path).get_data(as_text=True)


def test_a_cancelled_code_is_refused_at_the_till_and_its_points_come_back(console: Shop) -> None:
    code_text = console.issue_code(BEN)
    owner = sign_in(console, "owner")
    ben = member_code(console, BEN)
    before = balances(console)[ben]
    with console.rt.transaction() as session:
        code_id = session.scalar(select(Code.id).where(Code.code == code_text))
    path = f"/members/{ben}"
    done = post_form(owner, f"{path}/codes/{code_id}/cancel", {}, token_from=path)
    assert flash_of(owner, done) == "ok: Code cancelled: 500 points went back to the member."
    assert balances(console)[ben] == before + 500
    till = console.post(f"/codes/{code_text}/redeem")
    assert till.status_code == 409 and till.json["error"] == "cancelled"
    again = post_form(owner, f"{path}/codes/{code_id}/cancel", {}, token_from=path)
    assert flash_of(owner, again) == "error: That code was already cancelled."
    assert [a for a in activity(console) if a[0] == "member.cancel_code"] == [
        ("member.cancel_code", ben, "owner@shop.example")]
    # a code is cancelled only from its own member's page
    assert owner.post(f"/members/{member_code(console, CHLOE)}/codes/{code_id}/cancel",
                      data={"csrf_token": csrf_token(owner, path)}).status_code == 404


def test_the_invite_goes_again_on_the_members_channel_through_the_outbox(console: Shop) -> None:
    owner = sign_in(console, "owner")
    chloe = member_code(console, CHLOE)
    nowhere = post_form(owner, f"/members/{chloe}/invite", {}, token_from=f"/members/{chloe}")
    assert flash_of(owner, nowhere) == "error: Not sent: this member has no channel we can reach them on."

    Browser(console, BEN).say("balance")
    ben = member_code(console, BEN)
    with console.rt.transaction() as session:
        before = session.scalar(select(OutboxMessage.id).order_by(OutboxMessage.id.desc()).limit(1))
    sent = post_form(owner, f"/members/{ben}/invite", {}, token_from=f"/members/{ben}")
    assert flash_of(owner, sent) == "ok: Invite sent again on web."
    with console.rt.transaction() as session:
        rows = session.scalars(select(OutboxMessage).where(OutboxMessage.id > before)).all()
    assert [(row.channel, row.address, row.kind) for row in rows] == [("web", BEN, "notice")]
    assert f"Your invite code: {ben}" in rows[0].payload["text"]
    assert [a for a in activity(console) if a[0] == "member.resend_invite"] == [
        ("member.resend_invite", ben, "owner@shop.example")]


# --- who may ---------------------------------------------------------------------------


def test_a_cashier_gets_403_on_every_members_page_and_action(console: Shop) -> None:
    code_text = console.issue_code(BEN)
    cashier = sign_in(console, "cashier")
    ben = member_code(console, BEN)
    with console.rt.transaction() as session:
        code_id = session.scalar(select(Code.id).where(Code.code == code_text))
    before = (balances(console), activity(console))
    for path in ("/members", "/members?q=Ben", "/members.csv", f"/members/{ben}"):
        assert cashier.get(path).status_code == 403, path
    token = csrf_token(cashier, "/members")  # the 403 page's sign-out form has one
    for path, data in ((f"/members/{ben}/adjust", {"points": "500", "reason": "me"}),
                       (f"/members/{ben}/codes/{code_id}/cancel", {}), (f"/members/{ben}/invite", {})):
        assert cashier.post(path, data={**data, "csrf_token": token}).status_code == 403, path
    assert (balances(console), activity(console)) == before
    assert "Members" not in cashier.get("/members").get_data(as_text=True).split("<main")[0]


def test_a_form_without_its_csrf_token_is_refused(console: Shop) -> None:
    owner = sign_in(console, "owner")
    ben = member_code(console, BEN)
    before = balances(console)
    response = owner.post(f"/members/{ben}/adjust", data={"points": "50", "reason": "no token"})
    assert response.status_code == 400 and "This form has expired" in response.get_data(as_text=True)
    assert owner.post(f"/members/{ben}/invite").status_code == 400
    assert balances(console) == before


def test_the_menu_shows_members_to_owners_and_managers(console: Shop) -> None:
    for role in ("owner", "manager"):
        page = sign_in(console, role).get("/members").get_data(as_text=True)
        assert '<a href="/members" aria-current="page">Members</a>' in page
