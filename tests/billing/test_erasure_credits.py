"""customers/redact gives a queued one-off message back what it reserved: its price in
credits (a UK number costs 3 per segment), not its segment count."""

from __future__ import annotations

from sqlalchemy import select

from astronote.models import Contact, Message
from astronote.services import credits
from astronote.services.contacts.csv_rows import ContactRecord
from astronote.services.contacts.upsert import write_batch
from astronote.services.sending import single as single_send
from tests.shopify.conftest import SHOP

UK = "+447911123456"


def test_redact_releases_a_queued_messages_credits_not_its_segments(installed, deliver, db):
    record = ContactRecord(line=0, phone=UK, first_name="Ada", consent="subscribed")
    write_batch(installed.id, 0, {"first_name", "consent"}, [record], evidence="test")
    credits.grant(installed.id, 100, "grant", "test")
    contact = db.session.execute(select(Contact).filter_by(phone=UK)).scalar_one()
    reply = single_send.queue_single(installed, contact, "Your order is on its way", "reply")
    db.session.commit()
    assert reply.credits == 3 * reply.segments  # the UK price
    assert credits.balance(installed.id) == credits.Balance(100 - reply.credits, reply.credits)

    deliver("customers/redact", {"shop_domain": SHOP, "customer": {"id": 777, "phone": UK}})
    db.session.expire_all()
    assert db.session.get(Message, reply.id).status == "skipped"
    assert credits.balance(installed.id) == credits.Balance(100, 0)
    assert credits.ledger_totals(installed.id) == credits.balance(installed.id)
