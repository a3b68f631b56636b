"""Phone numbers: parsing to E.164 (phonenumbers) and masking for logs.

A number typed without its +country code (``5550001111``) is read in the program's country:
``[program] country`` in the program file, or else the country of its time zone.
"""
from __future__ import annotations

import re

import phonenumbers
from babel.core import get_global

from rewards.errors import InvalidInput


def parse_phone(text: str, default_region: str | None = None) -> str:
    """E.164 form of ``text``; numbers without +country need ``default_region`` (e.g. "US")."""
    raw = text.strip()
    if raw.startswith("whatsapp:"):
        raw = raw[len("whatsapp:"):]
    try:
        number = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException:
        example = f"like +15550001111 or, in {default_region}, without it" if default_region else "like +15550001111"
        raise InvalidInput(
            f'"{text}" is not a phone number: write it with its country code, {example}',
            reason="bad_phone",
        ) from None
    # "Possible" (right length for the country), not "valid": test and new ranges must work.
    if not phonenumbers.is_possible_number(number):
        raise InvalidInput(f'"{text}" has the wrong number of digits for its country', reason="bad_phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def looks_like_phone(text: str, region: str | None = None) -> bool:
    """A phone number rather than a member code: +country and digits, or, with ``region``,
    a number as dialled there (digits, spaces, dashes, dots, parentheses)."""
    stripped = text.strip()
    digits = sum(ch.isdigit() for ch in stripped)
    if stripped.startswith("+"):
        return digits >= 7
    return region is not None and digits >= 7 and _DIALLED.fullmatch(stripped) is not None


_DIALLED = re.compile(r"[0-9(][0-9 ().-]*")


def is_country(code: str) -> bool:
    """An ISO 3166 alpha-2 code phone numbers are known for ("US", "ES")."""
    return code in phonenumbers.SUPPORTED_REGIONS


def country_of_zone(zone: str) -> str | None:
    """The country of an IANA time zone ("America/New_York" -> "US"), from the CLDR data
    Babel ships (each zone's territory; old names such as "US/Eastern" through its aliases).
    None for zones of no country (UTC) or of a country with no phone numbering."""
    canonical = get_global("zone_aliases").get(zone, zone)
    country = get_global("zone_territories").get(canonical)
    return country if country is not None and is_country(country) else None


def mask(phone: str | None) -> str:
    """For logs: keep the country prefix and the last two digits only."""
    if not phone:
        return "-"
    if len(phone) <= 6:
        return "***"
    return phone[:3] + "*" * (len(phone) - 5) + phone[-2:]
