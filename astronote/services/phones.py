"""Phone numbers: parse anything a merchant or a CSV gives us into valid E.164."""

from __future__ import annotations

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat

MAX_RAW_LENGTH = 40


class InvalidPhone(ValueError):
    """Carries a message fit to show the merchant."""


def normalize_phone(raw: str | None, region: str) -> str:
    """Return the E.164 form of `raw`, read in `region` when it has no country code."""
    text = (raw or "").strip()
    if not text:
        raise InvalidPhone("Phone is required.")
    if len(text) > MAX_RAW_LENGTH:
        raise InvalidPhone("Phone is too long to be a phone number.")
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException:
        raise InvalidPhone(f"{text!r} is not a phone number.") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone(
            f"{text!r} is not a valid number (read as {region} when no +country code is given)."
        )
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def phone_search_prefix(term: str, region: str) -> tuple[str, bool]:
    """Map a typed search to (value, exact): a full E.164 number or a '+digits' prefix."""
    try:
        return normalize_phone(term, region), True
    except InvalidPhone:
        digits = "".join(ch for ch in term if ch.isdigit())
        return "+" + digits, False
