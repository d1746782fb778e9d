"""Parse and validate contact fields; shared by the form and the CSV import."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

from astronote.models import ConsentState, Gender

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
TAG = re.compile(r"^[\w][\w .:/-]{0,63}$", re.UNICODE)
TAG_SEPARATORS = re.compile(r"[,;|]")
MAX_NAME = 100
MAX_TAGS = 20
MAX_ORDERS = 2_147_483_647  # contacts.orders_count is an integer
MONEY = re.compile(r"^-?[0-9]{1,12}(?:\.[0-9]{1,2})?$")  # contacts.amount_spent: Numeric(14, 2)
# Shopify's "Accepts SMS Marketing": yes is a consent; no only says Shopify has none,
# which is not an opt-out, so it leaves the contact's consent as it is.
SMS_MARKETING_WORDS = {
    "yes": True,
    "true": True,
    "1": True,
    "no": False,
    "false": False,
    "0": False,
}

CONSENT_WORDS = {
    "subscribed": ConsentState.SUBSCRIBED,
    "opted_in": ConsentState.SUBSCRIBED,
    "optedin": ConsentState.SUBSCRIBED,
    "yes": ConsentState.SUBSCRIBED,
    "true": ConsentState.SUBSCRIBED,
    "1": ConsentState.SUBSCRIBED,
    "unsubscribed": ConsentState.UNSUBSCRIBED,
    "opted_out": ConsentState.UNSUBSCRIBED,
    "optedout": ConsentState.UNSUBSCRIBED,
    "no": ConsentState.UNSUBSCRIBED,
    "false": ConsentState.UNSUBSCRIBED,
    "0": ConsentState.UNSUBSCRIBED,
    "pending": ConsentState.PENDING,
    "not_subscribed": ConsentState.NOT_SUBSCRIBED,
    "unknown": ConsentState.NOT_SUBSCRIBED,
}
GENDER_WORDS = {
    "female": Gender.FEMALE,
    "f": Gender.FEMALE,
    "woman": Gender.FEMALE,
    "male": Gender.MALE,
    "m": Gender.MALE,
    "man": Gender.MALE,
    "other": Gender.OTHER,
}


class FieldError(ValueError):
    pass


def clean_name(value: str | None, label: str) -> str | None:
    text = " ".join((value or "").split())
    if len(text) > MAX_NAME:
        raise FieldError(f"{label} must be at most {MAX_NAME} characters.")
    return text or None


def clean_email(value: str | None) -> str | None:
    text = (value or "").strip().lower()
    if not text:
        return None
    if len(text) > 254 or not EMAIL.match(text):
        raise FieldError(f"{text!r} is not an email address.")
    return text


def clean_gender(value: str | None) -> str | None:
    text = (value or "").strip().lower()
    if not text or text in ("unspecified", "not specified", "-"):
        return None
    if text not in GENDER_WORDS:
        raise FieldError("Gender must be female, male or other.")
    return GENDER_WORDS[text].value


def clean_birth_date(value: str | None) -> date | None:
    text = (value or "").strip()
    if not text:
        return None
    try:
        born = date.fromisoformat(text)
    except ValueError:
        raise FieldError(f"Birth date {text!r} must be YYYY-MM-DD.") from None
    if born > date.today() or born.year < 1900:
        raise FieldError(f"Birth date {text} is not plausible.")
    return born


def clean_consent(value: str | None) -> str | None:
    text = (value or "").strip().lower().replace("-", "_").replace(" ", "_")
    if not text:
        return None
    if text not in CONSENT_WORDS:
        raise FieldError(f"Consent {value!r} must be subscribed, unsubscribed or pending.")
    return CONSENT_WORDS[text].value


def clean_sms_marketing(value: str | None) -> str | None:
    text = (value or "").strip().lower()
    if not text:
        return None
    if text not in SMS_MARKETING_WORDS:
        raise FieldError(f"Accepts SMS Marketing {value!r} must be yes or no.")
    return ConsentState.SUBSCRIBED.value if SMS_MARKETING_WORDS[text] else None


def clean_orders_count(value: str | None) -> int | None:
    text = (value or "").strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_ORDERS:
        raise FieldError(f"Total orders {text!r} must be a whole number.")
    return int(text)


def clean_amount_spent(value: str | None) -> Decimal | None:
    text = (value or "").strip()
    if not text:
        return None
    if not MONEY.match(text):
        raise FieldError(f"Total spent {text!r} must be an amount such as 1234.50.")
    return Decimal(text)


def clean_tags(value: str | None) -> list[str]:
    tags: list[str] = []
    if not value or value.isspace():
        return tags
    for part in TAG_SEPARATORS.split(value):
        tag = " ".join(part.split()).lower()
        if not tag:
            continue
        if not TAG.match(tag):
            raise FieldError(f"Tag {tag!r} may hold letters, digits, spaces and . : / - only.")
        if tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise FieldError(f"At most {MAX_TAGS} tags per contact.")
    return tags


# The cleaner of each contact field, shared by the form and the CSV import.
CLEANERS = {
    "first_name": lambda v: clean_name(v, "First name"),
    "last_name": lambda v: clean_name(v, "Last name"),
    "email": clean_email,
    "gender": clean_gender,
    "birth_date": clean_birth_date,
    "consent": clean_consent,
    "tags": clean_tags,
    "orders_count": clean_orders_count,
    "amount_spent": clean_amount_spent,
}
