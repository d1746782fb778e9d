"""Every provider outcome ends in the right state, with the right charge, sent at most once."""

from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from astronote.models import Campaign, Contact, Message
from astronote.services import credits
from astronote.services.campaigns import lifecycle as campaigns
from astronote.services.campaigns.audience import Audience
from astronote.services.credits import InsufficientCredits
from astronote.services.sending import batches, throttle
from astronote.tasks.campaigns import fan_out, reconcile_sending


def _started(db, shop, body="Hello {{first_name}}") -> Campaign:
    campaign = Campaign(shop_id=shop.id, name="C", body=body, audience=Audience().to_json())
    db.session.add(campaign)
    db.session.flush()
    campaigns.start(shop, campaign)
    db.session.commit()
    return campaign


def _statuses(read, campaign) -> Counter:
    return Counter(m.status for m in read.messages(campaign.id))


def _assert_books_balance(shop):
    balance = credits.balance(shop.id)
    assert credits.ledger_totals(shop.id) == balance
    assert balance.available >= 0 and balance.reserved >= 0


def test_opt_out_after_snapshot_is_skipped_and_not_billed(sim, funded, subscribers, db, read):
    phones = subscribers(10)
    campaign = _started(db, funded)
    db.session.execute(
        update(Contact).where(Contact.phone == phones[3]).values(consent_state="unsubscribed")
    )
    db.session.commit()
    fan_out(campaign.id)
    messages = {m.phone: m for m in read.messages(campaign.id)}
    assert messages[phones[3]].status == "skipped"
    assert messages[phones[3]].skip_reason == "unsubscribed"
    assert phones[3] not in sim.sends_per_phone()
    assert read.campaign(campaign.id).status == "completed"
    spent = sum(m.segments for m in messages.values() if m.status == "accepted")
    assert credits.consumed_for(funded.id, campaign.id) == spent
    assert credits.balance(funded.id).reserved == 0
    _assert_books_balance(funded)


def test_rejected_messages_fail_with_reason_and_cost_nothing(sim, funded, subscribers, db, read):
    subscribers(40)
    sim.update_config({"reject_rate": 0.5})
    campaign = _started(db, funded)
    fan_out(campaign.id)
    messages = read.messages(campaign.id)
    failed = [m for m in messages if m.status == "failed"]
    assert failed and all(m.error for m in failed)
    accepted = [m for m in messages if m.status == "accepted"]
    assert len(accepted) + len(failed) == 40
    assert credits.consumed_for(funded.id, campaign.id) == sum(m.segments for m in accepted)
    _assert_books_balance(funded)
    assert credits.balance(funded.id).reserved == 0


def test_read_timeout_marks_unknown_and_never_resends(sim, funded, subscribers, db, read):
    subscribers(5)
    sim.update_config({"timeout_rate": 1.0, "timeout_sleep_s": 3.0})
    campaign = _started(db, funded)
    fan_out(campaign.id)
    sim.update_config({"timeout_rate": 0.0})
    assert _statuses(read, campaign) == Counter({"unknown": 5})
    assert sum(sim.sends_per_phone().values()) == 5  # the provider did take them
    fan_out(campaign.id)  # nothing left to send: unknown is never retried blindly
    assert sum(sim.sends_per_phone().values()) == 5
    assert read.campaign(campaign.id).status == "completed"
    assert credits.consumed_for(funded.id, campaign.id) == sum(
        m.segments for m in read.messages(campaign.id)
    )


def test_429_and_5xx_requeue_then_every_message_goes_once(sim, funded, subscribers, db, read):
    phones = subscribers(30)
    sim.update_config({"throttle_burst": 1})
    campaign = _started(db, funded)
    fan_out(campaign.id)
    assert _statuses(read, campaign)["queued"] == 30  # throttled: waiting, not failed
    sim.update_config({"error_5xx_rate": 1.0})
    fan_out(campaign.id)
    assert _statuses(read, campaign)["queued"] == 30
    sim.update_config({"error_5xx_rate": 0.0})
    throttle.reset("simulator-account")  # the 429's Retry-After is over (honoured: tested apart)
    fan_out(campaign.id)
    assert _statuses(read, campaign) == Counter({"accepted": 30})
    assert sim.sends_per_phone() == Counter({p: 1 for p in phones})


