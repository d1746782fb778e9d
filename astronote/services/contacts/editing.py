"""Contacts: create, edit, delete and consent changes, always within one shop."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import delete, select

from astronote.errors import ValidationFailed
from astronote.extensions import db
from astronote.models import (
    ConsentEvent,
    ConsentSource,
    ConsentState,
    Contact,
    ContactTag,
    Shop,
    now_utc,
)
from astronote.services.automations import triggers as automation_triggers
from astronote.services.contacts import counts as contact_counts
from astronote.services.contacts import fields
from astronote.services.contacts.phones import InvalidPhone, normalize_phone
from astronote.services.reports import hooks as report_hooks
from astronote.services.scoped import get_owned


@dataclass
class ContactInput:
    phone: str
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    gender: str | None = None
    birth_date: date | None = None
    consent_state: str = ConsentState.NOT_SUBSCRIBED.value
    tags: list[str] = field(default_factory=list)
    consent_attested: bool = False  # the merchant ticked "this person agreed to SMS marketing"


FORM_FIELDS = ("first_name", "last_name", "email", "gender", "birth_date", "tags")
CHECKED = {"on", "1", "true", "yes"}
ATTESTATION = "merchant attested the contact gave express consent to SMS marketing"
ATTESTATION_REQUIRED = (
    "Tick the box to confirm this person agreed to receive SMS marketing from your store."
)


def parse_form(form: dict, region: str, current_state: str | None = None) -> ContactInput:
    """Validate a submitted contact form; raise ValidationFailed per field.

    Subscribing someone by hand (a new contact, or one not subscribed yet, whose
    `current_state` differs) needs the merchant's explicit attestation: without
    it there is no evidence of consent to text them.
    """
    errors: dict[str, str] = {}
    values: dict = {}
    try:
        values["phone"] = normalize_phone(form.get("phone"), region)
    except InvalidPhone as exc:
        errors["phone"] = str(exc)
    for name in FORM_FIELDS:
        try:
            values[name] = fields.CLEANERS[name](form.get(name))
        except fields.FieldError as exc:
            errors[name] = str(exc)
    state = form.get("consent_state") or ConsentState.NOT_SUBSCRIBED.value
    if state not in {s.value for s in ConsentState}:
        errors["consent_state"] = "Choose a consent state from the list."
    attested = (form.get("consent_attested") or "").strip().lower() in CHECKED
    subscribing = state == ConsentState.SUBSCRIBED.value and current_state != state
    if subscribing and not attested:
        errors["consent_attested"] = ATTESTATION_REQUIRED
    if errors:
        raise ValidationFailed(errors)
    return ContactInput(consent_state=state, consent_attested=attested, **values)


def _consent_evidence(data: ContactInput, evidence: str) -> str:
    if data.consent_attested and data.consent_state == ConsentState.SUBSCRIBED.value:
        return f"{evidence}; {ATTESTATION}"
    return evidence


def get_contact(shop: Shop, contact_id: int) -> Contact:
    """Load a contact of this shop; another shop's id is simply not found."""
    return get_owned(Contact, shop.id, contact_id, "contact")


def by_phone(shop: Shop, phone: str) -> Contact | None:
    """The shop's contact with this E.164 number, if any (unique per shop)."""
    query = select(Contact).filter_by(shop_id=shop.id, phone=phone)
    return db.session.execute(query).scalar_one_or_none()


def _ensure_phone_free(shop: Shop, phone: str, exclude_id: int | None = None) -> None:
    query = select(Contact.id).filter_by(shop_id=shop.id, phone=phone)
    existing = db.session.execute(query).scalar_one_or_none()
    if existing is not None and existing != exclude_id:
        raise ValidationFailed({"phone": f"Another contact already has the number {phone}."})


def create_contact(shop: Shop, data: ContactInput, evidence: str) -> Contact:
    _ensure_phone_free(shop, data.phone)
    contact = Contact(shop_id=shop.id, phone=data.phone, consent_state=data.consent_state)
    _apply(contact, data)
    db.session.add(contact)
    db.session.flush()
    _set_tags(shop, contact, data.tags)
    evidence = _consent_evidence(data, evidence)
    record_consent(contact, data.consent_state, ConsentSource.MERCHANT, evidence, force=True)
    contact_counts.adjust(shop.id, Counter({contact.consent_state: 1}))
    return contact


def update_contact(shop: Shop, contact: Contact, data: ContactInput, evidence: str) -> bool:
    """Apply the form; returns whether consent changed (Shopify may need to hear of it)."""
    _ensure_phone_free(shop, data.phone, exclude_id=contact.id)
    contact.phone = data.phone
    _apply(contact, data)
    _set_tags(shop, contact, data.tags)
    evidence = _consent_evidence(data, evidence)
    return record_consent(contact, data.consent_state, ConsentSource.MERCHANT, evidence)


def delete_contact(shop: Shop, contact: Contact) -> None:
    contact_counts.adjust(shop.id, Counter({contact.consent_state: -1}))
    db.session.delete(contact)


def record_consent(
    contact: Contact, state: str, source: ConsentSource, evidence: str, force: bool = False
) -> bool:
    """Change consent and append to its history; returns whether anything changed."""
    previous = contact.consent_state
    if previous == state and not force:
        return False
    now = now_utc()
    contact.consent_state = state
    contact.consent_source = source.value
    contact.consent_updated_at = now
    db.session.flush()
    db.session.add(
        ConsentEvent(
            shop_id=contact.shop_id,
            contact_id=contact.id,
            state=state,
            source=source.value,
            evidence=evidence[:500],
            occurred_at=now,
        )
    )
    if previous != state and not force:
        contact_counts.adjust(contact.shop_id, Counter({previous: -1, state: 1}))
    report_hooks.consent_changed(contact, previous, state, force)
    # A new contact (force) arrives already subscribed; the welcome's key makes it once.
    if state == ConsentState.SUBSCRIBED.value and (previous != state or force):
        automation_triggers.welcome(contact.shop_id, contact.id)
    return True


def consent_history(contact: Contact) -> list[ConsentEvent]:
    query = (
        select(ConsentEvent)
        .filter_by(contact_id=contact.id, shop_id=contact.shop_id)
        .order_by(ConsentEvent.occurred_at.desc(), ConsentEvent.id.desc())
    )
    return list(db.session.execute(query).scalars())


def tags_of(contact: Contact) -> list[str]:
    query = select(ContactTag.tag).filter_by(contact_id=contact.id).order_by(ContactTag.tag)
    return list(db.session.execute(query).scalars())


def _apply(contact: Contact, data: ContactInput) -> None:
    contact.first_name = data.first_name
    contact.last_name = data.last_name
    contact.email = data.email
    contact.gender = data.gender
    contact.birth_date = data.birth_date


def _set_tags(shop: Shop, contact: Contact, tags: list[str]) -> None:
    db.session.execute(delete(ContactTag).filter_by(contact_id=contact.id))
    if tags:
        db.session.execute(
            ContactTag.__table__.insert(),
            [{"contact_id": contact.id, "shop_id": shop.id, "tag": t} for t in tags],
        )
