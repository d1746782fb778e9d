"""Issue #10, item 18: what a production-shape chaos run found."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import OperationalError

from astronote.models import CreditLedgerEntry, Message, UnmatchedDeliveryReport, now_utc
from astronote.services import credits
from astronote.services.campaigns import lifecycle
from astronote.services.sending import batches, never_sent, submission
from astronote.tasks import campaigns as campaign_tasks
from tests.sending.test_campaign_views import hx, started
from tests.sending.test_campaign_views import text as body_of


def _statuses(read, campaign_id) -> Counter:
    return Counter(m.status for m in read.messages(campaign_id))


def _fenced_then_killed(db, campaign, ids, hours_ago: float) -> None:
    """Rows a worker fenced and then died with, before the POST: they end `unknown`."""
    db.session.execute(
        update(Message)
        .where(Message.id.in_(ids))
        .values(
            status="submitting",
            claim_token="dead",
            claimed_at=now_utc() - timedelta(hours=hours_ago),
            segments=1,
        )
    )
    db.session.commit()
    batches.reclaim_stale(timedelta(minutes=5))  # they may have been sent: unknown, charged
    db.session.commit()


def test_unknown_without_any_report_past_validity_is_not_sent_refunded_and_resendable(
    client, db, funded, subscribers, sim, read
):
    phones = subscribers(6)
    campaign = started(db, funded)
    ids = [m.id for m in read.messages(campaign.id)]
    _fenced_then_killed(db, campaign, ids[:3], hours_ago=60)  # past 48 h + 6 h
    _fenced_then_killed(db, campaign, ids[3:4], hours_ago=2)  # too recent to tell
    # One old unknown row did get a report (in flight): it reached the provider.
    db.session.execute(update(Message).where(Message.id == ids[2]).values(delivery_status="Sent"))
    db.session.commit()
    campaign_tasks.fan_out(campaign.id)  # the other two go normally
    assert _statuses(read, campaign.id) == Counter({"unknown": 4, "accepted": 2})
    charged = credits.consumed_for(funded.id, campaign.id)
    before = credits.balance(funded.id).available

    assert campaign_tasks.mark_never_sent.call_local() == 2
    assert campaign_tasks.mark_never_sent.call_local() == 0  # idempotent
    rows = {m.id: m for m in read.messages(campaign.id)}
    assert [(rows[i].status, rows[i].skip_reason) for i in ids[:2]] == [("skipped", "not_sent")] * 2
    assert rows[ids[2]].status == "unknown" and rows[ids[3]].status == "unknown"
    assert credits.balance(funded.id).available == before + 2  # their credits came back
    refunds = db.session.execute(
        select(CreditLedgerEntry).filter_by(shop_id=funded.id, kind="refund")
    ).scalars()
    key = f"not_sent:{campaign.id}:{read.campaign(campaign.id).send_run}:{ids[0]}"
    assert [(e.available_delta, e.idempotency_key) for e in refunds] == [(2, key)]
    assert credits.ledger_totals(funded.id) == credits.balance(funded.id)
    assert sim.sends_per_phone() == Counter({p: 1 for p in phones[4:]})  # never resent alone

    page = body_of(client.get(f"/campaigns/{campaign.id}", headers=hx(funded)))
    assert 'id="not-sent-explained"' in page
    assert "Resend the 2 messages that were never sent" in page
    response = client.post(f"/campaigns/{campaign.id}/resend-not-sent", headers=hx(funded))
    assert response.status_code == 204 and "Resending" in response.headers["HX-Trigger"]
    statuses = _statuses(read, campaign.id)
    assert statuses == Counter({"accepted": 4, "unknown": 2})
    sent = sim.sends_per_phone()
    assert sent == Counter({phones[0]: 1, phones[1]: 1, phones[4]: 1, phones[5]: 1})
    assert read.campaign(campaign.id).status == "completed"
    assert credits.balance(funded.id).reserved == 0
    assert credits.consumed_for(funded.id, campaign.id) == charged + 2
    assert credits.ledger_totals(funded.id) == credits.balance(funded.id)
    again = client.post(f"/campaigns/{campaign.id}/resend-not-sent", headers=hx(funded))
    assert again.status_code == 409


def test_status_lookup_decides_for_unknown_rows_with_a_provider_id(
    db, funded, subscribers, sim, read
):
    subscribers(2)
    campaign = started(db, funded)
    campaign_tasks.fan_out(campaign.id)
    known, lost = read.messages(campaign.id)
    old = now_utc() - timedelta(hours=60)
    db.session.execute(
        update(Message)
        .where(Message.id.in_([known.id, lost.id]))
        .values(status="unknown", delivery_status=None, claimed_at=old)
    )
    db.session.execute(
        update(Message).where(Message.id == lost.id).values(provider_message_id="never-seen")
    )
    db.session.commit()
    assert never_sent.mark(48) == (1, lost.id)
    db.session.commit()
    rows = {m.id: m for m in read.messages(campaign.id)}
    assert rows[lost.id].skip_reason == "not_sent"  # the provider answered 404
    assert rows[known.id].status == "unknown" and rows[known.id].delivery_status == "Queued"


def test_stale_submitting_threshold_follows_the_read_timeout(
    app, db, funded, subscribers, sim, read
):
    assert batches.stale_after(30) < timedelta(minutes=2)  # was a fixed 10 minutes
    assert batches.stale_after(300) > timedelta(seconds=300)
    subscribers(2)
    campaign = started(db, funded)
    first, second = read.messages(campaign.id)
    now = now_utc()
    app.config["MITTO_READ_TIMEOUT"] = 2.0
    for row, age in ((first, 3), (second, 0.5)):  # minutes in `submitting`
        db.session.execute(
            update(Message)
            .where(Message.id == row.id)
            .values(status="submitting", claim_token="t", claimed_at=now - timedelta(minutes=age))
        )
    db.session.commit()
    campaign_tasks.reconcile_sending.call_local()
    rows = {m.id: m.status for m in read.messages(campaign.id)}
    assert rows == {first.id: "unknown", second.id: "submitting"}


def test_result_write_is_retried_on_a_fresh_connection(
    db, funded, subscribers, sim, read, monkeypatch
):
    """On PostgreSQL the worker's connection is really terminated (AdminShutdown) between
    the provider's answer and the write; on SQLite the same error is raised."""
    phones = subscribers(5)
    campaign = started(db, funded)
    real, calls = submission._record_accepted, []

    def dropped_once(token, accepted):
        calls.append(1)
        if len(calls) == 1:
            if db.engine.dialect.name != "postgresql":
                raise OperationalError("UPDATE", {}, Exception("terminating connection"))
            pid = db.session.execute(text("SELECT pg_backend_pid()")).scalar_one()
            with db.engine.connect() as other:
                other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
                other.commit()
        return real(token, accepted)

    monkeypatch.setattr(submission, "_record_accepted", dropped_once)
    monkeypatch.setattr(submission, "WRITE_PAUSES", (0.0, 0.1))
    campaign_tasks.fan_out(campaign.id)
    assert len(calls) == 2
    assert _statuses(read, campaign.id) == Counter({"accepted": 5})  # not left to the reconciler
    assert sim.sends_per_phone() == Counter({p: 1 for p in phones})
    assert credits.consumed_for(funded.id, campaign.id) == sum(
        m.segments for m in read.messages(campaign.id)
    )
    assert read.campaign(campaign.id).status == "completed"


