"""Send now answers at once: the snapshot and the reservation happen in a task.

Huey runs tasks inline in tests, so these tests hold the enqueued start back to see
the state between the request and the worker.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from astronote.models import Campaign, CreditLedgerEntry, Message
from astronote.services import credits
from astronote.tasks.campaigns import start_scheduled
from astronote.views import campaigns as campaign_views
from tests.sending.test_campaign_views import create, form, hx, location, text


@pytest.fixture
def held(monkeypatch):
    """Enqueued tasks, captured instead of run."""
    calls = []
    monkeypatch.setattr(campaign_views, "enqueue_safely", lambda task, *a: calls.append((task, a)))
    return calls


def _count(db, model, **where) -> int:
    return db.session.execute(select(func.count()).select_from(model).filter_by(**where)).scalar()


def test_send_now_returns_before_the_snapshot_and_the_worker_sends(
    client, db, funded, subscribers, sim, read, held
):
    phones = subscribers(8)
    campaign_id = create(client, funded)
    response = client.post(
        f"/campaigns/{campaign_id}/send", data={"confirm": "yes"}, headers=hx(funded)
    )
    assert location(response) == f"/campaigns/{campaign_id}"
    assert "Sending to 8 recipients" in response.headers["HX-Trigger"]
    assert held == [(start_scheduled, (campaign_id,))]
    assert read.campaign(campaign_id).status == "scheduled"
    assert _count(db, Message, campaign_id=campaign_id) == 0  # no snapshot in the request
    assert credits.balance(funded.id).reserved == 0

    progress = client.get(f"/campaigns/{campaign_id}/progress", headers=hx(funded))
    fragment = text(progress)
    assert progress.status_code == 200 and "hx-trigger" in fragment  # keeps polling
    assert 'id="campaign-starting"' in fragment and "Edit</a>" not in fragment

    task, args = held.pop()
    task(*args)  # the worker's turn: snapshot, reserve, fan out (inline here)
    assert read.campaign(campaign_id).status == "completed"
    assert sim.sends_per_phone() == Counter({p: 1 for p in phones})
    fragment = text(client.get(f"/campaigns/{campaign_id}/progress", headers=hx(funded)))
    assert 'data-status="completed"' in fragment and "campaign-starting" not in fragment


def test_credits_spent_before_the_worker_starts_fail_the_campaign_cleanly(
    client, db, make_shop, subscribers, sim, read, held
):
    shop = make_shop("tight.myshopify.com", default_region="US")
    credits.grant(shop.id, 3, "grant", "test")
    db.session.commit()
    subscribers(3, start=7000, shop=shop)
    campaign_id = create(client, shop)
    response = client.post(
        f"/campaigns/{campaign_id}/send", data={"confirm": "yes"}, headers=hx(shop)
    )
    assert location(response) == f"/campaigns/{campaign_id}"
    credits.reserve(shop.id, 2, "elsewhere", None)  # another send took the credits meanwhile
    db.session.commit()

    task, args = held.pop()
    task(*args)
    campaign = read.campaign(campaign_id)
    assert campaign.status == "failed"
    assert "needs 3 credits but only 1 are available" in campaign.failure_reason
    assert _count(db, Message, campaign_id=campaign_id) == 0 and sim.sends_per_phone() == Counter()
    assert _count(db, CreditLedgerEntry, shop_id=shop.id, campaign_id=campaign_id) == 0
    fragment = text(client.get(f"/campaigns/{campaign_id}/progress", headers=hx(shop)))
    assert "needs 3 credits" in fragment and 'data-status="failed"' in fragment


def test_a_cancel_before_the_worker_starts_wins(client, db, funded, subscribers, sim, read, held):
    subscribers(4)
    campaign_id = create(client, funded)
    client.post(f"/campaigns/{campaign_id}/send", data={"confirm": "yes"}, headers=hx(funded))
    assert location(client.post(f"/campaigns/{campaign_id}/cancel", headers=hx(funded)))
    task, args = held.pop()
    task(*args)
    assert read.campaign(campaign_id).status == "cancelled"
    assert _count(db, Message, campaign_id=campaign_id) == 0 and sim.sends_per_phone() == Counter()


def test_a_starting_campaign_cannot_be_edited_or_moved_and_a_moved_one_waits(
    client, db, funded, subscribers, sim, read, held
):
    subscribers(3)
    campaign_id = create(client, funded)
    client.post(f"/campaigns/{campaign_id}/send", data={"confirm": "yes"}, headers=hx(funded))
    later = (datetime.now(ZoneInfo(funded.timezone)) + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M")
    edit = client.post(
        f"/campaigns/{campaign_id}",
        data=form(scheduled_at=later, intent="schedule"),
        headers=hx(funded),
    )
    assert edit.status_code == 409 and "starting" in text(edit)
    assert client.get(f"/campaigns/{campaign_id}/edit", headers=hx(funded)).status_code == 409
    # Moved to next week by any other path before the worker ran: the start waits for it.
    campaign = db.session.get(Campaign, campaign_id)
    campaign.scheduled_at = datetime.now(UTC) + timedelta(days=7)
    db.session.commit()
    task, args = held.pop()
    task(*args)
    assert read.campaign(campaign_id).status == "scheduled"
    assert _count(db, Message, campaign_id=campaign_id) == 0 and sim.sends_per_phone() == Counter()


@pytest.mark.parametrize("when", ["9999-12-31T23:59", "2100-01-01T10:00"])
def test_a_schedule_beyond_a_year_is_a_field_error(client, db, funded, when):
    response = client.post(
        "/campaigns", data=form(scheduled_at=when, intent="schedule"), headers=hx(funded)
    )
    assert response.status_code == 422
    assert "within the next year" in text(response) or "Pick a date" in text(response)
    assert _count(db, Campaign) == 0
