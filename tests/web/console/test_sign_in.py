"""Signing in to the console: the right password opens the role's pages, anything else is
one line that does not say whether the email exists; guessing is throttled; roles are
checked on the server for every page; sessions end when the password changes."""
from __future__ import annotations

from conftest import PASSWORD, add_user, csrf_token, email_of, sign_in
from sqlalchemy import select
from test_api import Shop

from rewards.models import StaffActivity, StaffUser

REFUSED = "That email and password do not match an account that can sign in."


def attempt(shop: Shop, email: str, password: str, client=None, address: str = "203.0.113.7"):  # type: ignore[no-untyped-def]
    client = client or shop.app.test_client()
    token = csrf_token(client)
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token},
                       environ_base={"REMOTE_ADDR": address})


def test_an_owner_signs_in_and_lands_on_their_first_page(console: Shop) -> None:
    add_user(console, "owner")
    response = attempt(console, "Owner@Shop.example ", PASSWORD)
    assert response.status_code == 302
    assert response.headers["Location"] == "/dashboard"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


def test_a_wrong_password_and_an_unknown_email_read_the_same(console: Shop) -> None:
    add_user(console, "owner")
    wrong = attempt(console, email_of("owner"), "not the password")
    unknown = attempt(console, "nobody@shop.example", PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    assert REFUSED in wrong.get_data(as_text=True)
    assert REFUSED in unknown.get_data(as_text=True)
    assert "Set-Cookie" not in wrong.headers or "staff_id" not in wrong.headers["Set-Cookie"]


def test_a_form_without_its_csrf_token_is_refused(console: Shop) -> None:
    add_user(console, "owner")
    client = console.app.test_client()
    response = client.post("/login", data={"email": email_of("owner"), "password": PASSWORD})
    assert response.status_code == 400
    assert "This form has expired" in response.get_data(as_text=True)
    assert client.get("/activity").status_code == 302  # not signed in


def test_guessing_a_password_is_stopped_even_when_the_guess_is_right(console: Shop) -> None:
    add_user(console, "owner")
    for _ in range(5):
        assert attempt(console, email_of("owner"), "wrong password!").status_code == 401
    late = attempt(console, email_of("owner"), PASSWORD)
    assert late.status_code == 429
    assert "Too many attempts" in late.get_data(as_text=True)
    console.rt.clock = lambda: console_clock_later(console, minutes=16)
    assert attempt(console, email_of("owner"), PASSWORD).status_code == 302


def console_clock_later(shop: Shop, minutes: int):  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime, timedelta

    return datetime.now(UTC) + timedelta(minutes=minutes)


def test_one_address_guessing_many_accounts_is_stopped(console: Shop) -> None:
    for n in range(20):
        assert attempt(console, f"guess{n}@shop.example", "wrong password!").status_code == 401
    add_user(console, "owner")
    assert attempt(console, email_of("owner"), PASSWORD).status_code == 429
    assert attempt(console, email_of("owner"), PASSWORD, address="198.51.100.1").status_code == 302


def test_a_cashier_may_not_open_the_owners_pages(console: Shop) -> None:
    cashier = sign_in(console, "cashier")
    response = cashier.get("/activity")
    assert response.status_code == 403
    assert "Not for your role" in response.get_data(as_text=True)


def test_pages_send_a_visitor_who_is_not_signed_in_to_the_sign_in_form(console: Shop) -> None:
    response = console.app.test_client().get("/activity?day=2026-12-01")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/activity?day%3D2026-12-01"


def test_sign_in_goes_back_to_the_page_asked_for_but_never_to_another_site(console: Shop) -> None:
    add_user(console, "owner")
    client = console.app.test_client()
    token = csrf_token(client)
    back = client.post("/login", data={"email": email_of("owner"), "password": PASSWORD, "csrf_token": token,
                                       "next": "/activity?day=2026-12-01"})
    assert back.headers["Location"] == "/activity?day=2026-12-01"
    for elsewhere in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        client = console.app.test_client()
        token = csrf_token(client)
        away = client.post("/login", data={"email": email_of("owner"), "password": PASSWORD, "csrf_token": token,
                                           "next": elsewhere})
        assert away.headers["Location"] == "/dashboard", elsewhere


def test_a_new_password_or_disabling_ends_the_open_sessions(console: Shop) -> None:
    owner = sign_in(console, "owner")
    assert owner.get("/activity").status_code == 200
    result = console.cli("users", "passwd", email_of("owner"), input="another long password\n")
    assert result.exit_code == 0, result.output
    assert owner.get("/activity").status_code == 302
    assert attempt(console, email_of("owner"), "another long password").status_code == 302
    owner = sign_in(console, "manager")
    result = console.cli("users", "disable", email_of("manager"))
    assert result.exit_code == 0, result.output
    assert owner.get("/console").headers["Location"] == "/login"
    assert attempt(console, email_of("manager"), PASSWORD).status_code == 401


def test_sign_out_ends_the_session(console: Shop) -> None:
    owner = sign_in(console, "owner")
    response = owner.post("/logout", data={"csrf_token": csrf_token(owner, "/activity")})
    assert response.status_code == 302
    assert owner.get("/activity").status_code == 302


def test_signing_in_is_in_the_activity_log_that_the_owner_filters(console: Shop) -> None:
    owner = sign_in(console, "owner")
    sign_in(console, "cashier")
    page = owner.get("/activity?email=cashier@shop.example").get_data(as_text=True)
    assert "cashier@shop.example" in page and "sign_in" in page
    assert "owner@shop.example</td>" not in page
    with console.rt.transaction() as session:
        rows = session.execute(select(StaffActivity.email, StaffActivity.action).order_by(StaffActivity.id)).all()
        assert [tuple(r) for r in rows] == [("owner@shop.example", "sign_in"), ("cashier@shop.example", "sign_in")]
        assert session.scalar(select(StaffUser.last_login_at).where(StaffUser.email == "owner@shop.example"))


def test_console_pages_allow_only_the_apps_own_scripts(console: Shop) -> None:
    owner = sign_in(console, "owner")
    response = owner.get("/activity")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"
    assert console.app.test_client().get("/console/static/console.css").status_code == 200
