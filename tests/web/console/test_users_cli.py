"""``loyalty users``: create, list, disable, enable, passwd, with one-line refusals."""
from __future__ import annotations

from conftest import PASSWORD
from sqlalchemy import select
from test_api import Shop
from werkzeug.security import check_password_hash

from rewards import staff
from rewards.models import StaffUser


def test_create_reads_the_password_from_standard_input_and_keeps_only_its_hash(console: Shop) -> None:
    result = console.cli("users", "create", "Ana@Shop.example", "--role", "manager", input=f"{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "ana@shop.example can now sign in as manager" in result.output
    with console.rt.transaction() as session:
        user = session.scalar(select(StaffUser))
        assert user is not None and user.email == "ana@shop.example" and user.role == "manager"
        assert PASSWORD not in user.password_hash and check_password_hash(user.password_hash, PASSWORD)
    listed = console.cli("users", "list")
    assert "ana@shop.example  manager  last sign-in never  active" in listed.output


def test_outside_the_tests_passwords_are_kept_as_scrypt_hashes(console: Shop, production_password_hashes: str) -> None:
    """The tests hash with one round of PBKDF2 (tests/conftest.py); the product with scrypt,
    a new password and a changed one alike, and a sign-in checks against it."""
    assert production_password_hashes == "scrypt"
    console.cli("users", "create", "ana@shop.example", "--role", "owner", input=f"{PASSWORD}\n")
    with console.rt.transaction() as session:
        created = session.scalar(select(StaffUser).where(StaffUser.email == "ana@shop.example"))
        assert created is not None and created.password_hash.startswith("scrypt:32768:8:1$")
    assert console.cli("users", "passwd", "ana@shop.example", input=f"{PASSWORD}!\n").exit_code == 0
    with console.rt.transaction() as session:
        changed = session.scalar(select(StaffUser).where(StaffUser.email == "ana@shop.example"))
        assert changed is not None and changed.password_hash.startswith("scrypt:32768:8:1$")
        assert staff.sign_in(session, console.program_id, "ana@shop.example", f"{PASSWORD}!", "127.0.0.1",
                             console.rt.clock()).user == changed


def test_create_refuses_clearly(console: Shop) -> None:
    short = console.cli("users", "create", "ana@shop.example", "--role", "owner", input="short\n")
    assert short.exit_code == 1 and "the password must be 10 to 200 characters long" in short.output
    bad = console.cli("users", "create", "ana", "--role", "owner", input=f"{PASSWORD}\n")
    assert bad.exit_code == 1 and '"ana" is not an email address' in bad.output
    role = console.cli("users", "create", "ana@shop.example", "--role", "boss", input=f"{PASSWORD}\n")
    assert role.exit_code == 2 and "'boss' is not one of 'owner', 'manager', 'cashier'" in role.output
    console.cli("users", "create", "ana@shop.example", "--role", "owner", input=f"{PASSWORD}\n")
    twice = console.cli("users", "create", "ANA@shop.example", "--role", "owner", input=f"{PASSWORD}\n")
    assert twice.exit_code == 1 and "ana@shop.example already has an account" in twice.output
    missing = console.cli("users", "disable", "nobody@shop.example")
    assert missing.exit_code == 1 and "there is no console user nobody@shop.example" in missing.output


def test_disable_then_enable(console: Shop) -> None:
    console.cli("users", "create", "ana@shop.example", "--role", "cashier", input=f"{PASSWORD}\n")
    assert console.cli("users", "disable", "ana@shop.example").exit_code == 0
    assert "disabled" in console.cli("users", "list").output
    assert console.cli("users", "enable", "ana@shop.example").exit_code == 0
    assert "active" in console.cli("users", "list").output
