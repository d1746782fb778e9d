"""When the queue is down, nothing is lost: deliveries and imports are swept up later."""

import io
from datetime import timedelta

from sqlalchemy import select, update

from astronote.models import ContactImport, Order, WebhookEvent
from astronote.services.contacts import csv_import as contact_import
from astronote.tasks import periodic
from tests.shopify.conftest import as_json, iso


def _queue_down(monkeypatch, module, name):
    def refuse(*args, **kwargs):
        raise ConnectionError("redis is down")

    refuse.name = name
    monkeypatch.setattr(module, name, refuse)


def test_webhook_recorded_while_queue_is_down_is_processed_by_the_sweeper(
    installed, deliver, db, monkeypatch
):
    from astronote.views import webhooks

    _queue_down(monkeypatch, webhooks, "process_webhook")
    response = deliver("orders/create", {"id": 31, "created_at": iso(), "total_price": "5"})
    assert response.status_code == 200 and as_json(response)["status"] == "accepted"
    event = db.session.execute(select(WebhookEvent)).scalar_one()
    assert event.status == "received"
    assert periodic.sweep_webhook_events.call_local() == 0  # within the grace period
    db.session.execute(
        update(WebhookEvent).values(received_at=event.received_at - timedelta(minutes=5))
    )
    db.session.commit()
    assert periodic.sweep_webhook_events.call_local() == 1
    db.session.expire_all()
    assert db.session.execute(select(WebhookEvent)).scalar_one().status == "processed"
    assert db.session.execute(select(Order)).scalar_one().shopify_order_id == 31


def test_stalled_import_is_requeued_and_finishes(shop, db, monkeypatch):
    job = contact_import.store_upload(
        shop, io.BytesIO(b"phone\n+14155550123\n"), "c.csv", "utf-8", 1 << 20
    )
    db.session.commit()
    assert periodic.sweep_stalled_imports.call_local() == 0
    db.session.execute(update(ContactImport).values(updated_at=job.created_at - timedelta(hours=1)))
    db.session.commit()
    assert periodic.sweep_stalled_imports.call_local() == 1  # Huey runs it inline in tests
    db.session.expire_all()
    assert db.session.get(ContactImport, job.id).status == "completed"
