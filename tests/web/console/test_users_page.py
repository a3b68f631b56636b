"""/users (the owner's: console users and API keys) and /account (everyone's own language,
password and phone): what each form leaves in the database and shows, who may use them,
the last active owner kept, an API key shown once and working until it is revoked."""
from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from conftest import PASSWORD, add_user, csrf_token, email_of, post_form, sign_in
from flask.testing import FlaskClient
from sqlalchemy import select
from test_api import BEN, Shop, any_shop, shop  # noqa: F401 - fixtures used by name
from werkzeug.security import check_password_hash

from rewards.models import ApiKey, StaffActivity, StaffUser

NEW_PASSWORD = "a brand new password"


def user(shop: Shop, email: str) -> StaffUser:
    with shop.rt.transaction() as session:
        row = session.scalar(select(StaffUser).where(StaffUser.email == email))
        assert row is not None
        session.expunge(row)
        return row


def user_id(shop: Shop, email: str) -> int:
    return user(shop, email).id


def log(shop: Shop) -> list[tuple[str, str, str | None, dict]]:
    with shop.rt.transaction() as session:
        rows = session.execute(select(StaffActivity.email, StaffActivity.action, StaffActivity.target,
                                      StaffActivity.details).order_by(StaffActivity.id)).all()
        return [tuple(row) for row in rows if row[1] != "sign_in"]  # type: ignore[misc]


def page(client: FlaskClient, path: str = "/users") -> str:
    response = client.get(path)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def on_account(client: FlaskClient, path: str, data: dict[str, str]):  # type: ignore[no-untyped-def]
    return post_form(client, path, data, token_from="/account")


def signs_in(shop: Shop, email: str, password: str) -> int:
    client = shop.app.test_client()
    return client.post("/login", data={"email": email, "password": password,
                                       "csrf_token": csrf_token(client)}).status_code


# --- users ------------------------------------------------------------------------------


def test_the_owner_adds_a_user_who_can_then_sign_in(console: Shop) -> None:
    owner = sign_in(console, "owner")
    response = post_form(owner, "/users/add", {"email": "Ana@Shop.example", "role": "cashier", "language": "es",
                                               "password": PASSWORD}, token_from="/users")
    assert response.status_code == 302 and response.headers["Location"] == "/users"
    shown = page(owner)
    assert "ana@shop.example can now sign in as cashier." in shown
    assert "ana@shop.example" in shown
    ana = user(console, "ana@shop.example")
    assert (ana.role, ana.language, ana.disabled_at) == ("cashier", "es", None)
    assert check_password_hash(ana.password_hash, PASSWORD)
    assert signs_in(console, "ana@shop.example", PASSWORD) == 302
    assert log(console) == [("owner@shop.example", "user_create", "ana@shop.example",
                             {"role": "cashier", "language": "es"})]
    assert PASSWORD not in str(log(console))


def test_adding_a_user_refuses_clearly_and_keeps_what_was_typed(console: Shop) -> None:
    owner = sign_in(console, "owner")
    short = post_form(owner, "/users/add", {"email": "ana@shop.example", "role": "cashier", "language": "en",
                                            "password": "short"}, token_from="/users")
    assert short.status_code == 422
    text = short.get_data(as_text=True)
    assert "The password must be 10 to 200 characters long." in text and 'value="ana@shop.example"' in text
    bad = post_form(owner, "/users/add", {"email": "ana", "role": "cashier", "language": "en",
                                          "password": PASSWORD}, token_from="/users")
    assert bad.status_code == 422 and "Write an email address" in bad.get_data(as_text=True)
    role = post_form(owner, "/users/add", {"email": "ana@shop.example", "role": "boss", "language": "en",
                                           "password": PASSWORD}, token_from="/users")
    assert role.status_code == 422 and "Choose a role" in role.get_data(as_text=True)
    twice = post_form(owner, "/users/add", {"email": "OWNER@shop.example", "role": "cashier", "language": "en",
                                            "password": PASSWORD}, token_from="/users")
    assert twice.status_code == 409 and "This email already has an account." in twice.get_data(as_text=True)
    with console.rt.transaction() as session:
        assert session.scalars(select(StaffUser.email)).all() == ["owner@shop.example"]
    assert log(console) == []


