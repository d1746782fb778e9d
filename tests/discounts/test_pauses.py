"""When Shopify throttles or fails, the start pauses with the reason on the campaign page
and nothing is sent; Resume completes it. A worker killed mid-way resumes without giving
any message two codes or none; the send path refuses a row without its code."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import delete, update

from astronote.integrations.shopify import discounts as api
from astronote.models import CampaignDiscount, DiscountCode, now_utc
from astronote.services.campaigns import lifecycle as campaigns
from astronote.services.discounts import codes, prepare
from astronote.services.sending import batches
from astronote.tasks.campaigns import fan_out
from tests.discounts.conftest import SHOP, add_contacts, compose, rows


def _start(db, shop, campaign) -> None:
    assert campaigns.start(shop, campaign) > 0
    db.session.commit()
    fan_out(campaign.id)


def _status(db, campaign):
    db.session.expire_all()
    return db.session.get(type(campaign), campaign.id)


def _all_sent_with_own_codes(db, campaign, discounts, sim, n: int) -> None:
    messages = rows(db, campaign.id)
    stored = [code for _, code in messages]
    assert len(messages) == n and len(set(stored)) == n and None not in stored
    assert {m.status for m, _ in messages} == {"accepted"}
    in_shopify = discounts.codes(SHOP)
    assert all(code in in_shopify for code in stored)
    [discount] = discounts.discounts[SHOP]
    assert len(discount["codes"]) == len(set(discount["codes"])) == n  # none twice
    texts = {a["destination"]: a["text"] for a in sim.accepted}
    assert all(code in texts[m.phone] for m, code in messages)


@pytest.mark.parametrize("how", ["THROTTLED", "429"])
def test_throttling_pauses_the_start_with_the_reason_and_resume_completes_it(
    db, merchant, discounts, sim, shopify, client, headers, how
):
    add_contacts(db, merchant, 30)
    campaign = compose(db, merchant)
    calls = prepare.RETRIES + 1  # the client's retries, then the start gives up and pauses
    if how == "THROTTLED":
        shopify.throttle_next(calls, requested_cost=10, available=9.9)
    else:
        shopify.fail_next(calls, status=429)
    _start(db, merchant, campaign)

    paused = _status(db, campaign)
    assert paused.status == "paused" and "throttling discount code creation" in (
        paused.failure_reason
    )
    assert sim.accepted == [] and {m.status for m, _ in rows(db, campaign.id)} == {"queued"}
    page = client.get(f"/campaigns/{campaign.id}", headers=headers).get_data(as_text=True)
    assert "Shopify is throttling discount code creation" in page and "Nothing has been" in page

    resumed = client.post(f"/campaigns/{campaign.id}/resume", headers=headers)
    assert resumed.status_code == 204
    done = _status(db, campaign)
    assert done.status == "completed" and done.failure_reason is None
    _all_sent_with_own_codes(db, campaign, discounts, sim, 30)


def test_codes_shopify_refuses_pause_the_start_and_resume_retries_only_them(
    db, merchant, discounts, sim
):
    add_contacts(db, merchant, 600)
    campaign = compose(db, merchant)
    prefix = db.session.get(CampaignDiscount, campaign.id).prefix
    campaigns.start(merchant, campaign)
    db.session.commit()
    message_ids = [m.id for m, _ in rows(db, campaign.id)]
    bad = codes.code_for(prefix, message_ids[400])  # in the second batch
    discounts.reject = {bad}
    fan_out(campaign.id)

    paused = _status(db, campaign)
    assert paused.status == "paused"
    assert "could not create 1 of the codes (INVALID)" in paused.failure_reason
    assert "250 of 600 unique codes are ready" in paused.failure_reason
    assert sim.accepted == []
    assert discounts.bulk_calls == [250, 250, 100]  # one window in flight, then polled

    discounts.reject = set()
    campaigns.resume(paused)
    db.session.commit()
    fan_out(campaign.id)
    assert _status(db, campaign).status == "completed"
    assert discounts.bulk_calls == [250, 250, 100, 250]  # only the failed batch again
    _all_sent_with_own_codes(db, campaign, discounts, sim, 600)


def test_a_refused_discount_pauses_with_shopifys_message(db, merchant, discounts, sim):
    add_contacts(db, merchant, 5)
    campaign = compose(db, merchant)
    discounts.fail_creates = 1
    _start(db, merchant, campaign)
    paused = _status(db, campaign)
    assert paused.status == "paused"
    assert "Shopify refused the discount: Simulated failure." in paused.failure_reason
    assert sim.accepted == [] and discounts.bulk_calls == []


def _expire_lease(db, campaign) -> None:
    db.session.execute(
        update(CampaignDiscount)
        .where(CampaignDiscount.campaign_id == campaign.id)
        .values(lease_until=now_utc() - timedelta(seconds=1))
    )
    db.session.commit()


def test_a_worker_killed_while_writing_codes_resumes_without_duplicates(
    db, merchant, discounts, sim, monkeypatch
):
    add_contacts(db, merchant, 700)
    campaign = compose(db, merchant)
    campaigns.start(merchant, campaign)
    db.session.commit()
    monkeypatch.setattr(codes, "WRITE_CHUNK", 200)
    real, made = codes.code_for, []

    def dies_on_the_third_chunk(prefix, message_id):
        made.append(message_id)
        if len(made) == 401:
            raise SystemExit("worker killed")
        return real(prefix, message_id)

    monkeypatch.setattr(codes, "code_for", dies_on_the_third_chunk)
    with pytest.raises(SystemExit):
        prepare.run(campaign.id)
    db.session.rollback()
    assert sum(1 for _, code in rows(db, campaign.id) if code) == 400  # two chunks committed
    assert prepare.run(campaign.id) == prepare.BUSY  # the dead worker's lease still holds

    monkeypatch.setattr(codes, "code_for", real)
    _expire_lease(db, campaign)
    fan_out(campaign.id)  # as the reconciler does for an idle sending campaign
    assert _status(db, campaign).status == "completed"
    _all_sent_with_own_codes(db, campaign, discounts, sim, 700)


def test_a_worker_killed_after_a_bulk_call_resends_it_and_shopify_keeps_one_of_each(
    db, merchant, discounts, sim, monkeypatch
):
    add_contacts(db, merchant, 600)
    campaign = compose(db, merchant)
    campaigns.start(merchant, campaign)
    db.session.commit()
    discounts.bulk_polls = 0  # Shopify creates the codes of the call whose answer was lost
    real = api.bulk_add

    def dies_after_the_second_call(*args):
        gid = real(*args)
        if len(discounts.bulk_calls) == 2:
            raise SystemExit("worker killed before its commit")
        return gid

    monkeypatch.setattr(api, "bulk_add", dies_after_the_second_call)
    with pytest.raises(SystemExit):
        prepare.run(campaign.id)
    db.session.rollback()
    monkeypatch.setattr(api, "bulk_add", real)
    _expire_lease(db, campaign)
    fan_out(campaign.id)
    assert discounts.bulk_calls == [250, 250, 250, 100]  # batch 2 went twice: all TAKEN
    assert _status(db, campaign).status == "completed"
    _all_sent_with_own_codes(db, campaign, discounts, sim, 600)


def test_a_worker_killed_after_creating_the_discount_finds_it_again(
    db, merchant, discounts, sim, monkeypatch
):
    add_contacts(db, merchant, 10)
    campaign = compose(db, merchant)
    campaigns.start(merchant, campaign)
    db.session.commit()
    real = api.create_basic

    def dies_after_creating(*args):
        real(*args)
        raise SystemExit("worker killed before storing the discount's id")

    monkeypatch.setattr(api, "create_basic", dies_after_creating)
    with pytest.raises(SystemExit):
        prepare.run(campaign.id)
    db.session.rollback()
    monkeypatch.setattr(api, "create_basic", real)
    _expire_lease(db, campaign)
    fan_out(campaign.id)
    assert len(discounts.discounts[SHOP]) == 1  # found by its code, not created twice
    _all_sent_with_own_codes(db, campaign, discounts, sim, 10)


def test_the_send_path_refuses_a_row_that_needs_a_code_and_has_none(
    db, merchant, discounts, sim, monkeypatch
):
    add_contacts(db, merchant, 20)
    campaign = compose(db, merchant)
    campaigns.start(merchant, campaign)
    db.session.commit()
    assert prepare.run(campaign.id) == prepare.READY
    victim = rows(db, campaign.id)[-1][0]
    db.session.execute(delete(DiscountCode).where(DiscountCode.message_id == victim.id))
    db.session.commit()

    batches.process(campaign.id, 1000)
    paused = _status(db, campaign)
    assert paused.status == "paused" and paused.failure_reason == codes.MISSING
    after = {m.id: (m.status, code) for m, code in rows(db, campaign.id)}
    assert after[victim.id] == ("queued", None)
    assert victim.phone not in {a["destination"] for a in sim.accepted}
    for m, code in rows(db, campaign.id):  # whatever did go out carried its own code
        sent = [a["text"] for a in sim.accepted if a["destination"] == m.phone]
        assert all(code in text for text in sent)


def test_a_campaign_without_unique_codes_sends_its_one_code(db, merchant, discounts, sim):
    add_contacts(db, merchant, 3)
    campaign = compose(db, merchant, unique_codes="", discount_code="SAVE10")
    assert db.session.get(CampaignDiscount, campaign.id) is None
    _start(db, merchant, campaign)
    assert {a["text"].split("\n")[0][-6:] for a in sim.accepted} == {"SAVE10"}
    assert discounts.bulk_calls == [] and discounts.discounts == {}
