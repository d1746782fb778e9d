"""Install by token exchange, token refresh, uninstall and reinstall, end to end."""

from datetime import timedelta

from sqlalchemy import func, select

from astronote.integrations.shopify.admin_api import customers_page
from astronote.models import Contact, CustomerSync, Shop, now_utc
from astronote.services.shopify import tokens as shop_tokens
from tests.conftest import TEST_API_KEY, TEST_API_SECRET
from tests.fakes.shopify_server import sign_session_token
from tests.shopify.conftest import SHOP


def _shop(db) -> Shop:
    db.session.expire_all()
    return db.session.execute(select(Shop).filter_by(shop_domain=SHOP)).scalar_one()


def test_first_load_exchanges_the_token_and_stores_it_encrypted(open_app, shopify, db):
    response = open_app()
    assert response.status_code == 200
    csp = response.headers["Content-Security-Policy"]
    assert csp == f"frame-ancestors https://{SHOP} https://admin.shopify.com;"
    assert 'name="shopify-api-key"' in response.get_data(as_text=True)
    exchange = [r for r in shopify.requests if r.path == f"/{SHOP}/admin/oauth/access_token"]
    assert len(exchange) == 1
    body = exchange[0].json() if hasattr(exchange[0], "json") else None
    shop = _shop(db)
    token = shop_tokens.decrypt(shop.access_token_enc)
    assert token.startswith("shpat_") and token in shopify.access_tokens
    assert token not in (shop.access_token_enc or "")
    assert shop_tokens.decrypt(shop.refresh_token_enc).startswith("shprt_")
    assert shop.access_token_expires_at > now_utc() + timedelta(minutes=50)
    assert body is None or body["expiring"] == 1
    open_app()
    again = [r for r in shopify.requests if r.path.endswith("/admin/oauth/access_token")]
    assert len(again) == 1  # a second load reuses the stored token


def test_install_syncs_shopify_customers_with_consent(open_app, shopify, db):
    shopify.add_customer(SHOP, phone="+14155550101", sms_state="SUBSCRIBED", firstName="Ada")
    shopify.add_customer(SHOP, phone="+14155550102", sms_state="UNSUBSCRIBED")
    shopify.add_customer(SHOP, phone="12", sms_state="SUBSCRIBED")  # not a phone number
    open_app()
    contacts = {c.phone: c for c in db.session.execute(select(Contact)).scalars()}
    assert set(contacts) == {"+14155550101", "+14155550102"}
    assert contacts["+14155550101"].consent_state == "subscribed"
    assert contacts["+14155550101"].consent_source == "shopify"
    assert contacts["+14155550102"].consent_state == "unsubscribed"
    sync = db.session.execute(select(CustomerSync)).scalar_one()
    assert (sync.status, sync.imported, sync.skipped) == ("completed", 2, 1)


def test_forged_id_token_never_installs(client, shopify, db):
    token = sign_session_token(TEST_API_KEY, "not-the-secret-not-the-secret-123", SHOP)
    response = client.get(f"/contacts?shop={SHOP}&id_token={token}")
    assert response.status_code == 302
    assert "/auth/patch-id-token" in response.headers["Location"]
    assert db.session.execute(select(func.count()).select_from(Shop)).scalar_one() == 0
    assert not shopify.requests


def test_token_is_refreshed_before_expiry(installed, shopify, db):
    old_refresh = shop_tokens.decrypt(installed.refresh_token_enc)
    installed.access_token_expires_at = now_utc() + timedelta(minutes=2)
    db.session.commit()
    token = shop_tokens.access_token(installed)
    shop = _shop(db)
    assert token == shop_tokens.decrypt(shop.access_token_enc)
    assert shop_tokens.decrypt(shop.refresh_token_enc) != old_refresh  # rotated
    assert shop.access_token_expires_at > now_utc() + timedelta(minutes=50)


def test_a_401_from_shopify_refreshes_once_and_retries(installed, shopify, db):
    stale = shop_tokens.decrypt(installed.access_token_enc)
    shopify.expire_token(stale)
    shopify.add_customer(SHOP, phone="+14155550101")
    nodes, _ = shop_tokens.with_admin_api(
        installed, lambda client, token: customers_page(client, SHOP, token, None)
    )
    assert len(nodes) == 1
    assert shop_tokens.decrypt(_shop(db).access_token_enc) != stale


def test_uninstall_stops_the_shop_and_reinstall_keeps_its_data(installed, deliver, open_app, db):
    db.session.add(Contact(shop_id=installed.id, phone="+14155550123"))
    db.session.commit()
    response = deliver("app/uninstalled", {"id": 1, "myshopify_domain": SHOP})
    assert response.status_code == 200
    shop = _shop(db)
    assert not shop.is_active and shop.access_token_enc is None and shop.refresh_token_enc is None
    assert shop.uninstalled_at is not None
    assert open_app().status_code == 200  # the merchant installs again
    shop = _shop(db)
    assert shop.is_active and shop.access_token_enc and shop.uninstalled_at is None
    assert db.session.execute(select(func.count()).select_from(Contact)).scalar_one() == 1


def test_late_uninstall_delivery_after_reinstall_is_ignored(installed, deliver, db):
    installed.installed_at = now_utc()
    db.session.commit()
    body = {"id": 1}
    from tests.fakes.shopify_server import signed_webhook

    raw, headers = signed_webhook(TEST_API_SECRET, "app/uninstalled", SHOP, body)
    headers["X-Shopify-Triggered-At"] = (now_utc() - timedelta(hours=1)).isoformat()
    from flask import current_app

    current_app.test_client().post("/webhooks/shopify", data=raw, headers=headers)
    assert _shop(db).is_active
