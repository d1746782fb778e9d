"""GraphQL Admin API client: retries, throttling, typed errors and the customer helpers."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

# No ini file or conftest puts the repo root on sys.path for `pytest --noconftest`.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import pytest
import requests
import responses

from astronote.integrations.shopify.admin_api import (
    AdminApiClient,
    AdminApiError,
    AdminApiGraphQLError,
    AdminApiThrottled,
    AdminApiUnauthorized,
    AdminApiUnavailable,
    AdminApiUserErrors,
    iter_customers_with_phone,
    raise_for_user_errors,
    throttle_wait,
    update_sms_consent,
)
from tests.fakes.shopify_server import FakeShopify

KEY, SECRET = "client-id-123", "shpss_" + "0123456789abcdef" * 2
SHOP = "example.myshopify.com"
SHOP_QUERY = "{ shop { name } }"
CUSTOMERS = "query($first: Int!) { customers(first: $first) { nodes { id } } }"


@pytest.fixture
def shopify():
    with FakeShopify(KEY, SECRET) as server:
        yield server


@pytest.fixture
def token(shopify):
    return shopify.issue_token(SHOP)["access_token"]


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def client(shopify, sleeps):
    # No jitter, recorded instead of real sleeps: waits become exact and tests stay fast.
    return AdminApiClient(shopify.admin_base_template, sleep=sleeps.append, jitter=lambda: 0.0)


def graphql_requests(shopify):
    return [r for r in shopify.requests if r.path.endswith("/graphql.json")]


def test_execute_posts_to_the_versioned_endpoint_with_the_token(shopify, token, client):
    shopify.add_customer(SHOP, phone="+306900000001")
    data = client.execute(SHOP, token, CUSTOMERS, {"first": 5})
    assert len(data["customers"]["nodes"]) == 1
    [sent] = graphql_requests(shopify)
    assert sent.path == f"/{SHOP}/admin/api/2026-10/graphql.json"
    assert sent.headers["X-Shopify-Access-Token"] == token
    assert sent.json() == {"query": CUSTOMERS, "variables": {"first": 5}}


@pytest.mark.parametrize("which", ["unknown", "expired", "other_shop"])
def test_401_raises_unauthorized_without_retrying(shopify, token, client, sleeps, which):
    if which == "expired":
        shopify.expire_token(token)
    elif which == "unknown":
        token = "shpat_unknown"
    else:
        token = shopify.issue_token("other.myshopify.com")["access_token"]
    with pytest.raises(AdminApiUnauthorized) as caught:
        client.execute(SHOP, token, CUSTOMERS, {"first": 1})
    assert caught.value.status == 401
    assert len(graphql_requests(shopify)) == 1 and sleeps == []


def test_throttled_waits_for_the_bucket_then_succeeds(shopify, token, client, sleeps):
    shopify.throttle_next(1)  # (352 - 52) / 100 = 3 s
    shopify.throttle_next(1, requested_cost=1002, available=2, restore_rate=50.0)  # 20 s
    assert client.execute(SHOP, token, CUSTOMERS, {"first": 1})["customers"]["nodes"] == []
    assert sleeps == [3.0, 20.0]
    assert len(graphql_requests(shopify)) == 3


def test_jitter_only_ever_adds_up_to_a_quarter(shopify, token, sleeps):
    client = AdminApiClient(shopify.admin_base_template, sleep=sleeps.append)
    shopify.throttle_next(3)
    client.execute(SHOP, token, CUSTOMERS, {"first": 1})
    assert all(3.0 <= wait <= 3.75 for wait in sleeps) and len(sleeps) == 3


def test_throttled_after_every_retry_raises_throttled(shopify, token, client, sleeps):
    shopify.throttle_next(5)
    with pytest.raises(AdminApiThrottled) as caught:
        client.execute(SHOP, token, CUSTOMERS, {"first": 1})
    assert caught.value.errors[0]["extensions"]["code"] == "THROTTLED"
    assert len(graphql_requests(shopify)) == 5 and sleeps == [3.0] * 4


def test_5xx_backs_off_exponentially_then_succeeds(shopify, token, client, sleeps):
    shopify.fail_next(3, status=502)
    client.execute(SHOP, token, CUSTOMERS, {"first": 1})
    assert sleeps == [1.0, 2.0, 4.0]


def test_5xx_after_every_retry_raises_unavailable(shopify, token, sleeps):
    client = AdminApiClient(
        shopify.admin_base_template, max_retries=2, sleep=sleeps.append, jitter=lambda: 0.0
    )
    shopify.fail_next(3)
    with pytest.raises(AdminApiUnavailable) as caught:
        client.execute(SHOP, token, CUSTOMERS, {"first": 1})
    assert caught.value.status == 503 and sleeps == [1.0, 2.0]


def test_backoff_is_capped(shopify):
    client = AdminApiClient(shopify.admin_base_template, jitter=lambda: 1.0, max_delay=60.0)
    assert client.backoff(10, None) == 60.0
    assert client.backoff(0, 500.0) == 60.0
    assert client.backoff(2, None) == 5.0
    assert client.backoff(0, 0.0) == 0.5 * 1.25  # a zero hint must not mean "hammer"


URL = f"https://{SHOP}/admin/api/2026-10/graphql.json"


@responses.activate
def test_http_429_honours_retry_after_and_network_errors_retry(sleeps):
    responses.post(URL, status=429, headers={"Retry-After": "2.0"})
    responses.post(URL, body=requests.ConnectionError("reset"))
    responses.post(URL, json={"data": {"shop": {"name": "Example"}}})
    client = AdminApiClient("https://{shop}", sleep=sleeps.append, jitter=lambda: 0.0)
    assert client.execute(SHOP, "shpat_x", SHOP_QUERY) == {"shop": {"name": "Example"}}
    assert sleeps == [2.0, 2.0]  # Retry-After, then base * 2**1
    assert responses.calls[0].request.req_kwargs["timeout"] == (5, 30)


@responses.activate
def test_non_json_200_is_treated_as_transient(sleeps):
    responses.post(URL, body="<html>gateway hiccup</html>", content_type="text/html")
    responses.post(URL, json={"data": {"shop": {"name": "Example"}}})
    client = AdminApiClient("https://{shop}", sleep=sleeps.append, jitter=lambda: 0.0)
    assert client.execute(SHOP, "shpat_x", SHOP_QUERY) == {"shop": {"name": "Example"}}
    assert sleeps == [1.0]


@responses.activate
@pytest.mark.parametrize("status", [402, 403, 404, 423])
def test_other_http_errors_are_not_retried(status, sleeps):
    responses.post(URL, status=status, body="nope")
    client = AdminApiClient("https://{shop}", sleep=sleeps.append)
    with pytest.raises(AdminApiError) as caught:
        client.execute(SHOP, "shpat_x", SHOP_QUERY)
    assert type(caught.value) is AdminApiError and caught.value.status == status
    assert sleeps == []


@responses.activate
def test_partial_data_with_errors_raises_graphql_error_with_the_data():
    errors = [
        {"message": "Access denied for email field.", "extensions": {"code": "ACCESS_DENIED"}}
    ]
    responses.post(URL, json={"data": {"customer": {"email": None}}, "errors": errors})
    with pytest.raises(AdminApiGraphQLError) as caught:
        AdminApiClient("https://{shop}").execute(SHOP, "shpat_x", SHOP_QUERY)
    assert caught.value.errors == errors
    assert caught.value.data == {"customer": {"email": None}}


@responses.activate
def test_string_errors_on_200_are_a_graphql_error():
    responses.post(URL, json={"errors": "Something odd"})
    with pytest.raises(AdminApiGraphQLError, match="Something odd"):
        AdminApiClient("https://{shop}").execute(SHOP, "shpat_x", SHOP_QUERY)


def test_top_level_errors_raise_graphql_error_without_retry(shopify, token, client, sleeps):
    with pytest.raises(AdminApiGraphQLError, match="first must be"):
        client.execute(SHOP, token, CUSTOMERS, {"first": 500})
    assert sleeps == []


def test_throttle_wait_reads_extensions_cost():
    def body(requested, available, rate):
        status = {"currentlyAvailable": available, "restoreRate": rate}
        return {"extensions": {"cost": {"requestedQueryCost": requested, "throttleStatus": status}}}

    assert throttle_wait(body(352, 52, 100.0)) == 3.0
    assert throttle_wait(body(10, 500, 100.0)) == 0.0
    assert throttle_wait(body(10, 0, 0)) is None
    assert throttle_wait({}) is None


def test_customers_paged_across_three_pages(shopify, token, client):
    for n in range(6):
        shopify.add_customer(SHOP, phone=f"+30690000000{n}", firstName=f"C{n}", tags=["vip"])
        shopify.add_customer(SHOP, email=f"nophone{n}@example.com")  # skipped by phone:*
    shopify.add_customer("other.myshopify.com", phone="+306999999999")

    customers = list(iter_customers_with_phone(client, SHOP, token, page_size=2))

    assert [c["firstName"] for c in customers] == [f"C{n}" for n in range(6)]
    assert customers[0]["defaultPhoneNumber"]["smsMarketingConsent"]["state"] == "NOT_SUBSCRIBED"
    assert customers[0]["tags"] == ["vip"]
    sent = [r.json()["variables"] for r in graphql_requests(shopify)]
    assert len(sent) == 3
    assert sent[0] == {"first": 2, "after": None, "query": "phone:*"}
    assert sent[1]["after"] and sent[2]["after"] != sent[1]["after"]


def test_pagination_survives_throttling_and_caps_page_size(shopify, token, client, sleeps):
    shopify.add_customer(SHOP, phone="+306900000001")
    shopify.throttle_next(1)
    assert len(list(iter_customers_with_phone(client, SHOP, token, page_size=1000))) == 1
    assert graphql_requests(shopify)[-1].json()["variables"]["first"] == 250
    assert sleeps == [3.0]


def test_update_sms_consent_sends_the_mutation_and_returns_the_customer(shopify, token, client):
    gid = shopify.add_customer(SHOP, phone="+306900000001")["id"]
    when = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)

    customer = update_sms_consent(client, SHOP, token, gid, "SUBSCRIBED", "SINGLE_OPT_IN", when)

    consent = customer["defaultPhoneNumber"]["smsMarketingConsent"]
    assert (customer["id"], consent["state"]) == (gid, "SUBSCRIBED")
    assert shopify.consent_updates == [
        {
            "shop": SHOP,
            "customerId": gid,
            "smsMarketingConsent": {
                "marketingState": "SUBSCRIBED",
                "marketingOptInLevel": "SINGLE_OPT_IN",
                "consentUpdatedAt": "2026-11-01T09:30:00+00:00",
            },
        }
    ]
    [stored] = iter_customers_with_phone(client, SHOP, token)
    assert stored["defaultPhoneNumber"]["smsMarketingConsent"]["state"] == "SUBSCRIBED"


def test_update_sms_consent_user_errors_are_typed(shopify, token, client):
    no_phone = shopify.add_customer(SHOP, email="a@example.com")["id"]
    with pytest.raises(AdminApiUserErrors) as caught:
        update_sms_consent(client, SHOP, token, no_phone, "UNSUBSCRIBED", None, None)
    assert caught.value.errors[0]["code"] == "MISSING_ARGUMENT"
    with pytest.raises(AdminApiUserErrors, match="not found"):
        update_sms_consent(client, SHOP, token, "gid://shopify/Customer/1", "PENDING", None, None)


@pytest.mark.parametrize(
    ("state", "level", "when"),
    [
        ("NOT_SUBSCRIBED", None, None),  # read-only as input
        ("REDACTED", None, None),
        ("subscribed", None, None),
        ("SUBSCRIBED", "DOUBLE", None),
        ("SUBSCRIBED", None, datetime(2026, 1, 1)),  # naive
    ],
)
def test_update_sms_consent_rejects_bad_input_before_any_request(
    shopify, token, client, state, level, when
):
    with pytest.raises(ValueError):
        update_sms_consent(client, SHOP, token, "gid://shopify/Customer/1", state, level, when)
    assert graphql_requests(shopify) == []


def test_raise_for_user_errors():
    assert raise_for_user_errors({"userErrors": [], "x": 1}) == {"userErrors": [], "x": 1}
    with pytest.raises(AdminApiGraphQLError):
        raise_for_user_errors(None)
    with pytest.raises(AdminApiUserErrors, match="Phone is invalid"):
        raise_for_user_errors({"userErrors": [{"field": ["phone"], "message": "Phone is invalid"}]})


def test_non_shop_domain_is_refused(client):
    with pytest.raises(ValueError):
        client.execute("evil.com", "shpat_x", SHOP_QUERY)


def test_fake_bulk_operation_round_trip(shopify, token, client):
    shopify.add_customer(SHOP, phone="+306900000001")
    run = client.execute(
        SHOP,
        token,
        "mutation($query: String!) { bulkOperationRunQuery(query: $query) "
        "{ bulkOperation { id status } userErrors { field message } } }",
        {"query": "{ customers { edges { node { id } } } }"},
    )
    raise_for_user_errors(run["bulkOperationRunQuery"])
    current = client.execute(SHOP, token, "{ currentBulkOperation { id status url } }")
    operation = current["currentBulkOperation"]
    assert operation["status"] == "COMPLETED"
    lines = requests.get(operation["url"], timeout=5).text.splitlines()
    assert len(lines) == 1 and '"+306900000001"' in lines[0]
