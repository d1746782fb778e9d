"""Issue 10, items 11-14: Mitto callbacks survive NUL, long ids, bad references and forms.

One bad report never costs its batch the good ones, a reference never re-points a
message, and the signature is checked over the raw body whatever its content type.
"""

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select, update

from astronote.models import Campaign, Contact, InboundMessage, Message, UnmatchedDeliveryReport
from astronote.services.campaigns import lifecycle as campaigns
from astronote.services.campaigns.audience import Audience
from astronote.tasks.campaigns import fan_out

SECRET = "dlr-secret-for-hardening"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def sent(sim, funded, subscribers, db, read):
    """Three accepted messages (with provider ids), in id order."""
    subscribers(3)
    campaign = Campaign(shop_id=funded.id, name="C", body="Hi", audience=Audience().to_json())
    db.session.add(campaign)
    db.session.flush()
    campaigns.start(funded, campaign)
    db.session.commit()
    fan_out(campaign.id)
    messages = read.messages(campaign.id)
    assert all(m.status == "accepted" and m.provider_message_id for m in messages)
    return messages


def _at(minutes: int) -> str:
    return (datetime(2026, 11, 28, 12, 0, tzinfo=UTC) + timedelta(minutes=minutes)).isoformat()


def _message(db, message_id: int) -> Message:
    db.session.expire_all()
    return db.session.get(Message, message_id)


def _unmatched(db) -> int:
    query = select(func.count()).select_from(UnmatchedDeliveryReport)
    return db.session.execute(query).scalar_one()


def _signed(raw: bytes) -> dict:
    return {"X-Mitto-Signature": hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()}


# --------------------------------------------------------------------------- item 11


def test_nul_characters_in_reports_are_stripped_or_refused_per_report(client, sent, db):
    batch = [
        {"messageId": sent[0].provider_message_id, "status": "Deliv\u0000ered"},
        {"messageId": "evil\u0000id", "status": "delivered"},
        {"messageId": sent[1].provider_message_id, "status": "failed", "error": "ab\u0000sent"},
    ]
    response = client.post("/webhooks/mitto/dlr", json=batch)
    assert response.status_code == 200
    body = response.json
    assert (body["received"], body["applied"], body["rejected"]) == (3, 2, 1)
    assert _message(db, sent[0].id).status == "delivered"
    failed = _message(db, sent[1].id)
    assert (failed.status, failed.error) == ("failed", "absent")


def test_an_overlong_message_id_is_refused_alone(client, sent, db):
    batch = [
        {"messageId": "m" * 65, "status": "delivered"},
        {"messageId": sent[0].provider_message_id, "status": "delivered"},
    ]
    response = client.post("/webhooks/mitto/dlr", json=batch)
    assert response.status_code == 200
    assert (response.json["applied"], response.json["rejected"]) == (1, 1)
    assert response.json["unmatched"] == 0 and _unmatched(db) == 0
    assert _message(db, sent[0].id).status == "delivered"


# --------------------------------------------------------------------------- item 12


@pytest.mark.parametrize(
    "reference", ["9223372036854775808", 9223372036854775808, "²", "٣", "-1", "1e3", 10**30]
)
def test_a_bad_reference_never_fails_the_batch(client, sent, db, reference):
    batch = [
        {"messageId": "unknown-id", "reference": reference, "status": "delivered"},
        {"messageId": sent[0].provider_message_id, "status": "delivered"},
    ]
    response = client.post("/webhooks/mitto/dlr", json=batch)
    assert response.status_code == 200
    assert (response.json["applied"], response.json["unmatched"]) == (1, 1)
    assert _message(db, sent[0].id).status == "delivered"
    assert _unmatched(db) == 1  # kept for a later match by its id, like any early report


def test_reports_without_an_id_are_counted_as_refused(client, sent, db):
    batch = [{"status": "delivered"}, "text", {"messageId": sent[2].provider_message_id}]
    response = client.post("/webhooks/mitto/dlr", json=batch)
    assert response.status_code == 200
    assert (response.json["received"], response.json["rejected"]) == (3, 2)


def test_a_body_that_is_not_json_is_a_clear_400(client, sent):
    response = client.post("/webhooks/mitto/dlr", data=b"[1, 2", content_type="application/json")
    assert response.status_code == 400 and response.json["error"] == "invalid_payload"


# --------------------------------------------------------------------------- item 13


