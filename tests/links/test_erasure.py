# ruff: noqa: F811 -- the fixtures imported from the Shopify tests
"""customers/redact deletes the customer's clicks on short links (who clicked what, when);
another customer's clicks and the campaign's click totals stay."""

from __future__ import annotations

from sqlalchemy import func, select

from astronote.models import Campaign, Contact, LinkClick, Message, MessageClick
from astronote.services import links
from astronote.services.links import clicks, stats
from tests.links.conftest import UA_IPHONE
from tests.shopify.conftest import SHOP, deliver, installed, open_app, shopify  # noqa: F401

THEM, OTHER = "+12125550141", "+12125550142"


def _sent(db, shop, campaign, phone) -> Message:
    contact = Contact(shop_id=shop.id, phone=phone, consent_state="subscribed")
    db.session.add(contact)
    db.session.flush()
    message = Message(
        shop_id=shop.id, campaign_id=campaign.id, contact_id=contact.id, kind="campaign",
        phone=phone, status="delivered",
    )  # fmt: skip
    db.session.add(message)
    db.session.flush()
    return message


def _rows(db, model, message_id) -> int:
    query = select(func.count()).select_from(model).where(model.message_id == message_id)
    return db.session.execute(query).scalar_one()


def test_redact_deletes_their_clicks_and_keeps_the_totals(installed, deliver, client, db):
    body = "Sale! https://gamma.example/sale"
    campaign = Campaign(shop_id=installed.id, name="Sale", body=body, status="sending")
    db.session.add(campaign)
    db.session.flush()
    theirs, others = (_sent(db, installed, campaign, p) for p in (THEM, OTHER))
    prepared = links.for_campaign(installed, campaign.id, body, None)
    db.session.commit()
    for message in (theirs, others, theirs):
        (path,) = links.shorten(body, message.id, prepared).split("127.0.0.1:8000")[1:]
        assert client.get(path, headers={"User-Agent": UA_IPHONE}).status_code == 302
    clicks.buffer().flush()
    assert (_rows(db, LinkClick, theirs.id), _rows(db, MessageClick, theirs.id)) == (2, 1)
    before = stats.for_campaign(campaign)

    deliver("customers/redact", {"shop_domain": SHOP, "customer": {"id": 901, "phone": THEM}})
    db.session.expire_all()
    assert (_rows(db, LinkClick, theirs.id), _rows(db, MessageClick, theirs.id)) == (0, 0)
    assert (_rows(db, LinkClick, others.id), _rows(db, MessageClick, others.id)) == (1, 1)
    after = stats.for_campaign(db.session.get(Campaign, campaign.id))
    assert (after.clicks, after.unique) == (before.clicks, before.unique) == (3, 2)
