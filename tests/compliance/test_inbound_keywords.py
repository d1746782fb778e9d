"""Inbound routing, STOP/START/HELP, rate-limited confirmations, and STOP mid-campaign."""

from collections import Counter

import pytest
from sqlalchemy import func, select

from astronote.models import (
    Campaign,
    ConsentEvent,
    Contact,
    InboundMessage,
    Message,
    ShopSenderNumber,
)
from astronote.services.campaigns import lifecycle as campaigns
from astronote.services.campaigns.audience import Audience
from astronote.services.sending import batches
from astronote.tasks.campaigns import fan_out


def _inbound(client, text, frm, to="+14155550000", message_id=None):
    payload = {"from": frm, "to": to, "text": text}
    if message_id:
        payload["messageId"] = message_id
    return client.post("/webhooks/mitto/inbound", json=payload)


def _contact(db, phone) -> Contact:
    db.session.expire_all()
    return db.session.execute(select(Contact).filter_by(phone=phone)).scalar_one()


@pytest.fixture
def routed(funded, db):
    db.session.add(ShopSenderNumber(number="+14155550000", shop_id=funded.id))
    db.session.commit()
    return funded


@pytest.mark.parametrize("text", ["STOP", "stop", " Stop. ", "UNSUBSCRIBE!", "cancel", "Quit"])
def test_stop_words_opt_out_and_confirm_once(client, sim, routed, subscribers, db, text):
    phone = subscribers(1)[0]
    response = _inbound(client, text, phone)
    assert response.status_code == 200 and response.json["routed_by"] == "number"
    contact = _contact(db, phone)
    assert contact.consent_state == "unsubscribed" and contact.consent_source == "keyword"
    event = (
        db.session.execute(select(ConsentEvent).order_by(ConsentEvent.id.desc())).scalars().first()
    )
    assert event.source == "keyword" and "inbound message" in event.evidence
    assert sim.sends_per_phone()[phone] == 1  # the confirmation
    assert "unsubscribed" in sim.accepted[-1]["text"]
    _inbound(client, text, phone)  # the same keyword within 24 h: no second confirmation
    assert sim.sends_per_phone()[phone] == 1


def test_start_restores_consent_and_help_answers(client, sim, routed, subscribers, db):
    phone = subscribers(1)[0]
    _inbound(client, "STOP", phone)
    _inbound(client, "Start", phone)
    assert _contact(db, phone).consent_state == "subscribed"
    _inbound(client, "help?", phone)
    texts = [m["text"] for m in sim.accepted if m["destination"] == phone]
    assert len(texts) == 3 and "Reply STOP to opt out" in texts[-1]


def test_ordinary_replies_are_stored_not_acted_on(client, sim, routed, subscribers, db):
    phone = subscribers(1)[0]
    response = _inbound(client, "Please stop sending me shoes", phone)
    assert response.json["keyword"] is None
    assert _contact(db, phone).consent_state == "subscribed"
    stored = db.session.execute(select(InboundMessage)).scalar_one()
    assert stored.text == "Please stop sending me shoes" and stored.contact_id is not None


def test_routing_falls_back_to_last_sender_then_unrouted(
    client, sim, funded, subscribers, db, make_shop
):
    phone = subscribers(1)[0]
    other = make_shop("other.myshopify.com")
    db.session.add(
        Message(
            shop_id=funded.id, phone=phone, status="accepted", kind="campaign", sent_at=func.now()
        )
    )
    db.session.commit()
    assert _inbound(client, "hi", phone, to="+19998887777").json["routed_by"] == "last_sender"
    unknown = _inbound(client, "who is this", "+15005550006", to="+19998887777")
    assert unknown.json["routed_by"] == "unrouted"
    rows = db.session.execute(select(InboundMessage).order_by(InboundMessage.id)).scalars().all()
    assert rows[0].shop_id == funded.id and rows[1].shop_id is None
    assert other.id not in {r.shop_id for r in rows}


def test_duplicate_inbound_delivery_is_stored_once(client, sim, routed, subscribers, db):
    phone = subscribers(1)[0]
    assert _inbound(client, "hello", phone, message_id="mo-1").json["status"] == "stored"
    assert _inbound(client, "hello", phone, message_id="mo-1").json["status"] == "duplicate"
    assert db.session.execute(select(func.count()).select_from(InboundMessage)).scalar_one() == 1


def test_stop_in_the_middle_of_a_10000_recipient_campaign(
    app, client, sim, routed, subscribers, db, read
):
    phones = subscribers(10_000, start=0)
    campaign = Campaign(shop_id=routed.id, name="Big", body="Sale!", audience=Audience().to_json())
    db.session.add(campaign)
    db.session.flush()
    campaigns.start(routed, campaign)
    db.session.commit()
    for _ in range(5):  # 5 batches of 1,000 go out first
        batches.process(campaign.id, 1000)
    sent_so_far = sim.sends_per_phone()
    late = next(p for p in reversed(phones) if p not in sent_so_far)
    assert _inbound(client, "STOP", late).status_code == 200
    fan_out(campaign.id)
    sends = sim.sends_per_phone()
    assert sends[late] == 1  # the STOP confirmation only; no campaign message
    campaign_sends = Counter(m["destination"] for m in sim.accepted if m["text"].startswith("Sale"))
    assert late not in campaign_sends
    assert max(campaign_sends.values()) == 1 and len(campaign_sends) == 9_999
    skipped = [m for m in read.messages(campaign.id) if m.status == "skipped"]
    assert [(m.phone, m.skip_reason) for m in skipped] == [(late, "unsubscribed")]


def test_numbers_without_plus_still_route_and_match(client, sim, routed, subscribers, db):
    phone = subscribers(1)[0]
    response = _inbound(client, "STOP", phone.lstrip("+"), to="14155550000")
    assert response.json["routed_by"] == "number"
    assert _contact(db, phone).consent_state == "unsubscribed"


@pytest.mark.parametrize("written", ["digits", "national"])
def test_stop_from_a_number_written_without_plus(client, sim, routed, subscribers, db, written):
    """Providers send international digits without "+"; some send US numbers nationally."""
    phone = subscribers(1)[0]  # +1415...
    sender = phone[1:] if written == "digits" else phone[2:]
    response = _inbound(client, "STOP", sender)
    assert response.status_code == 200 and response.json["routed_by"] == "number"
    assert _contact(db, phone).consent_state == "unsubscribed"
