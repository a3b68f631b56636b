"""Code texts: unguessable redemption codes and short membership codes.

Crockford's base32 (no I, L, O, U) so a code read aloud or typed from a screen survives:
``normalize`` maps the look-alikes back (O->0, I/L->1) and drops spaces and dashes.
A redemption code has 13 symbols = 65 random bits from ``secrets``.
"""
from __future__ import annotations

import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
REDEMPTION_LENGTH = 13  # 13 * 5 = 65 bits
MEMBER_LENGTH = 8
_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})


def random_code(length: int) -> str:
    # One draw of 5 bits a symbol, split into symbols: the same uniform choice as a
    # secrets.choice per symbol, with one call to the system's random source instead of
    # many (a coupon campaign issues 100,000 codes at once).
    bits = secrets.randbits(5 * length)
    return "".join(ALPHABET[(bits >> (5 * i)) & 31] for i in range(length))


def new_redemption_code() -> str:
    return random_code(REDEMPTION_LENGTH)


def new_member_code() -> str:
    return random_code(MEMBER_LENGTH)


def normalize(text: str) -> str:
    """The canonical form of a typed or scanned code; "" if it cannot be one."""
    cleaned = "".join(ch for ch in text.upper() if ch not in " -_\t").translate(_LOOKALIKES)
    if not cleaned or any(ch not in ALPHABET for ch in cleaned):
        return ""
    return cleaned


def display(code: str) -> str:
    """Groups of four for reading: ``K7QM-3XPA-9RT2W``."""
    groups = [code[i : i + 4] for i in range(0, len(code), 4)]
    if len(groups) > 1 and len(groups[-1]) == 1:
        groups[-2:] = [groups[-2] + groups[-1]]
    return "-".join(groups)
