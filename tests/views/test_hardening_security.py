"""Issue 10, items 11 and 26: NUL in storefront JSON, Origin on cookie POSTs, log
redaction of encoded parameter names, and no-store on admin pages."""

from __future__ import annotations

import io
import logging

import pytest
from sqlalchemy import func, select

from astronote.logging import JsonFormatter, redact
from astronote.models import Contact, StorefrontSubmission
from tests.conftest import make_app

LOCAL = "http://localhost"


@pytest.fixture
def dev_app(app, database_url):
    """A development app on the same database, disposed afterwards."""
    from astronote.extensions import db

    dev = make_app(database_url, ASTRONOTE_ENV="development")
    yield dev
    with dev.app_context():
        db.session.remove()
        db.engine.dispose()


def _count(db, model) -> int:
    return db.session.execute(select(func.count()).select_from(model)).scalar_one()


# --------------------------------------------------------------------------- NUL in JSON


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/contact", {"email": "ann@example.com", "message": "hel\u0000lo"}),
        ("/api/contact", {"email": "ann@example.com", "message": "hi", "x\u0000": "1"}),
        ("/api/opt-in", {"phone": "+14155551234", "first_name": "A\u0000nn", "consent": True}),
    ],
)
def test_nul_in_a_storefront_json_body_is_a_clear_400(client, shop, db, path, body):
    response = client.post(
        path, json={"shop": shop.shop_domain, **body}, environ_base={"REMOTE_ADDR": "127.0.0.7"}
    )
    assert response.status_code == 400
    assert response.json["error"] == "invalid_input" and "NUL" in response.json["message"]
    assert _count(db, StorefrontSubmission) == 0 and _count(db, Contact) == 0


def test_a_storefront_body_without_nul_still_works(client, shop, db):
    body = {"shop": shop.shop_domain, "email": "ann@example.com", "message": "hello"}
    response = client.post("/api/contact", json=body, environ_base={"REMOTE_ADDR": "127.0.0.8"})
    assert response.status_code == 200 and _count(db, StorefrontSubmission) == 1


# --------------------------------------------------------------------------- Origin


def test_dev_sign_in_refuses_another_origin(dev_app, shop):
    client = dev_app.test_client()
    form = {"shop_id": shop.id, "next": "/contacts"}
    for hostile in ({"Origin": "https://evil.example"}, {"Origin": "null"}):
        assert client.post("/dev/sign-in", data=form, headers=hostile).status_code == 403
    referer = {"Referer": "https://evil.example/page"}
    assert client.post("/dev/sign-in", data=form, headers=referer).status_code == 403
    with client.session_transaction() as session:
        assert "dev_shop_id" not in session
    assert client.post("/dev/sign-in", data=form, headers={"Origin": LOCAL}).status_code == 303
    assert client.post("/dev/sign-out", headers={"Origin": "https://evil.example"}).status_code == (
        403
    )
    with client.session_transaction() as session:
        assert session["dev_shop_id"] == shop.id


def test_cookie_authenticated_admin_posts_refuse_another_origin(dev_app, shop, db):
    client = dev_app.test_client()
    with client.session_transaction() as session:
        session["dev_shop_id"] = shop.id
    form = {"phone": "+14155550199"}
    evil = {"Origin": "https://evil.example"}
    assert client.post("/contacts", data=form, headers=evil).status_code == 403
    assert _count(db, Contact) == 0
    same = client.post("/contacts", data=form, headers={"Origin": LOCAL})
    assert same.status_code < 400


# --------------------------------------------------------------------------- log redaction


@pytest.mark.parametrize(
    "query",
    ["to%6Ben=s3cret", "%74oken=s3cret", "id%5Ftoken=s3cret", "TOKEN=s3cret", "hm%61c=s3cret"],
)
def test_encoded_secret_parameter_names_are_redacted(client, query):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    http_log = logging.getLogger("astronote.http")
    http_log.addHandler(handler)
    try:
        client.get(f"/no-such-page?{query}&page=2")
    finally:
        http_log.removeHandler(handler)
    line = stream.getvalue()
    assert "/no-such-page" in line and "s3cret" not in line and "[redacted]" in line
    assert "page=2" in line


def test_redaction_leaves_other_parameters_alone():
    assert redact("GET /contacts?q=tokenizer&shop=a.myshopify.com") == (
        "GET /contacts?q=tokenizer&shop=a.myshopify.com"
    )


# --------------------------------------------------------------------------- no-store


def test_admin_pages_with_personal_data_are_not_stored(client, shop, doc_auth):
    for path in ("/contacts", "/inbox", "/settings", "/campaigns", "/submissions"):
        response = client.get(path, headers=doc_auth)
        assert response.status_code == 200, path
        assert response.headers["Cache-Control"] == "no-store", path
    assert "no-store" not in client.get("/healthz").headers.get("Cache-Control", "")


def test_json_nested_too_deeply_is_a_clear_400_everywhere(client, shop):
    deep = "[" * 100_000
    headers = {"Content-Type": "application/json"}
    for path in ("/api/opt-in", "/api/contact", "/webhooks/mitto/dlr", "/webhooks/mitto/inbound"):
        response = client.post(path, data=deep, headers=headers)
        assert response.status_code == 400, (path, response.status_code)
