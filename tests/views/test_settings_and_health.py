"""Shop settings (region, time zone, sender ID) and the liveness/readiness probes."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from astronote.models import Contact, Shop
from tests.conftest import make_app


def selected(body: str, value: str) -> bool:
    return re.search(rf'<option value="{re.escape(value)}"\s+selected\s*>', body) is not None


def stored_settings(db, shop_id: int) -> tuple:
    row = db.session.execute(
        select(Shop.default_region, Shop.timezone, Shop.sender_id).where(Shop.id == shop_id)
    ).one()
    return tuple(row)


@pytest.fixture
def other_apps(app, database_url):
    from astronote.extensions import db

    made = []

    def make(url=None, **overrides):
        made.append(make_app(url or database_url, **overrides))
        return made[-1]

    yield make
    for other in made:
        with other.app_context():
            db.session.remove()
            db.engine.dispose()


# --------------------------------------------------------------------------- settings


def test_settings_page_shows_current_region_timezone_and_sender(client, doc_auth, db, shop):
    shop.sender_id = "Alpha"
    db.session.commit()
    response = client.get("/settings", headers=doc_auth)
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" in body
    assert selected(body, "US") and selected(body, "America/New_York")
    assert not selected(body, "GR") and not selected(body, "UTC")
    assert 'name="sender_id" type="text" value="Alpha"' in body
    assert 'value="GR"' in body and 'value="Europe/Athens"' in body  # choices offered


@pytest.mark.parametrize(
    ("form", "expected"),
    [
        (
            {"default_region": "GR", "timezone": "Europe/Athens", "sender_id": "Astronote"},
            ("GR", "Europe/Athens", "Astronote"),
        ),
        (
            {"default_region": " gb ", "timezone": "Europe/London", "sender_id": " My Shop "},
            ("GB", "Europe/London", "My Shop"),
        ),
        (
            {"default_region": "US", "timezone": "UTC", "sender_id": "+14155550123"},
            ("US", "UTC", "+14155550123"),
        ),
        (
            {"default_region": "CA", "timezone": "America/Toronto", "sender_id": ""},
            ("CA", "America/Toronto", None),
        ),
    ],
)
def test_valid_settings_persist(client, auth, db, shop, form, expected):
    shop.sender_id = "Old"
    db.session.commit()
    response = client.post("/settings", data=form, headers=auth)
    assert response.status_code == 200
    assert "Settings saved" in response.headers["HX-Trigger"]
    assert "<html" not in response.get_data(as_text=True)
    assert stored_settings(db, shop.id) == expected


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("sender_id", "12", "3–11 letters"),
        ("sender_id", "THIS-IS-TOO-LONG", "3–11 letters"),
        ("sender_id", "123456", "not only digits"),
        ("sender_id", "AB", "3–11 letters"),
        ("sender_id", "Shop!", "3–11 letters"),
        ("sender_id", "ÄBCDEF", "3–11 letters"),
        ("sender_id", "+1", "international format"),
        ("sender_id", "+1415555abcd", "international format"),
        ("sender_id", "+1234567890123456", "international format"),
        ("timezone", "Mars/Olympus_Mons", "Choose a time zone from the list."),
        ("timezone", "", "Choose a time zone from the list."),
        ("timezone", "../../etc/passwd", "Choose a time zone from the list."),
        ("default_region", "XX", "Choose a country from the list."),
        ("default_region", "", "Choose a country from the list."),
        ("default_region", "USA", "Choose a country from the list."),
    ],
)
def test_invalid_settings_are_422_with_messages_and_nothing_saved(
    client, auth, db, shop, field, value, message
):
    before = stored_settings(db, shop.id)
    form = {"default_region": "GR", "timezone": "Europe/Athens", "sender_id": "Valid", field: value}
    response = client.post("/settings", data=form, headers=auth)
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in body
    assert body.count('class="field-error"') == 1
    assert "Settings saved" not in response.headers.get("HX-Trigger", "")
    assert stored_settings(db, shop.id) == before


def test_every_invalid_field_is_reported_at_once(client, auth, db, shop):
    before = stored_settings(db, shop.id)
    response = client.post(
        "/settings",
        headers=auth,
        data={"default_region": "ZZ", "timezone": "Nowhere/Land", "sender_id": "x"},
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert body.count('class="field-error"') == 3
    assert stored_settings(db, shop.id) == before


def test_garbage_settings_never_500(client, auth, db, shop):
    headers = {**auth, "Content-Type": "application/x-www-form-urlencoded"}
    for body in (
        b"default_region=%FF%FE&timezone=%C3%28&sender_id=%80",
        b"default_region=G%00R&timezone=UTC",
        b"default_region=GR&timezone=Europe%2FAthens%00",
        b"default_region=GR&timezone=UTC&sender_id=AB%00CD",
        b"timezone=" + b"A" * 100000,
        b"\xff\xfe",
    ):
        response = client.post("/settings", data=body, headers=headers)
        assert response.status_code < 500, body[:60]


def test_region_setting_changes_how_new_phones_are_read(client, auth, db, shop):
    response = client.post(
        "/settings",
        headers=auth,
        data={"default_region": "GR", "timezone": "Europe/Athens", "sender_id": ""},
    )
    assert response.status_code == 200
    created = client.post("/contacts", data={"phone": "691 234 5678"}, headers=auth)
    assert created.status_code == 204
    phones = db.session.execute(select(Contact.phone).filter_by(shop_id=shop.id)).scalars()
    assert list(phones) == ["+306912345678"]


def test_settings_require_a_session(client, db, shop):
    before = stored_settings(db, shop.id)
    assert client.get("/settings").status_code == 401
    response = client.post("/settings", data={"default_region": "GR", "timezone": "UTC"})
    assert response.status_code == 401
    assert stored_settings(db, shop.id) == before


# --------------------------------------------------------------------------- health


def test_healthz_is_200_without_credentials(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_checks_database_and_queue_redis_not_configured(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    payload = response.get_json()
    assert payload["status"] == "ok"
    assert payload["checks"]["database"] == "ok"
    assert payload["checks"]["queue"].startswith("ok")
    assert payload["checks"]["redis"] == "not configured"


def test_readyz_with_redis_on_a_closed_port_is_503_not_500(other_apps):
    broken = other_apps(REDIS_URL="redis://127.0.0.1:1/0")
    response = broken.test_client().get("/readyz")
    assert response.status_code == 503
    payload = response.get_json()
    assert payload["status"] == "unavailable"
    assert payload["checks"]["redis"].startswith("error")
    assert payload["checks"]["database"] == "ok"


def test_readyz_with_a_real_redis_is_200(other_apps, redis_server):
    ready = other_apps(REDIS_URL=redis_server.url)
    response = ready.test_client().get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["checks"]["redis"] == "ok"


def test_readyz_with_an_unreachable_database_is_503_and_leaks_no_secret(tmp_path):
    urls = [
        f"sqlite:///{tmp_path}/missing-dir/astronote.db",
        "postgresql+psycopg://astronote:hunter2-secret@127.0.0.1:1/astronote",
    ]
    for url in urls:
        broken = make_app(url)
        try:
            response = broken.test_client().get("/readyz")
            body = response.get_data(as_text=True)
            assert response.status_code == 503, url
            assert response.get_json()["checks"]["database"].startswith("error"), url
            assert "hunter2" not in body and "missing-dir" not in body
        finally:
            from astronote.extensions import db

            with broken.app_context():
                db.engine.dispose()
    assert not (tmp_path / "missing-dir").exists()