def test_the_owner_changes_a_role_disables_enables_and_sets_a_password(console: Shop) -> None:
    owner = sign_in(console, "owner")
    manager = sign_in(console, "manager")
    target = user_id(console, email_of("manager"))
    assert "Change manager@shop.example" in page(owner)  # each user's forms, under their name

    assert post_form(owner, f"/users/{target}/role", {"role": "cashier"}, token_from="/users").status_code == 302
    assert "manager@shop.example is now cashier." in page(owner)
    assert user(console, email_of("manager")).role == "cashier"
    assert manager.get("/account").status_code == 302  # the role changed: their session ended

    assert post_form(owner, f"/users/{target}/disable", {}, token_from="/users").status_code == 302
    assert "manager@shop.example can no longer sign in." in page(owner)
    assert user(console, email_of("manager")).disabled_at is not None
    assert signs_in(console, email_of("manager"), PASSWORD) == 401

    assert post_form(owner, f"/users/{target}/enable", {}, token_from="/users").status_code == 302
    assert user(console, email_of("manager")).disabled_at is None
    assert signs_in(console, email_of("manager"), PASSWORD) == 302

    assert post_form(owner, f"/users/{target}/password", {"password": NEW_PASSWORD},
                     token_from="/users").status_code == 302
    assert signs_in(console, email_of("manager"), NEW_PASSWORD) == 302
    short = post_form(owner, f"/users/{target}/password", {"password": "short"}, token_from="/users")
    assert short.status_code == 422 and "10 to 200 characters" in short.get_data(as_text=True)

    assert [(action, target, details) for _, action, target, details in log(console)] == [
        ("user_role", "manager@shop.example", {"role": "cashier", "was": "manager"}),
        ("user_disable", "manager@shop.example", {}),
        ("user_enable", "manager@shop.example", {}),
        ("user_password", "manager@shop.example", {}),
    ]
    assert NEW_PASSWORD not in str(log(console))
    assert owner.get("/users").status_code == 200  # the owner is still signed in


def test_an_owner_setting_their_own_password_stays_signed_in(console: Shop) -> None:
    owner = sign_in(console, "owner")
    other = console.app.test_client()
    other.post("/login", data={"email": email_of("owner"), "password": PASSWORD, "csrf_token": csrf_token(other)})
    me = user_id(console, email_of("owner"))
    assert post_form(owner, f"/users/{me}/password", {"password": NEW_PASSWORD}, token_from="/users").status_code == 302
    assert owner.get("/users").status_code == 200
    assert other.get("/users").status_code == 302  # the other session ended


def test_the_last_active_owner_can_neither_be_disabled_nor_demoted(console: Shop) -> None:
    owner = sign_in(console, "owner")
    me = user_id(console, email_of("owner"))
    for path, data in ((f"/users/{me}/disable", {}), (f"/users/{me}/role", {"role": "manager"})):
        response = post_form(owner, path, data, token_from="/users")
        assert response.status_code == 409, path
        assert "This is the last active owner: make another user owner first" in response.get_data(as_text=True)
    mine = user(console, email_of("owner"))
    assert (mine.role, mine.disabled_at) == ("owner", None)
    assert log(console) == []

    # With a second active owner, the first may step down (and lands on their new first page).
    add_user(console, "owner", "second@shop.example")
    response = post_form(owner, f"/users/{me}/role", {"role": "manager"}, token_from="/users")
    assert response.status_code == 302 and response.headers["Location"] == "/console"
    assert user(console, email_of("owner")).role == "manager"
    assert owner.get("/users").status_code == 403
    # ... and now the second owner is the last one: not even the shell disables them.
    refused = console.cli("users", "disable", "second@shop.example")
    assert refused.exit_code == 1
    assert "second@shop.example is the last active owner: make another user owner first" in refused.output
    demoted = console.cli("users", "role", "second@shop.example", "--role", "cashier")
    assert demoted.exit_code == 1 and "is the last active owner" in demoted.output
    assert user(console, "second@shop.example").role == "owner"


def test_a_disabled_owner_does_not_count_as_the_other_owner(console: Shop) -> None:
    owner = sign_in(console, "owner")
    add_user(console, "owner", "gone@shop.example")
    assert console.cli("users", "disable", "gone@shop.example").exit_code == 0
    me = user_id(console, email_of("owner"))
    assert post_form(owner, f"/users/{me}/disable", {}, token_from="/users").status_code == 409
    promoted = console.cli("users", "role", "gone@shop.example", "--role", "manager")
    assert promoted.exit_code == 0 and "gone@shop.example is now manager" in promoted.output


