"""Phone numbers: parsing to E.164 (phonenumbers) and masking for logs."""
from __future__ import annotations

import phonenumbers

from rewards.errors import InvalidInput


def parse_phone(text: str, default_region: str | None = None) -> str:
    """E.164 form of ``text``; numbers without +country need ``default_region`` (e.g. "US")."""
    raw = text.strip()
    if raw.startswith("whatsapp:"):
        raw = raw[len("whatsapp:"):]
    try:
        number = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException:
        raise InvalidInput(
            f'"{text}" is not a phone number: write it with its country code, like +15550001111',
            reason="bad_phone",
        ) from None
    # "Possible" (right length for the country), not "valid": test and new ranges must work.
    if not phonenumbers.is_possible_number(number):
        raise InvalidInput(f'"{text}" has the wrong number of digits for its country', reason="bad_phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def looks_like_phone(text: str) -> bool:
    stripped = text.strip()
    return stripped.startswith("+") and sum(ch.isdigit() for ch in stripped) >= 7


def mask(phone: str | None) -> str:
    """For logs: keep the country prefix and the last two digits only."""
    if not phone:
        return "-"
    if len(phone) <= 6:
        return "***"
    return phone[:3] + "*" * (len(phone) - 5) + phone[-2:]
