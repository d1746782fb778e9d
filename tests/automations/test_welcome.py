"""Welcome: once per contact, whatever the source (storefront form, keyword, Shopify's
consent webhook, by hand); imports only when the merchant asks; quiet hours defer it and
an opt-out in between stops it."""

import time_machine
from sqlalchemy import select

from astronote.models import Contact, ShopSenderNumber
from astronote.services.automations import scans
from astronote.services.contacts import editing
from astronote.services.contacts.csv_rows import ContactRecord
from astronote.services.contacts.upsert import write_batch
from astronote.tasks.automations import dispatch_due_runs
from tests.automations.conftest import NOON, texts_to, tick
from tests.fakes import shopify_webhooks as payloads

PHONE = "+12125550123"


def _opt_in(client, shop, phone=PHONE, **fields):
    form = {"shop": shop.shop_domain, "phone": phone, "consent": True, **fields}
    return client.post("/api/opt-in", json=form)


def _contact(db, phone=PHONE) -> Contact:
    db.session.expire_all()
    return db.session.execute(select(Contact).filter_by(phone=phone)).scalar_one()


def test_a_storefront_opt_in_is_welcomed_once(client, sim, flows, funded, read):
    flows("welcome", discount_code="HELLO10")
    assert _opt_in(client, funded, first_name="Maya").status_code == 200
    [text] = texts_to(sim, PHONE)
    assert text.startswith("Welcome to Alpha, Maya! Here is 10% off your first order: HELLO10")
    assert text.endswith("Reply STOP to opt out")
    [run] = read.runs("welcome")
    assert run.status == "queued" and read.message(run.message_id).kind == "automation"
    assert _opt_in(client, funded).status_code == 200  # signs up again
    dispatch_due_runs()
    assert len(texts_to(sim, PHONE)) == 1


def test_a_keyword_start_welcomes_and_a_later_restart_does_not(client, sim, flows, person, db):
    flows("welcome")
    db.session.add(ShopSenderNumber(number="+14155550000", shop_id=person().shop_id))
    db.session.commit()
    newcomer = person("+12125550177", consent="not_subscribed")

    def inbound(text):
        body = {"from": newcomer.phone, "to": "+14155550000", "text": text}
        assert client.post("/webhooks/mitto/inbound", json=body).status_code == 200

    inbound("START")
    welcomes = [t for t in texts_to(sim, newcomer.phone) if t.startswith("Welcome")]
    assert len(welcomes) == 1
    inbound("STOP")
    inbound("START")  # back again: the confirmation, but no second welcome
    welcomes = [t for t in texts_to(sim, newcomer.phone) if t.startswith("Welcome")]
    assert len(welcomes) == 1


def test_shopify_consent_webhook_welcomes_a_checkout_subscriber(sim, flows, shopify, read):
    flows("welcome")
    shopify.deliver("customers_marketing_consent/update", payloads.consent(501, PHONE))
    assert len(texts_to(sim, PHONE)) == 1
    shopify.redeliver_last()
    shopify.resend_as_new()
    assert len(texts_to(sim, PHONE)) == 1 and len(read.runs()) == 1


def test_a_contact_subscribed_by_hand_is_welcomed(sim, flows, funded, db):
    flows("welcome")
    data = editing.ContactInput(phone=PHONE, consent_state="subscribed", consent_attested=True)
    editing.create_contact(funded, data, "added by the merchant")
    db.session.commit()
    assert len(texts_to(sim, PHONE)) == 1


def test_imports_are_welcomed_only_when_the_merchant_includes_them(sim, flows, funded, db, read):
    flows("welcome")
    record = ContactRecord(line=2, phone=PHONE, consent="subscribed")
    write_batch(funded.id, 0, {"consent"}, [record], evidence="import")
    db.session.commit()
    assert scans.run_daily(funded.id) == {}
    db.session.commit()
    assert texts_to(sim, PHONE) == [] and read.runs() == []
    flows("welcome", include_imports=True)
    assert scans.run_daily(funded.id) == {"welcome": 1}
    db.session.commit()  # wakes the dispatcher
    assert len(texts_to(sim, PHONE)) == 1
    assert scans.run_daily(funded.id) == {"welcome": 0}
    db.session.commit()
    assert len(texts_to(sim, PHONE)) == 1


def test_quiet_hours_defer_the_welcome_and_an_opt_out_meanwhile_stops_it(
    client, sim, flows, quiet, db, read
):
    flows("welcome")
    night = NOON.replace(hour=4)  # 23:00 in New York
    with time_machine.travel(night, tick=False):
        assert _opt_in(client, quiet).status_code == 200
    [run] = read.runs()
    assert run.status == "scheduled" and run.due_at == NOON.replace(hour=13)
    contact = _contact(db)
    editing.record_consent(contact, "unsubscribed", editing.ConsentSource.KEYWORD, "STOP")
    db.session.commit()
    tick(NOON.replace(hour=13, minute=2))
    assert texts_to(sim, PHONE) == []
    [run] = read.runs()
    assert (run.status, run.skip_reason) == ("skipped", "opted_out")


def test_quiet_hours_then_morning_sends_it(client, sim, flows, quiet, read):
    flows("welcome")
    with time_machine.travel(NOON.replace(hour=4), tick=False):
        _opt_in(client, quiet)
    tick(NOON.replace(hour=12, minute=59))
    assert texts_to(sim, PHONE) == []
    tick(NOON.replace(hour=13, minute=1))
    tick(NOON.replace(hour=13, minute=2))
    assert len(texts_to(sim, PHONE)) == 1


def test_double_opt_in_welcomes_after_the_yes_not_before(client, sim, flows, funded, db):
    flows("welcome")
    funded.double_opt_in = True
    db.session.add(ShopSenderNumber(number="+14155550000", shop_id=funded.id))
    db.session.commit()
    assert _opt_in(client, funded).status_code == 200
    [confirm] = texts_to(sim, PHONE)
    assert "Reply YES" in confirm
    body = {"from": PHONE, "to": "+14155550000", "text": "YES"}
    assert client.post("/webhooks/mitto/inbound", json=body).status_code == 200
    welcomes = [t for t in texts_to(sim, PHONE) if t.startswith("Welcome to Alpha")]
    assert len(welcomes) == 1