def test_two_owners_disabling_each_other_at_once_leave_one_owner(any_shop: Shop) -> None:  # noqa: F811
    first = sign_in(any_shop, "owner")
    second = any_shop.app.test_client()
    add_user(any_shop, "owner", "second@shop.example")
    second.post("/login", data={"email": "second@shop.example", "password": PASSWORD,
                                "csrf_token": csrf_token(second)})
    ids = {email: user_id(any_shop, email) for email in (email_of("owner"), "second@shop.example")}
    moves = [(first, ids["second@shop.example"]), (second, ids[email_of("owner")])]
    tokens = [csrf_token(client, "/users") for client, _ in moves]
    barrier = threading.Barrier(len(moves))
    answers: list[int] = []

    def disable(client: FlaskClient, target: int, token: str) -> None:
        barrier.wait()
        answers.append(client.post(f"/users/{target}/disable", data={"csrf_token": token}).status_code)

    threads = [threading.Thread(target=disable, args=(client, target, token))
               for (client, target), token in zip(moves, tokens, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == 2
    with any_shop.rt.transaction() as session:
        active = session.scalars(select(StaffUser.email).where(StaffUser.role == "owner",
                                                               StaffUser.disabled_at.is_(None))).all()
    assert len(active) == 1, (active, answers)
    assert [action for _, action, _, _ in log(any_shop)] == ["user_disable"]


@pytest.mark.parametrize("role", ["manager", "cashier"])
def test_only_the_owner_may_open_users_or_post_its_forms(console: Shop, role: str) -> None:
    add_user(console, "owner")
    client = sign_in(console, role)
    owner_id = user_id(console, email_of("owner"))
    with console.rt.transaction() as session:
        key_id = session.scalars(select(ApiKey.id)).first()
    refused = client.get("/users")
    assert refused.status_code == 403
    assert f"Your account ({role}) cannot open this page." in refused.get_data(as_text=True)
    token = csrf_token(client, "/account")
    posts = {
        "/users/add": {"email": "x@shop.example", "role": "owner", "language": "en", "password": PASSWORD},
        f"/users/{owner_id}/role": {"role": "cashier"},
        f"/users/{owner_id}/disable": {},
        f"/users/{owner_id}/enable": {},
        f"/users/{owner_id}/password": {"password": NEW_PASSWORD},
        "/users/keys": {"name": "mine"},
        f"/users/keys/{key_id}/revoke": {},
    }
    for path, data in posts.items():
        response = client.post(path, data={**data, "csrf_token": token})
        assert response.status_code == 403, path
        assert "Not for your role" in response.get_data(as_text=True)
    owner = user(console, email_of("owner"))
    assert (owner.role, owner.disabled_at) == ("owner", None) and check_password_hash(owner.password_hash, PASSWORD)
    with console.rt.transaction() as session:
        assert session.scalars(select(ApiKey.name)).all() == ["till"]
        assert session.scalar(select(ApiKey.revoked_at)) is None
        assert session.scalar(select(StaffUser.id).where(StaffUser.email == "x@shop.example")) is None
    assert log(console) == []


def test_signed_out_visitors_are_sent_to_sign_in(console: Shop) -> None:
    client = console.app.test_client()
    for path in ("/users", "/account"):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=")
    refused = client.post("/users/add", data={"email": "x@shop.example", "role": "owner", "language": "en",
                                              "password": PASSWORD, "csrf_token": csrf_token(client)})
    assert refused.status_code == 302
    with console.rt.transaction() as session:
        assert session.scalar(select(StaffUser.id)) is None


# --- API keys ----------------------------------------------------------------------------


def test_a_new_key_is_shown_once_works_and_stops_when_revoked(console: Shop) -> None:
    owner = sign_in(console, "owner")
    created = post_form(owner, "/users/keys", {"name": "website"}, token_from="/users")
    assert created.status_code == 200
    shown = created.get_data(as_text=True)
    assert "Copy it now: it is shown only this once" in shown
    key = shown.split('id="new-key" class="key-text" readonly value="', 1)[1].split('"', 1)[0]
    assert key.startswith("lk_") and len(key) > 40
    assert console.get(f"/members/{BEN}", headers={"Authorization": f"Bearer {key}"}).status_code == 200

    listed = page(owner)
    assert key not in listed and key[:8] in listed and "website" in listed
    assert key not in page(owner, "/activity")
    with console.rt.transaction() as session:
        row = session.scalars(select(ApiKey).where(ApiKey.name == "website")).one()
        assert key not in (row.key_hash, row.prefix) and row.last_used_at is not None
        key_id = row.id

    revoked = post_form(owner, f"/users/keys/{key_id}/revoke", {}, token_from="/users")
    assert revoked.status_code == 302
    after = page(owner)
    assert "no longer works" in after and "revoked" in after and key not in after
    assert console.get(f"/members/{BEN}", headers={"Authorization": f"Bearer {key}"}).status_code == 401
    assert console.get(f"/members/{BEN}").status_code == 200  # the other key still works
    again = post_form(owner, f"/users/keys/{key_id}/revoke", {}, token_from="/users")
    assert again.status_code == 409 and "This key was already revoked." in again.get_data(as_text=True)

    entries = log(console)
    assert [(action, target) for _, action, target, _ in entries] == [("apikey_create", "website"),
                                                                     ("apikey_revoke", "website")]
    assert key not in str(entries) and entries[0][3] == {"prefix": key[:8]}


def test_a_key_needs_a_name(console: Shop) -> None:
    owner = sign_in(console, "owner")
    response = post_form(owner, "/users/keys", {"name": "  "}, token_from="/users")
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert "A key name is 1 to 100 printable characters." in text and 'id="new-key"' not in text
    with console.rt.transaction() as session:
        assert session.scalars(select(ApiKey.name)).all() == ["till"]


# --- /account ----------------------------------------------------------------------------


def test_everyone_has_my_account_last_in_the_menu(console: Shop) -> None:
    for role in ("owner", "manager", "cashier"):
        client = sign_in(console, role)
        text = page(client, "/account")
        nav = text.split("<nav", 1)[1].split("</nav>", 1)[0]
        links = [part.split('"', 1)[0] for part in nav.split('href="')[1:]]
        assert links[-1] == "/account", (role, links)
        assert ("/users" in links) == (role == "owner")


def test_a_language_change_makes_the_console_speak_it(console: Shop) -> None:
    console.rt.clock = lambda: datetime(2026, 12, 2, 18, 0, tzinfo=UTC)
    cashier = sign_in(console, "cashier")
    before = page(cashier, "/account")
    assert '<html lang="en">' in before and "Dec 2, 2026" in before
    response = on_account(cashier, "/account/language", {"language": "es"})
    assert response.status_code == 302 and response.headers["Location"] == "/account"
    after = page(cashier, "/account")
    assert '<html lang="es">' in after
    assert "2 dic 2026" in after  # dates in Spanish, by Babel
    assert user(console, email_of("cashier")).language == "es"
    assert on_account(cashier, "/account/language", {"language": "fr"}).status_code == 422
    assert user(console, email_of("cashier")).language == "es"
    assert [(action, details) for _, action, _, details in log(console)] == [("account_language", {"language": "es"})]


def test_changing_ones_own_password_needs_the_current_one(console: Shop) -> None:
    cashier = sign_in(console, "cashier")
    elsewhere = console.app.test_client()
    elsewhere.post("/login", data={"email": email_of("cashier"), "password": PASSWORD,
                                   "csrf_token": csrf_token(elsewhere)})
    wrong = on_account(cashier, "/account/password", {"current": "not my password", "new": NEW_PASSWORD,
                                                     "again": NEW_PASSWORD})
    assert wrong.status_code == 403 and "Your current password is not right." in wrong.get_data(as_text=True)
    differ = on_account(cashier, "/account/password", {"current": PASSWORD, "new": NEW_PASSWORD,
                                                      "again": NEW_PASSWORD + "!"})
    assert differ.status_code == 422 and "not the same" in differ.get_data(as_text=True)
    short = on_account(cashier, "/account/password", {"current": PASSWORD, "new": "short", "again": "short"})
    assert short.status_code == 422 and "10 to 200 characters" in short.get_data(as_text=True)
    assert check_password_hash(user(console, email_of("cashier")).password_hash, PASSWORD)

    done = on_account(cashier, "/account/password", {"current": PASSWORD, "new": NEW_PASSWORD, "again": NEW_PASSWORD})
    assert done.status_code == 302
    assert "Your password is changed." in page(cashier, "/account")  # this session goes on
    assert elsewhere.get("/account").status_code == 302  # the other one ended
    assert signs_in(console, email_of("cashier"), NEW_PASSWORD) == 302
    assert NEW_PASSWORD not in str(log(console)) and PASSWORD not in str(log(console))


def test_guessing_the_current_password_is_throttled(console: Shop) -> None:
    cashier = sign_in(console, "cashier")
    for _ in range(5):
        assert on_account(cashier, "/account/password", {"current": "guess guess guess", "new": NEW_PASSWORD,
                                                        "again": NEW_PASSWORD}).status_code == 403
    late = on_account(cashier, "/account/password", {"current": PASSWORD, "new": NEW_PASSWORD, "again": NEW_PASSWORD})
    assert late.status_code == 429 and "Too many attempts" in late.get_data(as_text=True)
    assert check_password_hash(user(console, email_of("cashier")).password_hash, PASSWORD)


def test_ones_own_phone_is_kept_in_e164(console: Shop) -> None:
    manager = sign_in(console, "manager")
    response = on_account(manager, "/account/phone", {"phone": "(212) 555-0147"})  # the demo is in New York
    assert response.status_code == 302
    assert user(console, email_of("manager")).phone == "+12125550147"
    assert 'value="+12125550147"' in page(manager, "/account")
    bad = on_account(manager, "/account/phone", {"phone": "call me"})
    assert bad.status_code == 422 and "This is not a phone number" in bad.get_data(as_text=True)
    assert user(console, email_of("manager")).phone == "+12125550147"
    assert on_account(manager, "/account/phone", {"phone": ""}).status_code == 302
    assert user(console, email_of("manager")).phone is None
    assert [details for _, action, _, details in log(console)] == [{"phone": "set"}, {"phone": "removed"}]
