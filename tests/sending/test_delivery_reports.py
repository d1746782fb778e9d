"""POST /webhooks/mitto/dlr: authenticated, bulk, idempotent, order-proof, nothing dropped."""

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from astronote.models import Campaign, Message, UnmatchedDeliveryReport
from astronote.services.campaigns import lifecycle as campaigns
from astronote.services.campaigns.audience import Audience
from astronote.services.sending import delivery_reports
from astronote.tasks.campaigns import fan_out

SECRET = "dlr-secret-for-tests"


@pytest.fixture
def sent(sim, funded, subscribers, db, read):
    """Three accepted messages, keyed by provider id."""
    subscribers(3)
    campaign = Campaign(shop_id=funded.id, name="C", body="Hi", audience=Audience().to_json())
    db.session.add(campaign)
    db.session.flush()
    campaigns.start(funded, campaign)
    db.session.commit()
    fan_out(campaign.id)
    return [m.provider_message_id for m in read.messages(campaign.id)]


def _at(minutes: int) -> str:
    return (datetime(2026, 11, 28, 12, 0, tzinfo=UTC) + timedelta(minutes=minutes)).isoformat()


def _status(db, provider_id):
    db.session.expire_all()
    query = select(Message).filter_by(provider_message_id=provider_id)
    return db.session.execute(query).scalar_one().status


def test_json_array_and_object_both_apply(client, sent, db):
    array = [
        {"messageId": sent[0], "deliveryStatus": "Delivered", "updatedAt": _at(1)},
        {"id": sent[1], "status": "UNDELIVERED", "error": "absent subscriber", "timestamp": _at(1)},
    ]
    assert client.post("/webhooks/mitto/dlr", json=array).json["applied"] == 2
    assert (
        client.post(
            "/webhooks/mitto/dlr", json={"MessageId": sent[2], "Status": "delivrd"}
        ).status_code
        == 200
    )
    assert [_status(db, p) for p in sent] == ["delivered", "failed", "delivered"]
    failed = db.session.execute(select(Message).filter_by(provider_message_id=sent[1])).scalar_one()
    assert failed.error == "absent subscriber" and failed.delivery_status == "UNDELIVERED"


def test_query_parameters_work_too(client, sent, db):
    response = client.post(f"/webhooks/mitto/dlr?messageId={sent[0]}&status=delivered")
    assert response.status_code == 200 and _status(db, sent[0]) == "delivered"


def test_final_state_is_sticky_and_newer_final_wins(client, sent, db):
    post = lambda **r: client.post("/webhooks/mitto/dlr", json={"messageId": sent[0], **r})  # noqa: E731
    post(status="delivered", updatedAt=_at(5))
    post(status="enroute", updatedAt=_at(9))  # in-flight after final: ignored
    assert _status(db, sent[0]) == "delivered"
    post(status="failed", updatedAt=_at(2))  # older final: ignored
    assert _status(db, sent[0]) == "delivered"
    post(status="expired", updatedAt=_at(7))  # newer final wins
    assert _status(db, sent[0]) == "failed"


def test_duplicates_in_one_batch_are_idempotent(client, sent, db):
    report = {"messageId": sent[0], "status": "delivered", "updatedAt": _at(1)}
    body = client.post("/webhooks/mitto/dlr", json=[report, report, report]).json
    assert body["applied"] == 1 and body["ignored"] == 2
    assert client.post("/webhooks/mitto/dlr", json=report).json["ignored"] == 1


def test_unknown_ids_are_kept_and_matched_later(client, sent, db):
    early = {"messageId": "not-yet-saved", "status": "delivered", "updatedAt": _at(1)}
    assert client.post("/webhooks/mitto/dlr", json=early).json["unmatched"] == 1
    assert (
        db.session.execute(select(func.count()).select_from(UnmatchedDeliveryReport)).scalar_one()
        == 1
    )
    message = db.session.execute(
        select(Message).filter_by(provider_message_id=sent[0])
    ).scalar_one()
    message.provider_message_id = "not-yet-saved"
    db.session.commit()
    assert delivery_reports.rematch() == 1
    db.session.commit()
    assert _status(db, "not-yet-saved") == "delivered"
    assert (
        db.session.execute(select(func.count()).select_from(UnmatchedDeliveryReport)).scalar_one()
        == 0
    )


def test_secret_is_required_when_configured(app, client, sent, db):
    app.config["MITTO_WEBHOOK_SECRET"] = SECRET
    raw = json.dumps({"messageId": sent[0], "status": "delivered"}).encode()
    assert client.post("/webhooks/mitto/dlr", data=raw).status_code == 401
    assert client.post("/webhooks/mitto/dlr?token=wrong", data=raw).status_code == 401
    bad = {"X-Mitto-Signature": "0" * 64}
    assert client.post("/webhooks/mitto/dlr", data=raw, headers=bad).status_code == 401
    assert _status(db, sent[0]) == "accepted"
    good = {"X-Mitto-Signature": hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()}
    assert client.post("/webhooks/mitto/dlr", data=raw, headers=good).status_code == 200
    assert client.post(f"/webhooks/mitto/dlr?token={SECRET}", data=raw).status_code == 200
    assert _status(db, sent[0]) == "delivered"


@pytest.mark.parametrize("body", [b"[1, 2", b'"just a string"', b"[[]]", b"\xff\xfe"])
def test_garbage_never_500s(client, sent, body):
    assert client.post("/webhooks/mitto/dlr", data=body).status_code < 500


def test_report_that_overtakes_the_send_is_held_then_applied(
    client, sim, funded, subscribers, db, read
):
    """A report for a row still `submitting` waits (its charge comes with leaving that state)."""
    from sqlalchemy import update

    subscribers(1)
    campaign = Campaign(shop_id=funded.id, name="C", body="Hi", audience=Audience().to_json())
    db.session.add(campaign)
    db.session.flush()
    campaigns.start(funded, campaign)
    db.session.commit()
    message = read.messages(campaign.id)[0]
    db.session.execute(
        update(Message)
        .where(Message.id == message.id)
        .values(status="submitting", claim_token="t1")
    )
    db.session.commit()
    early = {"messageId": "pid-1", "reference": str(message.id), "status": "delivered"}
    assert client.post("/webhooks/mitto/dlr", json=early).json["unmatched"] == 1
    assert read.messages(campaign.id)[0].status == "submitting"
    db.session.execute(
        update(Message)
        .where(Message.id == message.id)
        .values(status="accepted", provider_message_id="pid-1")
    )
    db.session.commit()
    assert delivery_reports.rematch(provider_ids=["pid-1"]) == 1
    db.session.commit()
    assert read.messages(campaign.id)[0].status == "delivered"