def test_rate_limit_is_asked_last_and_a_refusal_sends_nothing(
    sim, funded, subscribers, db, read, monkeypatch
):
    """The grant comes after the rows are fenced and the request encoded (so the request
    leaves right after it); a refusal puts the rows back in the queue, unsent, unbilled."""
    from astronote.integrations.mitto.client import MittoClient
    from astronote.services.sending import provider

    phones = subscribers(12)
    campaign = _started(db, funded)
    encoded, asked = [], []
    prepare = MittoClient.prepare_bulk
    monkeypatch.setattr(
        MittoClient, "prepare_bulk", lambda self, m: encoded.append(len(m)) or prepare(self, m)
    )

    class Limiter:
        allow = False

        def max_chunk(self):
            return 100

        def acquire(self, account, shop_id, count, timeout=30.0):
            in_flight = db.session.execute(
                select(Message.status).where(Message.campaign_id == campaign.id)
            ).scalars()
            asked.append((count, Counter(in_flight), list(encoded)))
            return self.allow

    limiter = Limiter()
    monkeypatch.setattr(provider, "limiter", lambda: limiter)
    fan_out(campaign.id)
    assert asked == [(12, Counter({"submitting": 12}), [12])]
    assert _statuses(read, campaign) == Counter({"queued": 12})
    assert sim.sends_per_phone() == Counter()
    assert credits.consumed_for(funded.id, campaign.id) == 0
    limiter.allow = True
    fan_out(campaign.id)
    assert _statuses(read, campaign) == Counter({"accepted": 12})
    assert sim.sends_per_phone() == Counter({p: 1 for p in phones})
    _assert_books_balance(funded)


def test_insufficient_credits_refuses_cleanly(make_shop, subscribers, sim, db):
    shop = make_shop("poor.myshopify.com")
    subscribers(3, shop=shop)
    credits.grant(shop.id, 2, "tiny", "two credits")
    db.session.commit()
    campaign = Campaign(shop_id=shop.id, name="C", body="Hi", audience=Audience().to_json())
    db.session.add(campaign)
    db.session.commit()
    with pytest.raises(InsufficientCredits) as exc:
        campaigns.start(shop, campaign)
    db.session.rollback()
    assert "needs 3 credits but only 2" in exc.value.message
    assert db.session.execute(select(Message)).first() is None
    assert db.session.get(Campaign, campaign.id).status == "draft"


def test_pause_resume_cancel_and_release(sim, funded, subscribers, db, read):
    subscribers(12)
    campaign = _started(db, funded)
    campaigns.pause(campaign)
    db.session.commit()
    fan_out(campaign.id)
    assert _statuses(read, campaign) == Counter({"queued": 12})
    campaigns.cancel(read.campaign(campaign.id))
    db.session.commit()
    campaigns.finish_if_done(campaign.id)
    db.session.commit()
    assert _statuses(read, campaign) == Counter({"cancelled": 12})
    assert sim.sends_per_phone() == Counter()
    assert credits.balance(funded.id) == credits.Balance(1_000_000, 0)
    _assert_books_balance(funded)


def test_retry_failed_resends_only_failed(sim, funded, subscribers, db, read):
    subscribers(20)
    sim.update_config({"reject_rate": 0.3})
    campaign = _started(db, funded)
    fan_out(campaign.id)
    first = {m.phone: m.status for m in read.messages(campaign.id)}
    failed = {p for p, s in first.items() if s == "failed"}
    assert failed
    sim.update_config({"reject_rate": 0.0})
    assert campaigns.retry_failed(funded, read.campaign(campaign.id)) == len(failed)
    db.session.commit()
    fan_out(campaign.id)
    sends = sim.sends_per_phone()
    assert all(sends[p] == 1 for p in first)  # accepted ones were never sent again
    assert _statuses(read, campaign) == Counter({"accepted": 20})
    assert credits.balance(funded.id).reserved == 0
    _assert_books_balance(funded)


def test_reconcile_requeues_claimed_and_marks_submitting_unknown(
    sim, funded, subscribers, db, read
):
    subscribers(6)
    campaign = _started(db, funded)
    ids = [m.id for m in read.messages(campaign.id)]
    long_ago = read.campaign(campaign.id).started_at - timedelta(hours=1)
    db.session.execute(
        update(Message)
        .where(Message.id.in_(ids[:3]))
        .values(status="claimed", claim_token="dead", claimed_at=long_ago)
    )
    db.session.execute(
        update(Message)
        .where(Message.id.in_(ids[3:4]))
        .values(status="submitting", claim_token="dead", claimed_at=long_ago, segments=1)
    )
    db.session.commit()
    assert batches.reclaim_stale(timedelta(minutes=10)) == (3, 1)
    reconcile_sending.call_local()
    fan_out(campaign.id)
    statuses = _statuses(read, campaign)
    assert statuses == Counter({"accepted": 5, "unknown": 1})
    assert sum(sim.sends_per_phone().values()) == 5
    assert read.campaign(campaign.id).status == "completed"
    _assert_books_balance(funded)