def test_a_reference_cannot_re_point_a_message_that_has_a_provider_id(client, sent, db):
    target = sent[1]
    forged = {"messageId": "other", "reference": str(target.id), "status": "failed"}
    response = client.post("/webhooks/mitto/dlr", json=forged)
    assert response.json["unmatched"] == 1 and response.json["applied"] == 0
    kept = _message(db, target.id)
    assert (kept.provider_message_id, kept.status) == (target.provider_message_id, "accepted")
    genuine = {"messageId": target.provider_message_id, "status": "delivered"}
    assert client.post("/webhooks/mitto/dlr", json=genuine).json["applied"] == 1
    assert _message(db, target.id).status == "delivered"


def test_a_reference_sets_a_missing_provider_id_once(client, sent, db):
    target = sent[0]
    db.session.execute(
        update(Message).where(Message.id == target.id).values(provider_message_id=None)
    )
    db.session.commit()
    first = {"messageId": "pid-a", "reference": str(target.id), "status": "delivered"}
    first["updatedAt"] = _at(1)
    second = {"messageId": "pid-b", "reference": str(target.id), "status": "failed"}
    second["updatedAt"] = _at(2)
    body = client.post("/webhooks/mitto/dlr", json=[first, second]).json
    assert (body["applied"], body["unmatched"]) == (1, 1)
    matched = _message(db, target.id)
    assert (matched.provider_message_id, matched.status) == ("pid-a", "delivered")
    later = {"messageId": "pid-c", "reference": str(target.id), "status": "failed"}
    later["updatedAt"] = _at(3)
    assert client.post("/webhooks/mitto/dlr", json=later).json["unmatched"] == 1
    assert _message(db, target.id).provider_message_id == "pid-a"


# --------------------------------------------------------------------------- item 14


def test_a_signed_form_encoded_report_is_accepted(app, client, sent, db):
    app.config["MITTO_WEBHOOK_SECRET"] = SECRET
    raw = urlencode({"messageId": sent[0].provider_message_id, "status": "delivered"}).encode()
    refused = client.post("/webhooks/mitto/dlr", data=raw, content_type=FORM)
    assert refused.status_code == 401
    response = client.post("/webhooks/mitto/dlr", data=raw, content_type=FORM, headers=_signed(raw))
    assert response.status_code == 200 and response.json["applied"] == 1
    assert _message(db, sent[0].id).status == "delivered"


def test_a_signed_form_encoded_reply_is_stored(app, client, sent, db):
    app.config["MITTO_WEBHOOK_SECRET"] = SECRET
    raw = urlencode({"from": sent[0].phone, "text": "Thanks!", "messageId": "mo-form"}).encode()
    response = client.post(
        "/webhooks/mitto/inbound", data=raw, content_type=FORM, headers=_signed(raw)
    )
    assert response.status_code == 200 and response.json["status"] == "stored"


# --------------------------------------------------------------------------- inbound (item 11)


def _inbound(db, provider_id: str) -> InboundMessage:
    query = select(InboundMessage).filter_by(provider_message_id=provider_id)
    return db.session.execute(query).scalar_one()


def test_a_stop_with_a_nul_character_still_unsubscribes(client, sent, db):
    sms = {"from": sent[0].phone, "text": "ST\u0000OP", "messageId": "mo-nul"}
    response = client.post("/webhooks/mitto/inbound", json=sms)
    assert response.status_code == 200 and response.json["keyword"] == "STOP"
    assert _inbound(db, "mo-nul").text == "STOP"
    contact = db.session.execute(select(Contact).filter_by(phone=sent[0].phone)).scalar_one()
    assert contact.consent_state == "unsubscribed"


def test_an_overlong_inbound_id_is_kept_and_still_deduplicates(client, sent, db):
    sms = {"from": sent[1].phone, "text": "hello", "messageId": "x" * 300}
    first = client.post("/webhooks/mitto/inbound", json=sms)
    assert first.status_code == 200 and first.json["status"] == "stored"
    again = client.post("/webhooks/mitto/inbound", json=sms)
    assert again.status_code == 200 and again.json["status"] == "duplicate"
    stored = db.session.execute(select(InboundMessage)).scalars().all()
    assert len(stored) == 1 and len(stored[0].provider_message_id) <= 64


def test_a_signed_multipart_report_is_accepted(app, client, sent, db):
    app.config["MITTO_WEBHOOK_SECRET"] = SECRET
    boundary = "b0undary"
    raw = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="messageId"\r\n\r\n'
        f"{sent[1].provider_message_id}\r\n"
        f'--{boundary}\r\nContent-Disposition: form-data; name="status"\r\n\r\n'
        f"delivered\r\n--{boundary}--\r\n"
    ).encode()
    content_type = f"multipart/form-data; boundary={boundary}"
    response = client.post(
        "/webhooks/mitto/dlr", data=raw, content_type=content_type, headers=_signed(raw)
    )
    assert response.status_code == 200 and response.json["applied"] == 1
    assert _message(db, sent[1].id).status == "delivered"
