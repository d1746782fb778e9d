"""Storefront opt-in and contact form: validated, consent recorded with its evidence."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import timedelta

from sqlalchemy import or_, select, update

from astronote.errors import NotFound, ValidationFailed
from astronote.extensions import db
from astronote.models import (
    ConsentSource,
    ConsentState,
    Contact,
    Message,
    Shop,
    StorefrontSubmission,
    now_utc,
)
from astronote.services.contacts import counts as contact_counts
from astronote.services.contacts import editing as contacts
from astronote.services.contacts.fields import FieldError, clean_email, clean_name
from astronote.services.contacts.phones import InvalidPhone, normalize_phone
from astronote.services.sending import single as single_send

TRUE_WORDS = ("true", "1", "yes", "on")
CONFIRM_TEXT = "{shop}: Reply YES to confirm you want SMS offers. Msg & data rates may apply."
# One confirmation SMS per number per pending period: repeated sign-ups within it send none.
PENDING_PERIOD = timedelta(hours=24)
TEXT_FIELDS = ("shop", "phone", "first_name", "last_name", "email", "name", "message", "source")


class InvalidPayload(ValueError):
    """The request body is not a JSON object (or a form)."""


def read_payload(body) -> dict:
    """Check a storefront body's shape: an object whose known fields are strings (consent
    may also be a boolean). Raises InvalidPayload or ValidationFailed, naming the fields."""
    if not isinstance(body, Mapping):
        raise InvalidPayload('Send a JSON object or a form, such as {"shop": ..., "phone": ...}.')
    errors = {
        name: "Must be text."
        for name in TEXT_FIELDS
        if body.get(name) is not None and not isinstance(body.get(name), str)
    }
    consent = body.get("consent")
    if consent is not None and not isinstance(consent, str | bool):
        errors["consent"] = 'Must be true, false or text such as "yes".'
    if errors:
        raise ValidationFailed(errors)
    return {name: body.get(name) for name in (*TEXT_FIELDS, "consent")}


def active_shop(domain: str | None) -> Shop:
    shop = db.session.execute(
        select(Shop).filter_by(shop_domain=(domain or "").strip().lower(), is_active=True)
    ).scalar_one_or_none()
    if shop is None:
        raise NotFound("Unknown shop.")
    return shop


def _clean(form, shop: Shop, errors: dict) -> dict:
    values = {}
    try:
        values["phone"] = normalize_phone(form.get("phone"), shop.default_region)
    except InvalidPhone as exc:
        errors["phone"] = str(exc)
    for name, clean in (
        ("first_name", lambda v: clean_name(v, "First name")),
        ("last_name", lambda v: clean_name(v, "Last name")),
        ("email", clean_email),
    ):
        try:
            values[name] = clean(form.get(name))
        except FieldError as exc:
            errors[name] = str(exc)
    return values


def opt_in(shop: Shop, form, evidence: str) -> tuple[Contact, bool]:
    """Record a storefront opt-in; returns (contact, needs_confirmation). Caller commits."""
    errors: dict[str, str] = {}
    if str(form.get("consent", "")).lower() not in TRUE_WORDS:
        errors["consent"] = "Tick the box to agree to receive SMS marketing."
    values = _clean(form, shop, errors)
    if errors:
        raise ValidationFailed(errors)
    contact = db.session.execute(
        select(Contact).filter_by(shop_id=shop.id, phone=values["phone"])
    ).scalar_one_or_none()
    if contact is None:
        contact = Contact(
            shop_id=shop.id, phone=values["phone"], consent_state=ConsentState.NOT_SUBSCRIBED.value
        )
        db.session.add(contact)
        db.session.flush()
        contact_counts.adjust(shop.id, Counter({contact.consent_state: 1}))
    for name in ("first_name", "last_name", "email"):
        setattr(contact, name, values.get(name) or getattr(contact, name))
    if contact.consent_state == ConsentState.SUBSCRIBED.value:
        return contact, False
    if not shop.double_opt_in:
        state = ConsentState.SUBSCRIBED.value
        contacts.record_consent(contact, state, ConsentSource.STOREFRONT_FORM, evidence)
        return contact, False
    if not _start_pending_period(contact):
        return contact, False  # pending, confirmation already sent in this period
    pending = ConsentState.PENDING.value
    renewed = contact.consent_state == pending
    contacts.record_consent(contact, pending, ConsentSource.STOREFRONT_FORM, evidence, renewed)
    return contact, True


def _start_pending_period(contact: Contact) -> bool:
    """Claim a new pending period for this contact, unless one is running.

    One conditional UPDATE: of concurrent sign-ups for the same number (other
    processes included) exactly one wins, on PostgreSQL and SQLite alike.
    """
    now = now_utc()
    claimed = db.session.execute(
        update(Contact)
        .where(
            Contact.id == contact.id,
            Contact.shop_id == contact.shop_id,
            or_(
                Contact.consent_state != ConsentState.PENDING.value,
                Contact.consent_updated_at.is_(None),
                Contact.consent_updated_at < now - PENDING_PERIOD,
            ),
        )
        .values(consent_updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return claimed.rowcount == 1


def queue_confirmation(shop: Shop, contact: Contact) -> Message:
    """The double opt-in confirmation SMS, reserved and queued; caller commits, enqueues."""
    text = CONFIRM_TEXT.replace("{shop}", shop.display_name)
    return single_send.queue_single(shop, contact, text, f"{single_send.SYSTEM_PREFIX}CONFIRM")


def contact_form(shop: Shop, form, ip: str | None) -> StorefrontSubmission:
    errors: dict[str, str] = {}
    values = _clean(form, shop, errors) if form.get("phone") else {}
    if not form.get("phone"):
        try:
            values["email"] = clean_email(form.get("email"))
        except FieldError as exc:
            errors["email"] = str(exc)
    message = " ".join(str(form.get("message") or "").split())
    if not 1 <= len(message) <= 2000:
        errors["message"] = "Write a message (up to 2000 characters)."
    if not (values.get("email") or values.get("phone")):
        errors.setdefault("email", "Give an email address or a phone number.")
    if errors:
        raise ValidationFailed(errors)
    name = clean_name(form.get("name"), "Name") if len(str(form.get("name") or "")) <= 100 else None
    submission = StorefrontSubmission(
        shop_id=shop.id,
        name=name,
        email=values.get("email"),
        phone=values.get("phone"),
        message=message,
        ip_address=ip,
    )
    db.session.add(submission)
    return submission
