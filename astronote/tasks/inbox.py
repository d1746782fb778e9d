"""After a keyword: confirm it by SMS (rate-limited) and tell Shopify about consent changes."""

from __future__ import annotations

from astronote.extensions import db
from astronote.models import Contact, InboundMessage, Shop
from astronote.services.messaging import inbound, keywords
from astronote.services.sending import single as single_send
from astronote.services.shopify import consent_writeback
from astronote.tasks import app_task, enqueue_safely
from astronote.tasks.campaigns import send_single
from astronote.tasks.shopify import push_consent


@app_task(retries=3, retry_delay=10)
def after_keyword(inbound_id: int, action: str, word: str) -> None:
    message = db.session.get(InboundMessage, inbound_id)
    if message is None or message.contact_id is None:
        return
    contact = db.session.get(Contact, message.contact_id)
    shop = db.session.get(Shop, message.shop_id)
    if action in ("stop", "start") and consent_writeback.needs_push(contact):
        enqueue_safely(push_consent, contact.id)
    if not inbound.confirmation_due(shop.id, contact.id, word):
        return
    reply = single_send.queue_single(
        shop, contact, keywords.confirmation(shop, action), f"{single_send.SYSTEM_PREFIX}{word}"
    )
    db.session.commit()
    enqueue_safely(send_single, reply.id)
