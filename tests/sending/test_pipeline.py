"""The send pipeline against the Mitto simulator, inline (Huey immediate mode)."""

from collections import Counter

from astronote.models import Campaign
from astronote.services import credits
from astronote.services.campaigns import lifecycle as campaigns
from astronote.services.campaigns.audience import Audience
from astronote.tasks.campaigns import fan_out


def _campaign(db, shop, body="Hi {{first_name}}, 20% off today!", **fields) -> Campaign:
    campaign = Campaign(
        shop_id=shop.id, name="Launch", body=body, audience=Audience().to_json(), **fields
    )
    db.session.add(campaign)
    db.session.commit()
    return campaign


def test_campaign_sends_each_subscriber_exactly_once(sim, funded, subscribers, db, read):
    phones = subscribers(450)
    subscribers(20, start=5000, consent="unsubscribed")
    campaign = _campaign(db, funded)
    assert campaigns.start(funded, campaign) == 450
    db.session.commit()
    assert fan_out(campaign.id) == 3
    messages = read.messages(campaign.id)
    assert {m.status for m in messages} == {"accepted"}
    assert sorted(m.phone for m in messages) == sorted(phones)
    assert Counter(sim.sends_per_phone()) == Counter({p: 1 for p in phones})
    assert all(
        m.body.startswith("Hi Ann") and m.body.endswith("Reply STOP to opt out") for m in messages
    )
    done = read.campaign(campaign.id)
    assert done.status == "completed" and done.credits_settled
    balance = credits.balance(funded.id)
    assert balance.reserved == 0
    assert balance.available == 1_000_000 - sum(m.segments for m in messages)
    assert credits.ledger_totals(funded.id) == balance


def test_single_send_goes_through_the_guards(sim, funded, subscribers, db):
    from sqlalchemy import select

    from astronote.models import Contact, Message
    from astronote.services.sending import single as single_send
    from astronote.tasks.campaigns import send_single

    subscribers(1)
    contact = db.session.execute(select(Contact)).scalar_one()
    message = single_send.queue_single(funded, contact, "Test: hi {{first_name}}", "test")
    db.session.commit()
    send_single(message.id)
    db.session.expire_all()
    sent = db.session.get(Message, message.id)
    assert sent.status == "accepted" and sent.provider_message_id
    assert sim.sends_per_phone()[contact.phone] == 1
    assert credits.balance(funded.id).reserved == 0
