"""Token exchange and refresh against the real FakeShopify HTTP server (and `responses`)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

# No ini file or conftest puts the repo root on sys.path for `pytest --noconftest`.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import pytest
import requests
import responses

from astronote.integrations.shopify.oauth import (
    AccessToken,
    ShopifyAuthError,
    ShopifyOAuthClient,
    ShopifyOAuthError,
    ShopifyRetryableError,
    admin_base_url,
    parse_token_response,
)
from tests.fakes.shopify_server import FakeShopify, sign_session_token

KEY, SECRET, SHOP = "client-id-123", "shpss_" + "0123456789abcdef" * 2, "example.myshopify.com"
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def shopify():
    with FakeShopify(KEY, SECRET) as server:
        yield server


@pytest.fixture
def client(shopify):
    return ShopifyOAuthClient(KEY, SECRET, shopify.admin_base_template, clock=lambda: NOW)


def token_requests(shopify):
    return [r for r in shopify.requests if r.path.endswith("/admin/oauth/access_token")]


def test_exchange_sends_shopify_wire_format_and_computes_expiries(shopify, client):
    token = client.exchange_id_token(SHOP, sign_session_token(KEY, SECRET, SHOP))

    assert token.access_token.startswith("shpat_")
    assert token.refresh_token.startswith("shprt_")
    assert token.scope == "read_customers,write_customers"
    assert token.expires_at == NOW + timedelta(seconds=3600)
    assert token.refresh_token_expires_at == NOW + timedelta(seconds=7776000)
    [sent] = token_requests(shopify)
    assert sent.path == f"/{SHOP}/admin/oauth/access_token"
    body = sent.json()
    assert body["client_id"] == KEY and body["client_secret"] == SECRET
    assert body["grant_type"] == "urn:ietf:params:oauth:grant-type:token-exchange"
    assert body["subject_token_type"] == "urn:ietf:params:oauth:token-type:id_token"
    assert body["requested_token_type"] == (
        "urn:shopify:params:oauth:token-type:offline-access-token"
    )
    assert body["expiring"] == 1


@pytest.mark.parametrize(
    "id_token",
    [
        sign_session_token(KEY, "shpss_forged_" + "f" * 32, SHOP),  # forged
        sign_session_token(KEY, SECRET, "other.myshopify.com"),  # minted for another shop
        sign_session_token(KEY, SECRET, SHOP, exp_offset=-3600),  # long expired
        "not-a-jwt",
    ],
)
def test_invalid_subject_token_is_a_permanent_auth_error(client, id_token):
    with pytest.raises(ShopifyAuthError) as caught:
        client.exchange_id_token(SHOP, id_token)
    assert (caught.value.status, caught.value.error) == (400, "invalid_subject_token")


def test_wrong_client_secret_is_a_permanent_auth_error(shopify):
    client = ShopifyOAuthClient(KEY, "wrong", shopify.admin_base_template)
    with pytest.raises(ShopifyAuthError) as caught:
        client.exchange_id_token(SHOP, sign_session_token(KEY, SECRET, SHOP))
    assert caught.value.error == "invalid_client"
    assert "wrong" not in str(caught.value)


def test_refresh_rotates_and_the_old_refresh_token_dies(shopify, client):
    first = client.exchange_id_token(SHOP, sign_session_token(KEY, SECRET, SHOP))
    second = client.refresh(SHOP, first.refresh_token)

    assert second.access_token != first.access_token
    assert second.refresh_token != first.refresh_token
    assert second.expires_at == NOW + timedelta(seconds=3600)
    sent = token_requests(shopify)[-1].json()
    assert sent["grant_type"] == "refresh_token"
    assert sent["refresh_token"] == first.refresh_token
    with pytest.raises(ShopifyAuthError) as caught:
        client.refresh(SHOP, first.refresh_token)
    assert caught.value.error == "invalid_grant"
    assert client.refresh(SHOP, second.refresh_token).access_token.startswith("shpat_")


def test_refresh_token_of_another_shop_or_unknown_is_invalid_grant(shopify, client):
    other = shopify.issue_token("other.myshopify.com")
    for refresh_token in (other["refresh_token"], "shprt_unknown"):
        with pytest.raises(ShopifyAuthError) as caught:
            client.refresh(SHOP, refresh_token)
        assert caught.value.error == "invalid_grant"


def test_network_error_is_retryable(shopify):
    client = ShopifyOAuthClient(KEY, SECRET, shopify.admin_base_template, timeout=(0.5, 0.5))
    shopify.stop()  # nothing listens on the port any more
    with pytest.raises(ShopifyRetryableError) as caught:
        client.refresh(SHOP, "shprt_x")
    assert caught.value.status == 0


@responses.activate
@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_429_and_5xx_are_retryable(status):
    responses.post(
        f"https://{SHOP}/admin/oauth/access_token",
        status=status,
        headers={"Retry-After": "2"},
        body="busy",
    )
    with pytest.raises(ShopifyRetryableError) as caught:
        ShopifyOAuthClient(KEY, SECRET).refresh(SHOP, "shprt_x")
    assert caught.value.status == status
    assert caught.value.retry_after == 2.0


@responses.activate
def test_timeout_is_retryable_and_default_template_targets_the_shop():
    responses.post(f"https://{SHOP}/admin/oauth/access_token", body=requests.ReadTimeout())
    with pytest.raises(ShopifyRetryableError):
        ShopifyOAuthClient(KEY, SECRET).refresh(SHOP, "shprt_x")


@responses.activate
def test_success_without_access_token_is_an_oauth_error_not_auth_or_retryable():
    responses.post(f"https://{SHOP}/admin/oauth/access_token", json={"scope": "x"})
    with pytest.raises(ShopifyOAuthError) as caught:
        ShopifyOAuthClient(KEY, SECRET).refresh(SHOP, "shprt_x")
    assert type(caught.value) is ShopifyOAuthError


def test_timeouts_are_always_passed():
    class Recorder:
        def post(self, url, **kwargs):
            self.kwargs = kwargs
            raise requests.ConnectionError("offline")

    session = Recorder()
    with pytest.raises(ShopifyRetryableError):
        ShopifyOAuthClient(KEY, SECRET, session=session).refresh(SHOP, "shprt_x")
    assert session.kwargs["timeout"] == (5, 15)


@pytest.mark.parametrize(
    "shop", ["evil.com", "shop.myshopify.com.evil.com", "a/b.myshopify.com", "", "127.0.0.1:8080/x"]
)
def test_non_shop_domains_are_refused_before_any_request(shop):
    session = object()  # any attribute access would fail the test
    client = ShopifyOAuthClient(KEY, SECRET, session=session)
    with pytest.raises(ValueError):
        client.exchange_id_token(shop, "token")


def test_admin_base_url_substitutes_only_the_shop_placeholder():
    assert admin_base_url("https://{shop}", SHOP) == f"https://{SHOP}"
    assert admin_base_url("http://127.0.0.1:9/{shop}/", SHOP) == f"http://127.0.0.1:9/{SHOP}"


def test_legacy_non_expiring_response_never_needs_refresh():
    token = parse_token_response({"access_token": "shpat_1", "scope": "read_customers"}, NOW)
    assert (token.expires_at, token.refresh_token, token.refresh_token_expires_at) == (
        None,
        None,
        None,
    )
    assert not token.needs_refresh(NOW)


def test_needs_refresh_five_minutes_before_expiry():
    token = AccessToken("shpat_1", "", NOW + timedelta(minutes=10), "shprt_1", None)
    assert not token.needs_refresh(NOW + timedelta(minutes=4, seconds=59))
    assert token.needs_refresh(NOW + timedelta(minutes=5))
    assert token.needs_refresh(NOW + timedelta(hours=1))


def test_repr_never_shows_tokens():
    token = AccessToken("shpat_secret", "s", NOW, "shprt_secret", NOW)
    assert "secret" not in repr(token)
