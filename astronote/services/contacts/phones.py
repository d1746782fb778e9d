"""Phone numbers: parse anything a merchant or a CSV gives us into valid E.164."""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers
from phonenumbers import NumberParseException, PhoneMetadata, PhoneNumber, PhoneNumberFormat
from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE

MAX_RAW_LENGTH = 40
PUNCTUATION = str.maketrans("", "", " -().")
INTERNATIONAL = re.compile(r"\+[1-9][0-9]{6,14}")
NATIONAL = re.compile(r"[1-9][0-9]{1,16}")


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
    if fast := _plain_number(text, region):
        return fast
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException:
        raise InvalidPhone(f"{text!r} is not a phone number.") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone(
            f"{text!r} is not a valid number (read as {region} when no +country code is given)."
        )
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


@lru_cache(maxsize=512)
def _country(code: int) -> tuple[str, re.Pattern | None, re.Pattern | None] | None:
    """(main region, national-prefix pattern, IDD pattern) when the fast path serves `code`."""
    regions = COUNTRY_CODE_TO_REGION_CODE.get(code)
    metadata = PhoneMetadata.metadata_for_region(regions[0]) if regions else None
    if metadata is None or metadata.leading_digits is not None:
        return None  # non-geographic codes, or a main region that claims by leading digits
    prefix, idd = metadata.national_prefix_for_parsing, metadata.international_prefix
    return regions[0], re.compile(prefix) if prefix else None, re.compile(idd) if idd else None


@lru_cache(maxsize=256)
def _region_code(region: str) -> int | None:
    code = phonenumbers.country_code_for_valid_region(region) if region else 0
    country = _country(code) if code else None
    return code if country is not None and country[0] == region else None


def _plain_number(text: str, region: str) -> str | None:
    """The CSV import's hot path: E.164 for a plainly written valid number, else None.

    Parsing is skipped, validation is not. For '+digits' (or, in the shop's
    region, national digits) with only spaces, dashes, dots and brackets between
    them, this mirrors phonenumbers.parse: the shortest known country code, no
    national or international prefix to strip, no leading zero. Anything else,
    or an invalid number, answers None and takes the full parse, which also words
    the error.
    """
    compact = text.translate(PUNCTUATION)
    if compact[:1] == "+":
        if not INTERNATIONAL.fullmatch(compact):
            return None
        digits = compact[1:]
        for size in (1, 2, 3):  # the shortest known code, as phonenumbers reads it
            if (code := int(digits[:size])) in COUNTRY_CODE_TO_REGION_CODE:
                break
        else:
            return None
        national, country = digits[size:], _country(code)
    else:
        code = _region_code(region)
        if code is None or not NATIONAL.fullmatch(compact) or compact.startswith(str(code)):
            return None
        national, country = compact, _country(code)
        if country[2] is not None and country[2].match(national):
            return None  # starts like an international dialling prefix
    if country is None or national[:1] in ("", "0") or len(national) < 2:
        return None
    main_region, national_prefix, _ = country
    if national_prefix is not None and national_prefix.match(national):
        return None
    number = PhoneNumber(country_code=code, national_number=int(national))
    # Equals is_valid_number() because the main region comes first in its list and
    # claims numbers by type; numbers of other regions sharing the code go the full way.
    if phonenumbers.is_valid_number_for_region(number, main_region):
        return f"+{code}{national}"
    return None


def phone_search_prefix(term: str, region: str) -> tuple[str, bool]:
    """Map a typed search to (value, exact): a full E.164 number or a '+digits' prefix."""
    try:
        return normalize_phone(term, region), True
    except InvalidPhone:
        digits = "".join(ch for ch in term if ch.isdigit())
        return "+" + digits, False
