"""Inbound SMS: route to exactly one shop (or keep it unrouted), then act on keywords.

Routing never guesses: the number it was sent to, else the shop that last
messaged that phone, else nobody (stored as unrouted for operators).
"""

from __future__ import annotations

import contextlib
import json
from datetime import timedelta

from sqlalchemy import select

from astronote.extensions import db
from astronote.integrations.mitto.callbacks import InboundSms
from astronote.models import (
    ConsentSource,
    ConsentState,
    Contact,
    InboundMessage,
    Message,
    Shop,
    ShopSenderNumber,
    now_utc,
)
from astronote.services.contacts import editing as contacts
from astronote.services.contacts.phones import InvalidPhone, normalize_phone
from astronote.services.messaging import keywords

CONFIRM_EVERY = timedelta(hours=24)


def _e164(raw: str | None) -> str | None:
    """Provider numbers usually come as international digits, with or without "+";
    bare digits that are no valid international number are read as a US number."""
    text = (raw or "").strip()
    tries = ["+" + text, text] if text.isdigit() and not text.startswith("0") else [text]
    for candidate in filter(None, tries):
        with contextlib.suppress(InvalidPhone):
            return normalize_phone(candidate, "US")
    return None


def route(sms: InboundSms) -> tuple[int | None, str]:
    """(shop_id, how) for an inbound message."""
    to = (sms.to or "").strip()
    for candidate in filter(None, {to, _e164(to)}):
        owner = db.session.get(ShopSenderNumber, candidate)
        if owner is not None:
            return owner.shop_id, "number"
    sender = _e164(sms.from_number)
    if sender:
        last = db.session.execute(
            select(Message.shop_id)
            .where(Message.phone == sender, Message.sent_at.is_not(None))
            .order_by(Message.sent_at.desc())
            .limit(1)
        ).scalar_one_or_none()
        if last is not None:
            return last, "last_sender"
    return None, "unrouted"


def record(sms: InboundSms) -> InboundMessage | None:
    """Store the message once (by provider id); None for a duplicate delivery."""
    if sms.message_id:
        seen = db.session.execute(
            select(InboundMessage.id).filter_by(provider_message_id=sms.message_id)
        ).scalar_one_or_none()
        if seen is not None:
            return None
    shop_id, how = route(sms)
    phone = _e164(sms.from_number)
    contact = None
    if shop_id is not None and phone:
        contact = db.session.execute(
            select(Contact).filter_by(shop_id=shop_id, phone=phone)
        ).scalar_one_or_none()
    message = InboundMessage(
        shop_id=shop_id,
        contact_id=contact.id if contact else None,
        provider_message_id=sms.message_id,
        from_number=(phone or sms.from_number or "")[:32],
        to_number=(sms.to or "")[:32] or None,
        text=(sms.text or "")[:2000],
        routed_by=how,
        payload=json.dumps(sms.raw, default=str),
        received_at=sms.received_at or now_utc(),
    )
    db.session.add(message)
    db.session.flush()
    return message


def act_on_keyword(message: InboundMessage) -> tuple[str, str] | None:
    """Apply STOP/START/HELP; returns (action, keyword) when a reply should be sent."""
    if message.shop_id is None or message.contact_id is None:
        return None
    shop = db.session.get(Shop, message.shop_id)
    found = keywords.classify(shop, message.text)
    if found is None:
        return None
    action, word = found
    message.keyword = word
    contact = db.session.get(Contact, message.contact_id)
    evidence = f"SMS keyword {word} (inbound message #{message.id})"
    if action == "stop":
        contacts.record_consent(
            contact, ConsentState.UNSUBSCRIBED.value, ConsentSource.KEYWORD, evidence
        )
    elif action == "start":
        contacts.record_consent(
            contact, ConsentState.SUBSCRIBED.value, ConsentSource.KEYWORD, evidence
        )
    return found


def confirmation_due(shop_id: int, contact_id: int, word: str) -> bool:
    """At most one confirmation per contact and keyword per 24 hours."""
    since = now_utc() - CONFIRM_EVERY
    sent = db.session.execute(
        select(Message.id)
        .where(
            Message.shop_id == shop_id,
            Message.contact_id == contact_id,
            Message.kind == f"kw:{word}"[:16],
            Message.created_at >= since,
        )
        .limit(1)
    ).scalar_one_or_none()
    return sent is None
