"""customers/redact blanks the placeholder values of the customer's flow runs, only theirs."""

from datetime import UTC, datetime

from sqlalchemy import select

from astronote.models import AutomationRun, Contact, Message
from tests.fakes.shopify_server import customer_payload
from tests.shopify.conftest import SHOP

ADA, BOB = "+14155550101", "+14155550102"
CONTEXT = {"first_name": "Ada", "order_name": "#1042", "tracking_url": "https://ups.example/1Z"}


def _run(db, shop, phone, step, with_message) -> None:
    contact_id = db.session.execute(select(Contact.id).filter_by(phone=phone)).scalar_one()
    message_id = None
    if with_message:  # a run found through its message (its contact id may differ)
        message = Message(shop_id=shop.id, contact_id=contact_id, kind="automation",
                          phone=phone, status="accepted", segments=1)  # fmt: skip
        db.session.add(message)
        db.session.flush()
        message_id = message.id
    db.session.add(
        AutomationRun(
            shop_id=shop.id,
            flow="order_confirmation",
            trigger_key=f"order:{phone}",
            step=step,
            contact_id=None if with_message else contact_id,
            due_at=datetime(2026, 12, 1, tzinfo=UTC),
            status="queued",
            message_id=message_id,
            context=dict(CONTEXT),
        )  # fmt: skip
    )


def test_customer_redact_blanks_their_flow_runs_context(installed, deliver, db):
    deliver("customers/create", customer_payload(501, ADA))
    deliver("customers/create", customer_payload(502, BOB))
    for phone in (ADA, BOB):
        _run(db, installed, phone, 0, with_message=False)
        _run(db, installed, phone, 1, with_message=True)
    db.session.commit()

    response = deliver("customers/redact", {"shop_domain": SHOP, "customer": {"id": 501}})
    assert response.status_code == 200
    db.session.expire_all()
    runs = db.session.execute(select(AutomationRun).order_by(AutomationRun.id)).scalars().all()
    assert [(r.trigger_key, r.step, r.context) for r in runs] == [
        (f"order:{ADA}", 0, {}),
        (f"order:{ADA}", 1, {}),
        (f"order:{BOB}", 0, CONTEXT),
        (f"order:{BOB}", 1, CONTEXT),
    ]
    assert {r.status for r in runs} == {"queued"}  # the outcome stays for the flow's results
