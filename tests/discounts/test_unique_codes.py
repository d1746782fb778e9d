"""Unique codes end to end: created in the fake Shopify 250 per call and polled before
the send, one per message, each message carrying its own."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from astronote.models import CampaignDiscount, DiscountCode, DiscountCodeBatch
from astronote.services.campaigns import lifecycle as campaigns
from astronote.services.discounts import codes
from astronote.tasks.campaigns import fan_out
from tests.discounts.conftest import SHOP, add_contacts, compose, rows

CODE = re.compile(rf"with ([2-9A-Z]{{{codes.CODE_LENGTH}}})\n")


def _start(db, shop, campaign) -> None:
    assert campaigns.start(shop, campaign) > 0
    db.session.commit()
    fan_out(campaign.id)  # huey runs inline in tests: codes first, then the batches


def test_600_recipients_get_600_distinct_codes_created_in_three_bulk_calls(
    db, merchant, discounts, sim
):
    discounts.bulk_polls = 2  # every bulk creation answers done: false twice first
    add_contacts(db, merchant, 600)
    campaign = compose(db, merchant)
    _start(db, merchant, campaign)

    assert discounts.bulk_calls == [250, 250, 100]
    assert discounts.polls == 3 * 3  # two "queued" answers, then done, per creation
    in_shopify = discounts.codes(SHOP)
    messages = rows(db, campaign.id)
    assert len(messages) == 600 and {m.status for m, _ in messages} == {"accepted"}
    stored = [code for _, code in messages]
    assert None not in stored and len(set(stored)) == 600
    sent = {a["destination"]: a["text"] for a in sim.accepted}
    for message, code in messages:
        assert CODE.search(sent[message.phone]).group(1) == code  # its own code, as stored
        assert in_shopify[code] == in_shopify[stored[0]]  # all in the campaign's discount
    discount = db.session.get(CampaignDiscount, campaign.id)
    assert (discount.state, discount.codes_total, discount.codes_created) == ("ready", 600, 600)
    assert db.session.get(type(campaign), campaign.id).status == "completed"


def test_the_discount_is_created_once_with_the_merchants_value_and_expiry(
    db, merchant, discounts, sim
):
    add_contacts(db, merchant, 3)
    campaign = compose(db, merchant, unique_kind="amount", unique_value="7.50")
    _start(db, merchant, campaign)
    [created] = discounts.discounts[SHOP]
    assert created["value"] == {"discountAmount": {"amount": "7.50", "appliesOnEachItem": False}}
    ends = db.session.get(CampaignDiscount, campaign.id).ends_at
    assert created["endsAt"].startswith(ends.isoformat()[:16])
    assert created["title"] == "SMS: Winter sale" and len(created["codes"]) == 3


def test_codes_are_stored_one_per_message_with_their_batch(db, merchant, discounts, sim):
    add_contacts(db, merchant, 260)
    campaign = compose(db, merchant)
    _start(db, merchant, campaign)
    per_batch = dict(
        db.session.execute(
            select(DiscountCode.batch_no, func.count())
            .where(DiscountCode.campaign_id == campaign.id)
            .group_by(DiscountCode.batch_no)
        ).all()
    )
    assert per_batch == {0: 250, 1: 10}
    states = db.session.execute(
        select(DiscountCodeBatch.state).where(DiscountCodeBatch.campaign_id == campaign.id)
    ).scalars()
    assert set(states) == {"done"}


def test_code_format_is_fixed_length_and_unique_per_message(app):
    made = {codes.code_for("ABC", n) for n in range(1, 5001)}
    assert len(made) == 5000
    assert {len(c) for c in made} == {codes.CODE_LENGTH} == {len(codes.SAMPLE)}
    assert codes.code_for("ABC", 7) != codes.code_for("ABD", 7)


def test_codes_go_with_their_campaign(db, merchant, discounts, sim):
    add_contacts(db, merchant, 5)
    campaign = compose(db, merchant)
    _start(db, merchant, campaign)
    db.session.delete(db.session.get(type(campaign), campaign.id))
    db.session.commit()
    for model in (CampaignDiscount, DiscountCode, DiscountCodeBatch):
        assert db.session.execute(select(func.count()).select_from(model)).scalar_one() == 0