def test_a_write_that_keeps_failing_still_raises(db, funded, monkeypatch):
    monkeypatch.setattr(submission, "WRITE_PAUSES", (0.0,))

    def down():
        raise OperationalError("UPDATE", {}, Exception("server closed the connection"))

    with pytest.raises(OperationalError):
        submission.durably(down)


def test_an_unmatched_report_naming_the_row_keeps_it_unknown(db, funded, subscribers, read):
    """A report we could not match yet, carrying the row's reference, proves it was sent."""
    subscribers(2)
    campaign = started(db, funded)
    ids = [m.id for m in read.messages(campaign.id)]
    _fenced_then_killed(db, campaign, ids, hours_ago=60)
    db.session.add(
        UnmatchedDeliveryReport(
            provider_message_id="mitto-1",
            reference=str(ids[0]),
            raw_status="Delivered",
            payload="{}",
            received_at=now_utc(),
        )
    )
    db.session.commit()
    assert lifecycle.finish_if_done(campaign.id)  # nothing left to send: it closes
    db.session.commit()
    assert campaign_tasks.mark_never_sent.call_local() == 1  # only the row with no evidence
    rows = {m.id: m for m in read.messages(campaign.id)}
    assert rows[ids[0]].status == "unknown"
    assert (rows[ids[1]].status, rows[ids[1]].skip_reason) == ("skipped", "not_sent")


def test_rows_the_provider_cannot_answer_for_do_not_block_later_rows(
    db, funded, subscribers, read, monkeypatch
):
    subscribers(3)
    campaign = started(db, funded)
    ids = [m.id for m in read.messages(campaign.id)]
    _fenced_then_killed(db, campaign, ids, hours_ago=60)
    db.session.execute(
        update(Message).where(Message.id.in_(ids[:2])).values(provider_message_id="asked")
    )
    db.session.commit()
    assert lifecycle.finish_if_done(campaign.id)  # nothing left to send: it closes
    db.session.commit()
    monkeypatch.setattr(never_sent, "_provider_knows", lambda message_id: None)  # can't tell
    assert never_sent.mark(48, limit=2) == (0, ids[1])  # passed over, not looked at forever
    assert never_sent.mark(48, after_id=ids[1], limit=2) == (1, ids[2])
    assert never_sent.mark(48, after_id=ids[2], limit=2) == (0, None)
