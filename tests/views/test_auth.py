"""Authentication: App Bridge session tokens, the bounce page, and the development sign-in.

The development sign-in stands in for App Bridge on a loopback browser; the tests
below prove it cannot be reached, or honoured, outside development.
"""

from __future__ import annotations

import base64
import json
import re
import warnings
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy import select

from astronote.config import REQUIRED_IN_PRODUCTION, ConfigError, load_config
from astronote.models import Shop
from tests.conftest import TEST_API_KEY, TEST_API_SECRET, bearer, make_app
from tests.fakes.shopify_server import session_token_claims, sign_session_token

RETRY = "X-Shopify-Retry-Invalid-Session-Request"
OPEN_FROM_ADMIN = "Open Astronote from your Shopify admin"
REMOTE = {"REMOTE_ADDR": "203.0.113.5"}
ALPHA = "alpha.myshopify.com"
PAGES = [
    "/",
    "/contacts",
    "/contacts/new",
    "/settings",
    "/contacts/imports/new",
    "/contacts/export.csv",
]


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def alg_none_token(shop: str) -> str:
    claims = session_token_claims(TEST_API_KEY, shop)
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."


def bad_tokens(shop: str) -> dict[str, str]:
    sign = sign_session_token
    return {
        "forged": sign(TEST_API_KEY, "some-other-secret-of-32-bytes-long!!", shop),
        "expired": sign(TEST_API_KEY, TEST_API_SECRET, shop, exp_offset=-120, nbf_offset=-300),
        "not yet valid": sign(TEST_API_KEY, TEST_API_SECRET, shop, nbf_offset=300, exp_offset=600),
        "wrong aud": sign(TEST_API_KEY, TEST_API_SECRET, shop, aud="someone-elses-app"),
        "alg none": alg_none_token(shop),
        "HS512": _hs512(session_token_claims(TEST_API_KEY, shop)),
        "iss != dest": sign(
            TEST_API_KEY, TEST_API_SECRET, shop, iss="https://other-shop.myshopify.com/admin"
        ),
        "dest not a shop": sign(
            TEST_API_KEY,
            TEST_API_SECRET,
            shop,
            dest="https://evil.example.com",
            iss="https://evil.example.com/admin",
        ),
        "http dest": sign(
            TEST_API_KEY, TEST_API_SECRET, shop, dest=f"http://{shop}", iss=f"http://{shop}/admin"
        ),
        "missing sid": sign(TEST_API_KEY, TEST_API_SECRET, shop, sid=None),
        "empty sub": sign(TEST_API_KEY, TEST_API_SECRET, shop, sub=""),
        "garbage": "not.a.jwt",
        "empty": "",
        "tampered": _tamper(sign(TEST_API_KEY, TEST_API_SECRET, shop)),
    }


