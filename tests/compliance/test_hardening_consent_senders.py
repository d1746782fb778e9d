"""Issue #10 item 6: a sender allowed in each destination country, checked in Settings,
and a demo seed that obeys the same rule."""

from sqlalchemy import select

from astronote.devtools import demo
from astronote.models import Campaign, Contact, Message, Shop, ShopSenderNumber
from astronote.services.campaigns import lifecycle as campaigns
from astronote.services.campaigns.audience import Audience
from astronote.services.contacts.csv_rows import ContactRecord
from astronote.services.contacts.upsert import write_batch
from astronote.services.sending import senders
from astronote.services.sending import single as single_send
from astronote.tasks.campaigns import fan_out, send_single
from tests.conftest import bearer

US = ["+14155551001", "+14155551002"]
CA = "+14165550123"
GR = "+306912345678"
SHOP_NUMBER = "+14155550000"


def _contacts(db, shop, phones):
    records = [ContactRecord(line=i, phone=p, consent="subscribed") for i, p in enumerate(phones)]
    write_batch(shop.id, 0, {"consent"}, records, evidence="test")
    db.session.commit()


def _campaign(db, shop) -> Campaign:
    campaign = Campaign(shop_id=shop.id, name="Mixed", body="Sale!", audience=Audience().to_json())
    db.session.add(campaign)
    db.session.commit()
    assert campaigns.start(shop, campaign) > 0
    db.session.commit()
    fan_out(campaign.id)
    return campaign


def _senders_by_destination(sim) -> dict[str, str]:
    return {record["destination"]: record["sender"] for record in sim.accepted}


def test_campaign_uses_shop_number_for_us_and_ca_and_alphanumeric_elsewhere(sim, funded, db):
    funded.sender_id = "MyShop"
    db.session.add(ShopSenderNumber(number=SHOP_NUMBER, shop_id=funded.id))
    db.session.commit()
    _contacts(db, funded, [*US, CA, GR])
    _campaign(db, funded)
    assert _senders_by_destination(sim) == {
        US[0]: SHOP_NUMBER,
        US[1]: SHOP_NUMBER,
        CA: SHOP_NUMBER,
        GR: "MyShop",
    }


def test_without_a_number_us_rows_fail_before_the_provider_and_others_still_go(
    sim, funded, db, read
):
    funded.sender_id = "MyShop"
    db.session.commit()
    _contacts(db, funded, [*US, GR])
    campaign = _campaign(db, funded)
    assert _senders_by_destination(sim) == {GR: "MyShop"}  # no alphanumeric to the US
    statuses = {m.phone: m.status for m in read.messages(campaign.id)}
    assert statuses == {US[0]: "failed", US[1]: "failed", GR: "accepted"}


def test_one_off_sends_take_the_same_path(sim, funded, db):
    funded.sender_id = None
    db.session.add(ShopSenderNumber(number=SHOP_NUMBER, shop_id=funded.id))
    db.session.commit()
    _contacts(db, funded, [US[0], GR])
    for phone in (US[0], GR):
        contact = db.session.execute(select(Contact).filter_by(phone=phone)).scalar_one()
        message = single_send.queue_single(funded, contact, "Your order shipped", "test")
        db.session.commit()
        send_single(message.id)
    assert _senders_by_destination(sim) == {US[0]: SHOP_NUMBER, GR: senders.DEFAULT_SENDER}
    db.session.expire_all()
    assert {m.status for m in db.session.execute(select(Message)).scalars()} == {"accepted"}


def test_an_explicit_us_number_sender_id_wins(app, funded, db):
    db.session.add(ShopSenderNumber(number=SHOP_NUMBER, shop_id=funded.id))
    funded.sender_id = "+14155550100"
    db.session.commit()
    assert senders.sender_for(funded, US[0]) == "+14155550100"
    funded.sender_id = "MyShop"
    db.session.commit()
    assert senders.sender_for(funded, US[0]) == SHOP_NUMBER
    assert senders.sender_for(funded, GR) == "MyShop"
    assert senders.sender_for(funded, "+17875550123") == SHOP_NUMBER  # Puerto Rico
    assert senders.sender_for(funded, "+18765550123") == "MyShop"  # Jamaica allows it


def _save_settings(client, shop, region, sender):
    return client.post(
        "/settings",
        data={"default_region": region, "timezone": "UTC", "sender_id": sender},
        headers={**bearer(shop.shop_domain), "HX-Request": "true"},
    )


def test_settings_refuse_an_alphanumeric_sender_for_a_us_or_ca_shop(client, shop, db):
    for region in ("US", "CA"):
        response = _save_settings(client, shop, region, "MyShop")
        assert response.status_code == 422
        assert "carriers refuse alphanumeric senders" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Shop, shop.id).sender_id is None
    assert _save_settings(client, shop, "US", "+14155550123").status_code == 200
    assert _save_settings(client, shop, "GR", "MyShop").status_code == 200
    db.session.expire_all()
    saved = db.session.get(Shop, shop.id)
    assert (saved.default_region, saved.sender_id) == ("GR", "MyShop")


def test_settings_warn_a_us_shop_that_has_no_number(client, shop, doc_auth, db):
    page = client.get("/settings", headers=doc_auth).get_data(as_text=True)
    assert 'id="sender-warning"' in page and "cannot be sent until you add a +1 number" in page
    db.session.add(ShopSenderNumber(number=SHOP_NUMBER, shop_id=shop.id))
    db.session.commit()
    page = client.get("/settings", headers=doc_auth).get_data(as_text=True)
    assert 'id="sender-warning"' not in page


def test_demo_seed_is_valid_and_an_old_seed_is_repaired(app, db):
    shop, created = demo.seed_demo_shop(contacts=30)
    assert created
    assert senders.settings_error(shop.default_region, shop.sender_id) is None
    assert senders.warning_for(shop) is None
    us_phone = (
        db.session.execute(
            select(Contact.phone).filter_by(shop_id=shop.id).where(Contact.phone.startswith("+1"))
        )
        .scalars()
        .first()
    )
    assert senders.sender_for(shop, us_phone) == demo.DEMO_NUMBER
    shop.sender_id = "Astronote"  # what earlier seeds stored
    db.session.execute(ShopSenderNumber.__table__.delete())
    db.session.commit()
    again, created = demo.seed_demo_shop(contacts=30)
    assert not created and again.id == shop.id
    db.session.expire_all()
    assert senders.settings_error(again.default_region, again.sender_id) is None
    assert senders.plan_for(again).number == demo.DEMO_NUMBER
