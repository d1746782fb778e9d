"""Deliveries that can never be processed: bounded attempts, `dead`, listed and replayed from
the CLI; NUL characters; header checks (payload shop, Shopify's retry horizon)."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from astronote.models import Contact, Order, WebhookEvent
from astronote.services.shopify import orders, webhook_events
from astronote.tasks import periodic
from tests.conftest import TEST_API_SECRET
from tests.fakes.shopify_server import customer_payload, signed_webhook
from tests.shopify.conftest import SHOP, as_json, iso


def _events(db) -> list[WebhookEvent]:
    db.session.expire_all()
    return list(db.session.execute(select(WebhookEvent).order_by(WebhookEvent.id)).scalars())


def _age_events(db, minutes=5) -> None:
    db.session.execute(
        update(WebhookEvent).values(received_at=datetime.now(UTC) - timedelta(minutes=minutes))
    )
    db.session.commit()


def _post(client, topic, payload, **header_overrides):
    body, headers = signed_webhook(TEST_API_SECRET, topic, SHOP, payload)
    headers.update(header_overrides)
    return client.post("/webhooks/shopify", data=body, headers=headers)


@pytest.mark.parametrize("body", [b"[]", b"null", b'"a string"', b"5"])
def test_signed_bodies_that_are_not_objects_get_a_clear_400(installed, client, db, body):
    response = _post(client, "orders/create", body)
    assert response.status_code == 400 and as_json(response)["error"] == "invalid_json"
    assert _events(db) == []


def test_an_event_that_keeps_failing_goes_dead_then_replays_from_the_cli(
    app, installed, deliver, db, monkeypatch
):
    def broken(shop, payload):
        raise RuntimeError("orders table is locked")

    monkeypatch.setattr(orders, "record_order", broken)
    deliver("orders/create", {"id": 71, "created_at": iso(), "total_price": "5"})
    (event,) = _events(db)
    assert (event.status, event.attempts) == ("received", 1)
    assert "orders table is locked" in event.error
    for _ in range(webhook_events.MAX_ATTEMPTS + 2):  # more sweeps than attempts allowed
        _age_events(db)
        periodic.sweep_webhook_events.call_local()
    (event,) = _events(db)
    assert (event.status, event.attempts) == ("dead", webhook_events.MAX_ATTEMPTS)
    assert event.payload  # kept, so the event can be replayed
    assert periodic.sweep_webhook_events.call_local() == 0  # dead events leave the sweep

    runner = app.test_cli_runner()
    listing = runner.invoke(args=["astronote", "webhooks", "list"])
    assert listing.exit_code == 0
    assert f"{event.id}\t" in listing.output and "orders table is locked" in listing.output

    monkeypatch.undo()  # the cause is fixed
    replay = runner.invoke(args=["astronote", "webhooks", "replay", str(event.id)])
    assert replay.exit_code == 0, replay.output
    assert "processed" in replay.output
    (event,) = _events(db)
    assert event.status == "processed" and event.error is None
    assert db.session.execute(select(Order)).scalar_one().shopify_order_id == 71
    again = runner.invoke(args=["astronote", "webhooks", "replay", str(event.id)])
    assert again.exit_code != 0 and "already processed" in again.output


def test_a_non_integer_customer_id_dies_with_its_error(installed, deliver, db):
    deliver("customers/create", customer_payload("not-a-number", "+14155550123"))
    for _ in range(webhook_events.MAX_ATTEMPTS):
        _age_events(db)
        periodic.sweep_webhook_events.call_local()
    (event,) = _events(db)
    assert event.status == "dead" and "not a Shopify customer id" in event.error


def test_failing_events_do_not_starve_new_ones(installed, deliver, db, monkeypatch):
    from astronote.views import webhooks

    monkeypatch.setattr(webhooks, "enqueue_safely", lambda *args: False)  # queue down
    for n in range(3):
        deliver("orders/create", {"id": 100 + n, "created_at": iso(), "total_price": "1"})
    db.session.execute(update(WebhookEvent).values(attempts=webhook_events.MAX_ATTEMPTS - 1))
    db.session.commit()
    deliver("orders/create", {"id": 200, "created_at": iso(), "total_price": "1"})
    _age_events(db)
    newest = _events(db)[-1]
    cutoff = datetime.now(UTC)
    assert webhook_events.due_ids(cutoff, limit=1) == [newest.id]


def test_a_nul_in_a_signed_payload_is_stripped_and_processed(installed, deliver, db):
    payload = customer_payload(81, "+14155550181", first_name="A\u0000da", email="a\u0000@x.io")
    response = deliver("customers/create", payload)
    assert response.status_code == 200
    (event,) = _events(db)
    assert event.status == "processed", event.error
    contact = db.session.execute(select(Contact)).scalar_one()
    assert contact.first_name == "Ada" and contact.shopify_customer_id == 81


def test_payload_shop_must_match_the_header(installed, client, db):
    other = {"shop_id": 1, "shop_domain": "other.myshopify.com"}
    response = _post(client, "shop/redact", other)
    assert response.status_code == 400 and as_json(response)["error"] == "shop_mismatch"
    response = _post(client, "customers/redact", {"shop_domain": 5, "customer": {"id": 1}})
    assert response.status_code == 400
    assert _events(db) == []
    same = _post(client, "customers/redact", {"shop_domain": SHOP.upper(), "customer": {"id": 1}})
    assert same.status_code == 200 and as_json(same)["status"] == "accepted"


def test_deliveries_older_than_shopifys_retry_horizon_are_ignored(installed, client, db):
    def triggered(hours):
        when = datetime.now(UTC) - timedelta(hours=hours)
        return when.isoformat().replace("+00:00", "Z")

    stale = _post(
        client,
        "orders/create",
        {"id": 91, "created_at": iso()},
        **{"X-Shopify-Triggered-At": triggered(6)},
    )
    assert stale.status_code == 200 and as_json(stale) == {"status": "ignored", "reason": "stale"}
    assert _events(db) == []
    last_retry = _post(
        client,
        "orders/create",
        {"id": 92, "created_at": iso()},
        **{"X-Shopify-Triggered-At": triggered(4)},
    )
    assert as_json(last_retry)["status"] == "accepted"
    count = db.session.execute(select(func.count()).select_from(Order)).scalar_one()
    assert count == 1