def _hs512(claims: dict) -> str:
    """The right secret, an algorithm the app does not accept."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyJWT warns that the key is short for SHA-512
        return jwt.encode(claims, TEST_API_SECRET, algorithm="HS512")


def _tamper(token: str) -> str:
    header, _, signature = token.split(".")
    payload = _b64(session_token_claims(TEST_API_KEY, "victim.myshopify.com"))
    return f"{header}.{payload}.{signature}"


def shop_named(db, domain: str) -> Shop | None:
    db.session.expire_all()
    return db.session.execute(select(Shop).filter_by(shop_domain=domain)).scalar_one_or_none()


@pytest.fixture
def other_apps(app, database_url):
    """Extra apps on the same (migrated, emptied) database; engines disposed afterwards."""
    from astronote.extensions import db

    made = []

    def make(**overrides):
        made.append(make_app(database_url, **overrides))
        return made[-1]

    yield make
    for other in made:
        with other.app_context():
            db.session.remove()
            db.engine.dispose()


# --------------------------------------------------------------------------- no credentials


def test_no_credentials_gets_the_open_from_admin_page(client, shop):
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 401, path
        assert OPEN_FROM_ADMIN in response.get_data(as_text=True), path
        assert response.headers["Content-Security-Policy"] == "frame-ancestors 'none';"
    assert client.post("/contacts", data={"phone": "+14155550123"}).status_code == 401


def test_shop_param_without_token_bounces_to_the_patch_page(client, shop):
    response = client.get(f"/contacts?shop={ALPHA}&host=YWRtaW4&embedded=1")
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/auth/patch-id-token"
    query = parse_qs(location.query)
    assert query["shop"] == [ALPHA]
    assert query["host"] == ["YWRtaW4"]
    reload_to = urlsplit(query["shopify-reload"][0])
    assert reload_to.path == "/contacts"
    assert parse_qs(reload_to.query)["shop"] == [ALPHA]


def test_invalid_shop_param_is_not_bounced(client):
    for shop in (
        "evil.com",
        "https://alpha.myshopify.com",
        "alpha.myshopify.com.evil.com",
        "-x.myshopify.com",
        "a" * 300,
    ):
        response = client.get("/contacts", query_string={"shop": shop})
        assert response.status_code == 401, shop
        assert "Location" not in response.headers


def test_invalid_id_token_on_a_document_load_bounces_without_the_bad_token(client, shop):
    response = client.get("/contacts", query_string={"shop": ALPHA, "id_token": "not.a.jwt"})
    assert response.status_code == 302
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert "id_token" not in query
    assert "shopify-reload" in query
    assert client.get("/contacts?id_token=not.a.jwt").status_code == 401


def test_patch_page_loads_app_bridge_with_the_api_key(client):
    response = client.get(
        "/auth/patch-id-token", query_string={"shop": ALPHA, "shopify-reload": "/contacts"}
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert re.search(
        r'<script data-api-key="test-api-key" src="https://cdn\.shopify\.com/shopifycloud/'
        r'app-bridge\.js"></script>',
        body,
    )


def test_patch_page_may_be_framed_by_the_shops_admin(client):
    """The bounce page renders inside the admin iframe; frame-ancestors 'none' blanks it."""
    response = client.get(
        "/auth/patch-id-token", query_string={"shop": ALPHA, "shopify-reload": "/contacts"}
    )
    assert response.headers["Content-Security-Policy"] == (
        f"frame-ancestors https://{ALPHA} https://admin.shopify.com;"
    )
    hostile = client.get("/auth/patch-id-token", query_string={"shop": "evil.com"})
    assert hostile.headers["Content-Security-Policy"] == "frame-ancestors 'none';"


# --------------------------------------------------------------------------- session tokens


def test_id_token_document_load_works_and_sets_frame_ancestors(client, shop):
    token = sign_session_token(TEST_API_KEY, TEST_API_SECRET, ALPHA)
    response = client.get("/contacts", query_string={"id_token": token, "shop": ALPHA})
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" in body and "<h1>Contacts</h1>" in body
    assert response.headers["Content-Security-Policy"] == (
        f"frame-ancestors https://{ALPHA} https://admin.shopify.com;"
    )
    # embedded: App Bridge tags are on the page
    assert '<meta name="shopify-api-key" content="test-api-key">' in body


def test_bearer_token_works_for_every_page(client, shop, doc_auth, auth):
    for path in PAGES:
        assert client.get(path, headers=doc_auth).status_code == 200, path
        assert client.get(path, headers=auth).status_code == 200, path


def test_bad_bearer_tokens_get_401_with_the_retry_header(client, db, shop):
    target = "mallory.myshopify.com"
    results = {}
    for name, token in bad_tokens(target).items():
        response = client.get(
            "/contacts", headers={"Authorization": f"Bearer {token}", "HX-Request": "true"}
        )
        results[name] = (response.status_code, response.headers.get(RETRY))
        assert "Lovelace" not in response.get_data(as_text=True)
    assert results == {name: (401, "1") for name in results}
    assert shop_named(db, target) is None
    assert shop_named(db, "victim.myshopify.com") is None
    # control: the same helper with honest claims is accepted
    assert client.get("/contacts", headers=bearer(target)).status_code == 200


def test_bad_bearer_tokens_cannot_write(client, db, shop):
    for name, token in bad_tokens(ALPHA).items():
        response = client.post(
            "/contacts",
            data={"phone": "+14155550123"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 401, name
    from astronote.models import Contact

    assert db.session.execute(select(Contact)).first() is None


@pytest.mark.parametrize(
    "header",
    ["Basic x", "Basic dXNlcjpwYXNz", "bearer " + "x" * 20, "Token abc", "Bearer", "Bearer    "],
)
def test_malformed_authorization_header_is_401(client, shop, header):
    response = client.get("/contacts", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.headers[RETRY] == "1"


def test_previous_secret_is_accepted_only_when_configured(other_apps, db, shop):
    old_secret = "the-previous-secret-that-is-32-bytes!"
    token = sign_session_token(TEST_API_KEY, old_secret, ALPHA)
    headers = {"Authorization": f"Bearer {token}"}
    plain = other_apps()
    assert plain.test_client().get("/contacts", headers=headers).status_code == 401
    rotated = other_apps(SHOPIFY_API_SECRET_OLD=old_secret).test_client()
    # install first with a current token: Shopify itself only knows the current secret
    assert rotated.get("/contacts", headers=bearer(ALPHA)).status_code == 200
    assert rotated.get("/contacts", headers=headers).status_code == 200


def test_verified_token_for_an_unknown_shop_installs_it(client, db):
    domain = "brand-new.myshopify.com"
    assert shop_named(db, domain) is None
    response = client.get("/contacts", headers=bearer(domain))
    assert response.status_code == 200
    shop = shop_named(db, domain)
    assert shop is not None and shop.is_active
    again = client.get("/contacts", headers=bearer(domain))
    assert again.status_code == 200
    assert db.session.execute(select(Shop).filter_by(shop_domain=domain)).scalars().all() == [shop]


def test_verified_token_reactivates_an_uninstalled_shop(client, db, make_shop):
    from datetime import UTC, datetime

    gone = make_shop(
        "gone.myshopify.com", is_active=False, uninstalled_at=datetime(2024, 1, 1, tzinfo=UTC)
    )
    response = client.get("/contacts", headers=bearer(gone.shop_domain))
    assert response.status_code == 200
    shop = shop_named(db, "gone.myshopify.com")
    assert shop.id == gone.id
    assert shop.is_active is True
    assert shop.uninstalled_at is None


def test_shopify_unreachable_during_install_is_503_not_500(other_apps, db):
    broken = other_apps(SHOPIFY_ADMIN_BASE_URL="http://127.0.0.1:9/{shop}")
    response = broken.test_client().get("/contacts", headers=bearer("unreached.myshopify.com"))
    assert response.status_code == 503
    assert shop_named(db, "unreached.myshopify.com") is None


# --------------------------------------------------------------------------- headers


def test_responses_carry_request_id_and_security_headers(client, doc_auth):
    for path, headers in (
        ("/healthz", {}),
        ("/contacts", {}),
        ("/contacts", doc_auth),
        ("/contacts/999", doc_auth),
        ("/no-such-page", {}),
    ):
        response = client.get(path, headers=headers)
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"]), path
        assert response.headers["X-Content-Type-Options"] == "nosniff", path
        assert "frame-ancestors" in response.headers["Content-Security-Policy"], path
    ids = {client.get("/healthz").headers["X-Request-ID"] for _ in range(3)}
    assert len(ids) == 3


def test_incoming_request_id_is_kept_only_when_safe(client):
    kept = client.get("/healthz", headers={"X-Request-ID": "lb-123.abc_DEF"})
    assert kept.headers["X-Request-ID"] == "lb-123.abc_DEF"
    for hostile in ("has space", "x" * 65, "a\r\nSet-Cookie: x=1", "<script>"):
        response = client.get("/healthz", headers={"X-Request-ID": hostile.replace("\r\n", "")})
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"]), hostile


# --------------------------------------------------------------------------- development sign-in


def test_dev_sign_in_from_loopback_signs_in_and_contacts_load(other_apps, shop):
    dev = other_apps(ASTRONOTE_ENV="development")
    client = dev.test_client()
    bounced = client.get("/contacts")
    assert bounced.status_code == 302
    assert urlsplit(bounced.headers["Location"]).path == "/dev/sign-in"
    page = client.get("/dev/sign-in?next=/contacts")
    assert page.status_code == 200
    assert ALPHA in page.get_data(as_text=True)
    signed = client.post("/dev/sign-in", data={"shop_id": shop.id, "next": "/contacts"})
    assert signed.status_code == 303
    assert signed.headers["Location"].endswith("/contacts")
    contacts = client.get("/contacts")
    body = contacts.get_data(as_text=True)
    assert contacts.status_code == 200
    assert "<h1>Contacts</h1>" in body and "is-standalone" in body
    assert "app-bridge.js" not in body  # development runs without Shopify's CDN
    assert client.get("/settings").status_code == 200
    assert client.post("/dev/sign-out").status_code == 303
    assert client.get("/contacts").status_code == 302


def test_dev_sign_in_refuses_open_redirects(other_apps, shop):
    dev = other_apps(ASTRONOTE_ENV="development")
    client = dev.test_client()
    for target in (
        "//evil.example.com",
        "https://evil.example.com",
        "evil",
        "/\\evil.example.com",
        "/\t/evil.example.com",
        "\\\\evil.example.com",
    ):
        response = client.post("/dev/sign-in", data={"shop_id": shop.id, "next": target})
        assert response.status_code == 303
        # browsers read "\\" as "/" and drop tabs: resolve the Location as they would
        location = re.sub(r"[\t\n\r]", "", response.headers["Location"]).replace("\\", "/")
        assert urlsplit(location).netloc in ("", "localhost"), (target, location)


def test_dev_sign_in_rejects_unknown_and_inactive_shops(other_apps, make_shop, shop):
    client = other_apps(ASTRONOTE_ENV="development").test_client()
    closed = make_shop("closed.myshopify.com", is_active=False)
    for shop_id in (closed.id, 999999, "x", ""):
        assert client.post("/dev/sign-in", data={"shop_id": shop_id}).status_code == 400


def test_dev_sign_in_is_404_from_a_remote_address_and_its_cookie_is_ignored(other_apps, shop):
    dev = other_apps(ASTRONOTE_ENV="development")
    client = dev.test_client()
    assert client.get("/dev/sign-in", environ_base=REMOTE).status_code == 404
    assert (
        client.post("/dev/sign-in", data={"shop_id": shop.id}, environ_base=REMOTE).status_code
        == 404
    )
    # a proxy header does not make a remote client local
    spoofed = client.get(
        "/dev/sign-in",
        environ_base=REMOTE,
        headers={"X-Forwarded-For": "127.0.0.1", "X-Real-IP": "127.0.0.1"},
    )
    assert spoofed.status_code == 404
    with client.session_transaction() as session:
        session["dev_shop_id"] = shop.id
    remote = client.get("/contacts", environ_base=REMOTE)
    assert remote.status_code == 401
    assert OPEN_FROM_ADMIN in remote.get_data(as_text=True)
    # control: the very same cookie is honoured from loopback
    assert client.get("/contacts").status_code == 200


def test_dev_sign_in_refuses_requests_relayed_by_a_local_tunnel(other_apps, shop):
    """`shopify app dev` (cloudflared) and ngrok connect from 127.0.0.1: the TCP peer is
    loopback but the browser is on the internet, which the Host and X-Forwarded-For show."""
    client = other_apps(ASTRONOTE_ENV="development").test_client()
    tunnelled = {
        "Host": "quiet-river-1234.trycloudflare.com",
        "X-Forwarded-For": "203.0.113.5",
        "X-Forwarded-Proto": "https",
    }
    assert client.get("/dev/sign-in", headers=tunnelled).status_code == 404
    signed = client.post(
        "/dev/sign-in", data={"shop_id": shop.id, "next": "/contacts"}, headers=tunnelled
    )
    assert signed.status_code == 404
    assert client.get("/contacts", headers=tunnelled).status_code == 401
    # control: the local browser itself still signs in
    assert client.get("/dev/sign-in").status_code == 200


def test_dev_session_signed_with_another_key_is_ignored(other_apps, shop):
    dev = other_apps(ASTRONOTE_ENV="development")
    forger = other_apps(ASTRONOTE_ENV="development", SECRET_KEY="attacker-key")
    serializer = SecureCookieSessionInterface().get_signing_serializer(forger)
    client = dev.test_client()
    client.set_cookie("session", serializer.dumps({"dev_shop_id": shop.id}))
    response = client.get("/contacts")
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/dev/sign-in"


@pytest.mark.parametrize("environment", ["production", "test"])
def test_dev_sign_in_does_not_exist_outside_development(other_apps, shop, environment):
    other = other_apps(ASTRONOTE_ENV=environment)
    assert not any(rule.rule.startswith("/dev") for rule in other.url_map.iter_rules())
    assert not any(name.startswith("dev.") for name in other.view_functions)
    client = other.test_client()
    assert client.get("/dev/sign-in").status_code == 404
    assert client.post("/dev/sign-in", data={"shop_id": shop.id}).status_code == 404
    with client.session_transaction() as session:
        session["dev_shop_id"] = shop.id
    for path in ("/contacts", "/", "/settings", "/contacts/export.csv"):
        response = client.get(path)
        assert response.status_code == 401, path
        assert OPEN_FROM_ADMIN in response.get_data(as_text=True)
        assert "Location" not in response.headers


def test_production_pages_are_embedded_and_strict(other_apps, shop):
    prod = other_apps(ASTRONOTE_ENV="production")
    client = prod.test_client()
    refused = client.get("/contacts")
    assert refused.status_code == 401
    assert refused.headers["Strict-Transport-Security"].startswith("max-age=")
    response = client.get("/contacts", headers=bearer(ALPHA))
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<meta name="shopify-api-key" content="test-api-key">' in body
    assert "https://cdn.shopify.com/shopifycloud/app-bridge.js" in body
    # htmx is served from static/, never from a CDN
    assert re.search(r'<script src="/static/js/htmx[^"]*\.js"', body)


# --------------------------------------------------------------------------- configuration


def _production_env(**changes) -> dict[str, str]:
    env = {key: f"value-for-{key.lower()}" for key in REQUIRED_IN_PRODUCTION}
    env.update(
        ASTRONOTE_ENV="production",
        DATABASE_URL="postgres://u:p@db:5432/astronote",
        REDIS_URL="redis://redis:6379/0",
    )
    env.update(changes)
    return {k: v for k, v in env.items() if v is not None}


def test_production_config_fails_fast_naming_every_missing_secret():
    with pytest.raises(ConfigError) as error:
        load_config({"ASTRONOTE_ENV": "production"})
    message = str(error.value)
    for key in (
        "SECRET_KEY",
        "DATABASE_URL",
        "REDIS_URL",
        "SHOPIFY_API_KEY",
        "SHOPIFY_API_SECRET",
        *REQUIRED_IN_PRODUCTION,
    ):
        assert re.search(rf"\b{key}\b", message), key


@pytest.mark.parametrize("missing", ["SECRET_KEY", "SHOPIFY_API_SECRET", "DATABASE_URL"])
def test_production_config_names_exactly_the_missing_keys(missing):
    for value in (None, ""):
        with pytest.raises(ConfigError) as error:
            load_config(_production_env(**{missing: value}))
        named = str(error.value).split(":", 1)[1].replace(" ", "").split(",")
        assert named == [missing]


def test_complete_production_config_loads():
    config = load_config(_production_env())
    assert config["ASTRONOTE_ENV"] == "production"
    assert config["TESTING"] is False
    assert config["SECRET_KEY"] == "value-for-secret_key"
    assert config["SHOPIFY_API_SECRET"] == "value-for-shopify_api_secret"
    assert config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u:p@db:5432/astronote"
    assert config["REDIS_URL"] == "redis://redis:6379/0"


def test_create_app_refuses_to_start_in_production_without_secrets(monkeypatch):
    from astronote import create_app

    monkeypatch.setenv("ASTRONOTE_ENV", "production")
    for key in REQUIRED_IN_PRODUCTION:
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(ConfigError, match="SHOPIFY_API_SECRET"):
        create_app()


def test_integer_settings_parse_with_defaults():
    defaults = load_config({"ASTRONOTE_ENV": "test"})
    assert (
        defaults["SMS_BATCH_SIZE"],
        defaults["RATE_LIMIT_TRAFFIC_ACCOUNT_MAX"],
        defaults["RATE_LIMIT_TENANT_MAX"],
        defaults["RATE_LIMIT_GLOBAL_MAX"],
        defaults["PORT"],
    ) == (5000, 100, 50, 200, 8000)
    custom = load_config(
        {
            "ASTRONOTE_ENV": "test",
            "SMS_BATCH_SIZE": "250",
            "PORT": "9000",
            "RATE_LIMIT_TENANT_MAX": " 7 ",
            "RATE_LIMIT_GLOBAL_MAX": "",
        }
    )
    assert (
        custom["SMS_BATCH_SIZE"],
        custom["PORT"],
        custom["RATE_LIMIT_TENANT_MAX"],
        custom["RATE_LIMIT_GLOBAL_MAX"],
    ) == (250, 9000, 7, 200)


@pytest.mark.parametrize("raw", ["abc", "1.5", "0", "-3", "12abc", "1e3"])
def test_bad_integer_settings_are_rejected_by_name(raw):
    with pytest.raises(ConfigError, match="SMS_BATCH_SIZE"):
        load_config({"ASTRONOTE_ENV": "test", "SMS_BATCH_SIZE": raw})


def test_unknown_environment_is_rejected_and_development_needs_no_secrets():
    with pytest.raises(ConfigError, match="ASTRONOTE_ENV"):
        load_config({"ASTRONOTE_ENV": "staging"})
    development = load_config({})
    assert development["ASTRONOTE_ENV"] == "development"
    assert development["SECRET_KEY"]
