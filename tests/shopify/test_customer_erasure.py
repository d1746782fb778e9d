"""customers/redact erases what we sent to and heard from the customer, and only theirs."""

from sqlalchemy import func, select

from astronote.models import (
    Campaign,
    ComplianceRecord,
    Contact,
    InboundMessage,
    Message,
    StorefrontSubmission,
)
from tests.fakes.shopify_server import consent_payload, customer_payload
from tests.shopify.conftest import SHOP

ADA, BOB = "+14155550101", "+14155550102"


def _contact_id(db, phone) -> int:
    return db.session.execute(select(Contact.id).filter_by(phone=phone)).scalar_one()


def _history(db, shop, campaign, phone, first) -> None:
    contact_id = _contact_id(db, phone)
    for status in ("accepted", "queued"):
        db.session.add(
            Message(
                shop_id=shop.id,
                # A campaign message still queued, and a reply that went out.
                campaign_id=campaign.id if status == "queued" else None,
                kind="campaign" if status == "queued" else "reply",
                contact_id=contact_id,
                phone=phone,
                first_name=first,
                body=f"Hi {first}, 20% off today" if status == "accepted" else None,
                status=status,
                segments=1,
            )
        )
    db.session.add(
        InboundMessage(shop_id=shop.id, contact_id=contact_id, from_number=phone, text="Hi!",
                       payload="{}")
    )  # fmt: skip
    db.session.add(StorefrontSubmission(shop_id=shop.id, phone=phone, message="Call me"))


def test_customer_redact_erases_their_messages_replies_and_forms(installed, deliver, db):
    for customer_id, phone, first in ((501, ADA, "Ada"), (502, BOB, "Bob")):
        deliver("customers/create", {"id": customer_id, "phone": phone, "first_name": first})
    campaign = Campaign(shop_id=installed.id, name="Spring", body="Hi {{first_name}}")
    db.session.add(campaign)
    db.session.flush()
    _history(db, installed, campaign, ADA, "Ada")
    _history(db, installed, campaign, BOB, "Bob")
    db.session.add(StorefrontSubmission(shop_id=installed.id, email="ada@example.com", message="x"))
    db.session.commit()

    response = deliver(
        "customers/redact",
        {"shop_domain": SHOP, "customer": {"id": 501, "email": "ADA@example.com", "phone": ADA}},
    )
    assert response.status_code == 200
    db.session.expire_all()
    rows = db.session.execute(select(Message).order_by(Message.id)).scalars().all()
    ada = [m for m in rows if m.phone != BOB]
    assert {(m.phone, m.first_name, m.body, m.contact_id) for m in ada} == {
        ("redacted", None, None, None)
    }
    assert sorted(m.status for m in ada) == ["accepted", "skipped"]  # the queued one never goes
    assert [m.skip_reason for m in ada if m.status == "skipped"] == ["redacted"]
    assert sum(m.segments for m in ada) == 2  # the books keep what existed and its cost
    bob = [m for m in rows if m.phone == BOB]
    assert {(m.first_name, m.status) for m in bob} == {("Bob", "accepted"), ("Bob", "queued")}
    assert all(m.contact_id == _contact_id(db, BOB) for m in bob)
    senders = db.session.execute(select(InboundMessage.from_number)).scalars().all()
    assert senders == [BOB]
    forms = db.session.execute(select(StorefrontSubmission.phone)).scalars().all()
    assert forms == [BOB]
    action = db.session.execute(select(ComplianceRecord.action)).scalar_one()
    assert "erased 2 message(s) (1 not yet sent, now never), 1 reply(ies)" in action
    assert "2 form submission(s)" in action
    assert db.session.execute(select(func.count()).select_from(Contact)).scalar_one() == 1


def test_a_queued_one_off_message_gives_its_credits_back(installed, deliver, db):
    from astronote.services import credits
    from astronote.services.sending import single as single_send

    deliver("customers/create", customer_payload(501, ADA))
    deliver(
        "customers_marketing_consent/update",
        consent_payload(501, ADA, updated_at="2026-11-01T00:00:00Z"),
    )
    credits.grant(installed.id, 100, "grant", "test")
    contact = db.session.execute(select(Contact).filter_by(phone=ADA)).scalar_one()
    reply = single_send.queue_single(installed, contact, "Your order is on its way", "reply")
    db.session.commit()
    assert credits.balance(installed.id).reserved == reply.segments > 0

    deliver("customers/redact", {"shop_domain": SHOP, "customer": {"id": 501, "phone": ADA}})
    db.session.expire_all()
    assert db.session.get(Message, reply.id).status == "skipped"
    assert credits.balance(installed.id) == credits.Balance(100, 0)
    assert credits.ledger_totals(installed.id) == credits.balance(installed.id)
