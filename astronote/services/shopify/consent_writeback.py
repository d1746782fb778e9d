"""Write an opt-out (or opt-in) made in Astronote back to the Shopify customer."""

from __future__ import annotations

import logging

from astronote.extensions import db
from astronote.integrations.shopify.admin_api import update_sms_consent
from astronote.models import ConsentState, Contact, Shop
from astronote.services.shopify import tokens as shop_tokens

log = logging.getLogger("astronote.shopify")
# NOT_SUBSCRIBED cannot be written to Shopify (read-only as input).
WRITABLE = {
    ConsentState.SUBSCRIBED.value: "SUBSCRIBED",
    ConsentState.UNSUBSCRIBED.value: "UNSUBSCRIBED",
    ConsentState.PENDING.value: "PENDING",
}


def needs_push(contact: Contact) -> bool:
    return contact.shopify_customer_id is not None and contact.consent_state in WRITABLE


def push(contact_id: int) -> str:
    """Send the contact's current consent to Shopify; returns what happened."""
    contact = db.session.get(Contact, contact_id)
    if contact is None or not needs_push(contact):
        return "skipped"
    shop = db.session.get(Shop, contact.shop_id)
    if not shop.is_active or not shop.access_token_enc:
        return "skipped: shop not connected"
    gid = f"gid://shopify/Customer/{contact.shopify_customer_id}"
    state = WRITABLE[contact.consent_state]
    shop_tokens.with_admin_api(
        shop,
        lambda client, token: update_sms_consent(
            client,
            shop.shop_domain,
            token,
            gid,
            state,
            "SINGLE_OPT_IN" if state == "SUBSCRIBED" else None,
            contact.consent_updated_at,
        ),
    )
    log.info("consent %s written to Shopify for contact %s", state, contact.id)
    return "pushed"
