"""Webhook HMAC verification (incl. secret rotation) and X-Shopify-* header parsing."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

# No ini file or conftest puts the repo root on sys.path for `pytest --noconftest`.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import pytest
from flask import Flask, request
from werkzeug.datastructures import Headers

from astronote.integrations.shopify.webhooks import (
    HMAC_HEADER,
    InvalidWebhook,
    is_stale,
    parse_headers,
    payload_shop_mismatch,
    verify_webhook_hmac,
)
from tests.fakes.shopify_server import signed_webhook

SECRET, OLD_SECRET = "shpss_" + "a" * 32, "shpss_" + "b" * 32
SHOP = "example.myshopify.com"
PAYLOAD = {"id": 706405506930370084, "phone": "+306912345678", "note": "é ✓"}


def delivery(secret=SECRET, payload=PAYLOAD, **kwargs):
    return signed_webhook(secret, "customers/update", SHOP, payload, **kwargs)


def test_good_signature_verifies():
    body, headers = delivery()
    assert verify_webhook_hmac(body, headers[HMAC_HEADER], [SECRET])


def test_tampered_body_or_wrong_secret_fails():
    body, headers = delivery()
    assert not verify_webhook_hmac(body + b" ", headers[HMAC_HEADER], [SECRET])
    assert not verify_webhook_hmac(body, headers[HMAC_HEADER], ["shpss_" + "c" * 32])


def test_previous_secret_is_accepted_during_rotation_only_when_configured():
    body, headers = delivery(secret=OLD_SECRET)
    assert verify_webhook_hmac(body, headers[HMAC_HEADER], [SECRET, OLD_SECRET])
    assert not verify_webhook_hmac(body, headers[HMAC_HEADER], [SECRET])


def test_blank_secret_slots_are_skipped_not_used_as_keys():
    body, headers = delivery(secret="")  # an attacker "signing" with an empty key
    assert not verify_webhook_hmac(body, headers[HMAC_HEADER], [SECRET, ""])
    assert not verify_webhook_hmac(body, headers[HMAC_HEADER], [])


@pytest.mark.parametrize(
    "header", [None, "", "   ", "not base64!!", "é", "AAAA", "c2hvcnQ=", "=" * 44]
)
def test_missing_or_garbage_header_fails_closed(header):
    body, _ = delivery()
    assert verify_webhook_hmac(body, header, [SECRET]) is False


def test_raw_non_utf8_bytes_are_verified_as_is():
    body, headers = delivery(payload=b"\xff\xfe{not json")
    assert verify_webhook_hmac(body, headers[HMAC_HEADER], [SECRET])


def test_flask_raw_body_pattern():
    app = Flask(__name__)

    @app.post("/webhooks")
    def receive():
        ok = verify_webhook_hmac(
            request.get_data(), request.headers.get(HMAC_HEADER), [SECRET, OLD_SECRET]
        )
        if not ok:
            return "", 401
        return parse_headers(request.headers).topic, 200

    body, headers = delivery()
    with app.test_client() as http:
        assert http.post("/webhooks", data=body, headers=headers).text == "customers/update"
        assert http.post("/webhooks", data=body + b"x", headers=headers).status_code == 401


def test_parse_headers_reads_every_field():
    _, headers = delivery(webhook_id="b54557e4-bdd9-4b37-8a5f-bf7d70bcd043")
    parsed = parse_headers(headers)
    assert parsed.topic == "customers/update"
    assert parsed.shop_domain == SHOP
    assert parsed.webhook_id == "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"
    assert parsed.api_version == "2026-10"
    assert parsed.event_id == headers["X-Shopify-Event-Id"]
    assert parsed.triggered_at.tzinfo is not None


def test_header_names_are_case_insensitive_for_dicts_and_werkzeug_headers():
    _, headers = delivery()
    lowered = {name.lower(): value for name, value in headers.items()}
    assert parse_headers(lowered) == parse_headers(Headers(headers)) == parse_headers(headers)


def test_triggered_at_with_nanoseconds_and_offsets_becomes_aware_utc():
    _, headers = delivery()
    headers["X-Shopify-Triggered-At"] = "2026-03-29T18:00:27.877041743Z"
    assert parse_headers(headers).triggered_at == datetime(
        2026, 3, 29, 18, 0, 27, 877041, tzinfo=UTC
    )
    headers["X-Shopify-Triggered-At"] = "2026-03-29T20:00:27+02:00"
    assert parse_headers(headers).triggered_at == datetime(2026, 3, 29, 18, 0, 27, tzinfo=UTC)


def test_optional_headers_may_be_absent():
    _, headers = delivery()
    del headers["X-Shopify-Event-Id"], headers["X-Shopify-Triggered-At"]
    parsed = parse_headers(headers)
    assert (parsed.event_id, parsed.triggered_at) == (None, None)


def test_shop_domain_is_normalised_to_lower_case():
    _, headers = delivery()
    headers["X-Shopify-Shop-Domain"] = "Example.MyShopify.com"
    assert parse_headers(headers).shop_domain == SHOP


@pytest.mark.parametrize(
    "name",
    ["X-Shopify-Topic", "X-Shopify-Shop-Domain", "X-Shopify-Webhook-Id", "X-Shopify-API-Version"],
)
@pytest.mark.parametrize("value", [None, "", "  "])
def test_missing_required_header_is_invalid(name, value):
    _, headers = delivery()
    if value is None:
        del headers[name]
    else:
        headers[name] = value
    with pytest.raises(InvalidWebhook, match=name):
        parse_headers(headers)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("X-Shopify-Shop-Domain", "evil.com"),
        ("X-Shopify-Shop-Domain", "example.myshopify.com.evil.com"),
        ("X-Shopify-Shop-Domain", "https://example.myshopify.com"),
        ("X-Shopify-Topic", "customers"),
        ("X-Shopify-Topic", "customers/update; drop"),
        ("X-Shopify-API-Version", "latest"),
        ("X-Shopify-API-Version", "2026-10-01"),
        ("X-Shopify-Webhook-Id", "x" * 256),
        ("X-Shopify-Webhook-Id", "id\x00"),
        ("X-Shopify-Triggered-At", "yesterday"),
    ],
)
def test_malformed_header_is_invalid(name, value):
    _, headers = delivery()
    headers[name] = value
    with pytest.raises(InvalidWebhook):
        parse_headers(headers)


def test_compliance_topics_parse():
    for topic in (
        "customers/data_request",
        "customers/redact",
        "shop/redact",
        "app/uninstalled",
        "customers_marketing_consent/update",
    ):
        _, headers = signed_webhook(SECRET, topic, SHOP, {"shop_domain": SHOP})
        assert parse_headers(headers).topic == topic


def test_customer_event_topics_use_a_dot_and_parse():
    for topic in ("customer.tags_added", "customer.tags_removed"):
        _, headers = signed_webhook(SECRET, topic, SHOP, {"customerId": "gid://shopify/Customer/1"})
        assert parse_headers(headers).topic == topic
    for bad in ("customer.", ".tags_added", "customer..tags", "customer.tags added"):
        _, headers = signed_webhook(SECRET, bad, SHOP, {})
        with pytest.raises(InvalidWebhook):
            parse_headers(headers)


def test_staleness_follows_shopifys_four_hour_retry_window():
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

    def parsed(hours_ago):
        _, headers = delivery()
        headers["X-Shopify-Triggered-At"] = (now - timedelta(hours=hours_ago)).isoformat()
        return parse_headers(headers)

    assert not is_stale(parsed(4), now)  # Shopify's last retry
    assert is_stale(parsed(5.1), now)
    _, headers = delivery()
    del headers["X-Shopify-Triggered-At"]
    assert not is_stale(parse_headers(headers), now)  # not every topic carries it


def test_payload_shop_must_be_the_header_shop():
    _, headers = delivery()
    parsed = parse_headers(headers)
    assert not payload_shop_mismatch(parsed, {"id": 1})  # topics that do not name the shop
    assert not payload_shop_mismatch(parsed, {"shop_domain": SHOP.upper()})
    assert payload_shop_mismatch(parsed, {"shop_domain": "other.myshopify.com"})
    assert payload_shop_mismatch(parsed, {"shop_domain": ["x"]})
