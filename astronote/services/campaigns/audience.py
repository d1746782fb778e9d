"""Who a campaign goes to: subscribed contacts, narrowed by the merchant's filters."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, func, or_, select

from astronote.errors import ValidationFailed
from astronote.extensions import db
from astronote.models import ConsentState, Contact, ContactTag, Gender, Shop
from astronote.services import links
from astronote.services.billing import pricing
from astronote.services.contacts.fields import FieldError, clean_tags
from astronote.services.discounts import codes as unique_codes
from astronote.services.messaging.rendering import segments_for

AGE_BANDS = {
    "18-24": (18, 24),
    "25-34": (25, 34),
    "35-44": (35, 44),
    "45-54": (45, 54),
    "55-64": (55, 64),
    "65+": (65, 130),
}


@dataclass
class Audience:
    tags: list[str] = field(default_factory=list)
    gender: str = ""
    age_bands: list[str] = field(default_factory=list)
    purchased: str = ""  # "", "yes", "no"
    last_order_after: date | None = None
    last_order_before: date | None = None

    def to_json(self) -> dict:
        data = asdict(self)
        for key in ("last_order_after", "last_order_before"):
            data[key] = data[key].isoformat() if data[key] else None
        return data

    @classmethod
    def from_json(cls, data: dict | None) -> Audience:
        data = dict(data or {})
        for key in ("last_order_after", "last_order_before"):
            data[key] = date.fromisoformat(data[key]) if data.get(key) else None
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def _date(value: str | None, label: str, errors: dict) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors[label] = "Use a date such as 2026-11-30."
        return None


def parse(form) -> Audience:
    """Audience from the compose form; raises ValidationFailed per field."""
    errors: dict[str, str] = {}
    try:
        tags = clean_tags(form.get("tags", ""))
    except FieldError as exc:
        errors["tags"], tags = str(exc), []
    gender = form.get("gender", "")
    if gender and gender not in {g.value for g in Gender}:
        errors["gender"] = "Choose a gender from the list."
    bands = [b for b in form.getlist("age_bands") if b] if hasattr(form, "getlist") else []
    if any(b not in AGE_BANDS for b in bands):
        errors["age_bands"] = "Choose age bands from the list."
    purchased = form.get("purchased", "")
    if purchased not in ("", "yes", "no"):
        errors["purchased"] = "Choose whether contacts have purchased."
    after = _date(form.get("last_order_after"), "last_order_after", errors)
    before = _date(form.get("last_order_before"), "last_order_before", errors)
    if errors:
        raise ValidationFailed(errors)
    return Audience(tags, gender, bands, purchased, after, before)


def _age_clause(bands: list[str], today: date):
    clauses = []
    for band in bands:
        low, high = AGE_BANDS[band]
        youngest = date(today.year - low, today.month, min(today.day, 28))
        oldest = date(today.year - high - 1, today.month, min(today.day, 28))
        clauses.append(and_(Contact.birth_date <= youngest, Contact.birth_date > oldest))
    return clauses


def _start_of(day: date, shop: Shop) -> datetime:
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(shop.timezone))


def recipients(shop: Shop, audience: Audience) -> Select:
    """SELECT of the contacts this audience reaches. Consent is not optional."""
    query = select(Contact).where(
        Contact.shop_id == shop.id, Contact.consent_state == ConsentState.SUBSCRIBED.value
    )
    if audience.tags:
        tagged = select(ContactTag.contact_id).where(
            ContactTag.shop_id == shop.id, ContactTag.tag.in_(audience.tags)
        )
        query = query.where(Contact.id.in_(tagged))
    if audience.gender:
        query = query.where(Contact.gender == audience.gender)
    if audience.age_bands:
        query = query.where(or_(*_age_clause(audience.age_bands, date.today())))
    if audience.purchased == "yes":
        query = query.where(Contact.orders_count > 0)
    elif audience.purchased == "no":
        query = query.where(Contact.orders_count == 0)
    # Dates are the merchant's calendar days, in the shop's time zone.
    if audience.last_order_after:
        query = query.where(Contact.last_order_at >= _start_of(audience.last_order_after, shop))
    if audience.last_order_before:
        query = query.where(Contact.last_order_at < _start_of(audience.last_order_before, shop))
    return query


def count(shop: Shop, audience: Audience) -> int:
    query = recipients(shop, audience).with_only_columns(func.count())
    return db.session.execute(query).scalar_one()


def cost(shop: Shop, audience: Audience, body: str, discount_code: str | None) -> tuple[int, int]:
    """(recipients, credits): segments after personalisation times each destination's
    price per segment (billing/pricing.py), summed over recipients.

    Names repeat, so rendering once per distinct (first, last) pair is exact and cheap.
    """
    groups = pricing.priced_groups(
        recipients(shop, audience), Contact.phone, Contact.first_name, Contact.last_name
    )
    return priced_total(shop, groups, body, discount_code)


def priced_total(
    shop: Shop, groups, body: str, discount_code: str | None, written: bool = False
) -> tuple[int, int]:
    """(people, credits) from `pricing.priced_groups` rows: one render per name pair.

    Priced as sent: each URL the send shortens counts as a short link of its length
    (`written`: the messages exist already, so no id is still to come)."""
    groups = list(groups)
    if "http" in body.lower():
        upcoming = 1 if written else sum(row[-1] for row in groups)
        personal = discount_code == unique_codes.SAMPLE  # each recipient's own code
        body = links.measure_body(shop, body, discount_code, upcoming, personal)
    people = credits = 0
    segments: dict[tuple, int] = {}
    for first, last, unit, n in groups:
        if (first, last) not in segments:
            segments[first, last] = segments_for(shop, body, first, last, discount_code)
        people += n
        credits += n * unit * segments[first, last]
    return people, credits
