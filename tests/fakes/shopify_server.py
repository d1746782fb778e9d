"""A fake Shopify for tests: a real HTTP server on 127.0.0.1 speaking the token endpoint and
the slice of the GraphQL Admin API Astronote uses, plus signing helpers for session tokens
and webhooks. GraphQL is dispatched on the root field's name, not parsed.

    with FakeShopify("key", "secret") as shopify:
        client = AdminApiClient(shopify.admin_base_template)
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import jwt
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from astronote.devtools.billing_sim import BillingSim
from astronote.devtools.billing_sim_app import charge_page
from astronote.devtools.discount_sim import DiscountSim

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
OFFLINE_TOKEN_TYPE = "urn:shopify:params:oauth:token-type:offline-access-token"
ACCESS_TTL, REFRESH_TTL = 3600, 7776000
UNAUTHORIZED = "[API] Invalid API key or access token (unrecognized login or wrong password)"
GRAPHQL_PATH = re.compile(r"^admin/api/[\w-]+/graphql\.json$")


def session_token_claims(api_key, shop, *, exp_offset=60, nbf_offset=0, **overrides) -> dict:
    """App Bridge ID token claims; an override of None drops that claim."""
    now = int(time.time())
    claims = {
        "iss": f"https://{shop}/admin",
        "dest": f"https://{shop}",
        "aud": api_key,
        "sub": "42",
        "exp": now + exp_offset,
        "nbf": now + nbf_offset,
        "iat": now,
        "jti": str(uuid.uuid4()),
        "sid": secrets.token_hex(16),
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def sign_session_token(api_key, api_secret, shop, *, exp_offset=60, nbf_offset=0, **overrides):
    claims = session_token_claims(
        api_key, shop, exp_offset=exp_offset, nbf_offset=nbf_offset, **overrides
    )
    return jwt.encode(claims, api_secret, algorithm="HS256")


def signed_webhook(api_secret, topic, shop, payload, webhook_id=None) -> tuple[bytes, dict]:
    """A delivery as Shopify sends it. `payload` is a dict (JSON-encoded) or raw bytes."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    # Computed here, independently of the code under test.
    digest = hmac.new(api_secret.encode(), body, hashlib.sha256).digest()
    return body, {
        "Content-Type": "application/json",
        "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
        "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": shop,
        "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
        "X-Shopify-Event-Id": str(uuid.uuid4()),
        "X-Shopify-API-Version": "2026-10",
        "X-Shopify-Triggered-At": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
    }


# --- webhook payloads as API 2026-10 sends them ------------------------------------------------
# Since 2025-01 customers/create|update carry neither `sms_marketing_consent` nor `tags`.


def customer_payload(customer_id: int, phone=None, **fields) -> dict:
    """customers/create and customers/update (the REST customer, without consent or tags)."""
    now = datetime.now(UTC).isoformat()
    payload = {
        "id": customer_id,
        "admin_graphql_api_id": f"gid://shopify/Customer/{customer_id}",
        "email": None,
        "first_name": None,
        "last_name": None,
        "phone": phone,
        "created_at": now,
        "updated_at": now,
        "state": "disabled",
        "note": None,
        "verified_email": True,
        "currency": "USD",
        "addresses": [],
        "default_address": None,
    }
    payload.update(fields)
    return payload


def consent_payload(customer_id: int, phone, state="subscribed", updated_at=None, **consent):
    """customers_marketing_consent/update: lower-case states and levels."""
    return {
        "id": customer_id,
        "phone": phone,
        "sms_marketing_consent": {
            "state": state,
            "opt_in_level": "single_opt_in",
            "consent_updated_at": updated_at or datetime.now(UTC).isoformat(),
            "consent_collected_from": "SHOPIFY",
            **consent,
        },
    }


def tags_payload(customer_id: int, tags: list[str]) -> dict:
    """customer.tags_added / customer.tags_removed: the tags that changed, not all tags."""
    return {
        "customerId": f"gid://shopify/Customer/{customer_id}",
        "tags": tags,
        "occurredAt": datetime.now(UTC).isoformat(),
    }


def shop_payload(shop: str, **fields) -> dict:
    """shop/update (the REST shop resource, abridged)."""
    payload = {
        "id": 548380009,
        "name": "Gamma Goods",
        "domain": shop,
        "myshopify_domain": shop,
        "country_code": "US",
        "currency": "USD",
        "iana_timezone": "America/New_York",
        "timezone": "(GMT-05:00) Eastern Time (US & Canada)",
    }
    payload.update(fields)
    return payload


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body or b"null")


class _QuietHandler(WSGIRequestHandler):
    def log(self, *args) -> None:  # keep per-request access logs out of test output
        pass


class GraphQLFailure(Exception):
    pass


def _json(body, status=200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def _user_error(field, message, code="INVALID") -> dict:
    return {"customer": None, "userErrors": [{"field": field, "message": message, "code": code}]}


class FakeShopify:
    def __init__(self, api_key: str, api_secret: str, scope="read_customers,write_customers"):
        self.api_key, self.api_secret, self.scope = api_key, api_secret, scope
        self.clock = time.time  # tests may replace it to age tokens
        self.requests: list[RecordedRequest] = []
        self.customers: dict[str, list[dict]] = {}
        self.shop_info: dict[str, dict] = {}  # GraphQL `shop` per shop (default below)
        self.consent_updates: list[dict] = []
        self.bulk_operations: dict[str, dict] = {}
        self.access_tokens: dict[str, tuple[str, float | None]] = {}  # token -> (shop, expiry)
        self.refresh_tokens: dict[str, tuple[str, float]] = {}
        self._throttles: list[dict] = []
        self._failures: list[int] = []
        self._ids = iter(range(1001, 10**9))
        self._lock = threading.Lock()
        self._server = make_server(
            "127.0.0.1", 0, self._wsgi, threaded=True, request_handler=_QuietHandler
        )
        self.port = self._server.server_port
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.admin_base_template = self.base_url + "/{shop}"
        # Billing (one-time purchases, plans, usage records, their webhooks, the merchant's
        # confirmation page): the same simulator `make run` uses. Webhooks queue in
        # `billing.outbox` for the test to deliver, or go to `billing.webhook_url` if set.
        self.billing = BillingSim(api_secret, self.base_url)
        # Code discounts (the composer's picker, unique codes per recipient): the same
        # simulator `make run` uses; tests replace it to start clean.
        self.discounts = DiscountSim()
        # A short poll interval keeps stop() (and so each test) fast.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeShopify:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- scripting ---------------------------------------------------------------------------
    def add_customer(self, shop: str, *, phone=None, sms_state="NOT_SUBSCRIBED", **fields):
        """Seed a customer; `phone`/`sms_state` build defaultPhoneNumber, **fields override."""
        customer = {
            "id": f"gid://shopify/Customer/{next(self._ids)}",
            "firstName": None,
            "lastName": None,
            "email": None,
            "tags": [],
            "numberOfOrders": "0",  # UnsignedInt64: serialised as a string
            "amountSpent": {"amount": "0.0", "currencyCode": "USD"},
            "lastOrder": None,
            "defaultPhoneNumber": None,
        }
        if phone:
            consent = {
                "state": sms_state,
                "optInLevel": "SINGLE_OPT_IN",
                "collectedFrom": "OTHER",
                "updatedAt": None,
            }
            customer["defaultPhoneNumber"] = {"phoneNumber": phone, "smsMarketingConsent": consent}
        customer.update(fields)
        with self._lock:
            self.customers.setdefault(shop, []).append(customer)
        return copy.deepcopy(customer)

    def issue_token(self, shop: str, expiring: bool = True) -> dict:
        """Mint a token as the token endpoint would (skips the exchange in API tests)."""
        now = self.clock()
        body = {"access_token": "shpat_" + secrets.token_hex(16), "scope": self.scope}
        with self._lock:
            expiry = now + ACCESS_TTL if expiring else None
            self.access_tokens[body["access_token"]] = (shop, expiry)
            if expiring:
                body.update(
                    expires_in=ACCESS_TTL,
                    refresh_token="shprt_" + secrets.token_hex(16),
                    refresh_token_expires_in=REFRESH_TTL,
                )
                self.refresh_tokens[body["refresh_token"]] = (shop, now + REFRESH_TTL)
        return body

    def expire_token(self, access_token: str) -> None:
        with self._lock:
            shop, _ = self.access_tokens[access_token]
            self.access_tokens[access_token] = (shop, 0.0)

    def throttle_next(self, n=1, requested_cost=352, available=52, restore_rate=100.0) -> None:
        """The next n GraphQL calls answer THROTTLED; default wait (352-52)/100 = 3 s."""
        cost = {
            "requestedQueryCost": requested_cost,
            "actualQueryCost": None,
            "throttleStatus": {
                "maximumAvailable": 2000.0,
                "currentlyAvailable": available,
                "restoreRate": restore_rate,
            },
        }
        self._throttles.extend([cost] * n)

    def fail_next(self, n=1, status=503) -> None:
        self._failures.extend([status] * n)

    # --- HTTP --------------------------------------------------------------------------------
    def _wsgi(self, environ, start_response):
        request = Request(environ)
        body = request.get_data()
        self.requests.append(
            RecordedRequest(request.method, request.path, dict(request.headers), body)
        )
        shop, _, rest = request.path.lstrip("/").partition("/")
        page = charge_page(self.billing, request, shop, rest)  # the merchant's browser
        if page is not None:
            response = page
        elif request.method == "POST" and rest == "admin/oauth/access_token":
            response = self._token(shop, json.loads(body or b"{}"))
        elif request.method == "POST" and GRAPHQL_PATH.match(rest):
            response = self._graphql(shop, request.headers, json.loads(body or b"{}"))
        elif request.method == "GET" and rest.startswith("bulk/"):
            response = Response(self._jsonl(shop), mimetype="application/jsonl")
        else:
            response = _json({"errors": "Not Found"}, 404)
        return response(environ, start_response)

    def _token(self, shop: str, body: dict) -> Response:
        if (body.get("client_id"), body.get("client_secret")) != (self.api_key, self.api_secret):
            return _json({"error": "invalid_client"}, 400)
        grant = body.get("grant_type")
        if grant == TOKEN_EXCHANGE:
            if not self._valid_subject(shop, body):
                return _json({"error": "invalid_subject_token"}, 400)
            return _json(self.issue_token(shop, expiring=body.get("expiring") in (1, "1")))
        if grant == "refresh_token":
            with self._lock:  # single use: the old refresh token dies on rotation
                owner = self.refresh_tokens.pop(body.get("refresh_token"), None)
            if owner is None or owner[0] != shop or owner[1] <= self.clock():
                return _json({"error": "invalid_grant"}, 400)
            return _json(self.issue_token(shop))
        return _json({"error": "unsupported_grant_type"}, 400)

    def _valid_subject(self, shop: str, body: dict) -> bool:
        if (body.get("subject_token_type"), body.get("requested_token_type")) != (
            ID_TOKEN_TYPE,
            OFFLINE_TOKEN_TYPE,
        ):
            return False
        try:
            claims = jwt.decode(
                body.get("subject_token") or "",
                self.api_secret,
                algorithms=["HS256"],
                audience=self.api_key,
                leeway=10,
            )
        except jwt.PyJWTError:
            return False
        return claims.get("dest") == f"https://{shop}"

    def _graphql(self, shop: str, headers, body: dict) -> Response:
        with self._lock:
            failure = self._failures.pop(0) if self._failures else None
            grant = self.access_tokens.get(headers.get("X-Shopify-Access-Token", ""))
        if failure:
            return _json({"errors": "Internal Server Error"}, failure)
        if not grant or grant[0] != shop or (grant[1] is not None and grant[1] <= self.clock()):
            return _json({"errors": UNAUTHORIZED}, 401)
        with self._lock:
            throttle = self._throttles.pop(0) if self._throttles else None
        if throttle:
            error = {"message": "Throttled", "extensions": {"code": "THROTTLED"}}
            return _json({"errors": [error], "extensions": {"cost": throttle}})
        try:
            with self._lock:
                data = self._resolve(shop, body.get("query", ""), body.get("variables") or {})
        except GraphQLFailure as exc:
            return _json({"errors": [{"message": str(exc)}]})
        return _json({"data": data})

    # --- GraphQL resolvers (called under the lock) -------------------------------------------
    def _resolve(self, shop: str, query: str, variables: dict) -> dict:
        if (billing := self.billing.resolve(shop, query, variables)) is not None:
            return billing
        try:
            discounts = self.discounts.resolve(shop, query, variables)
        except ValueError as exc:
            raise GraphQLFailure(str(exc)) from None
        if discounts is not None:
            return discounts
        if "bulkOperationRunQuery" in query:
            return {"bulkOperationRunQuery": self._run_bulk(shop, variables)}
        if "currentBulkOperation" in query:
            return {"currentBulkOperation": copy.deepcopy(self.bulk_operations.get(shop))}
        if "customerSmsMarketingConsentUpdate" in query:
            return {"customerSmsMarketingConsentUpdate": self._consent(shop, variables)}
        if re.search(r"\bshop\s*\{", query):
            return {"shop": copy.deepcopy(self._shop(shop))}
        if re.search(r"\bcustomers\s*\(", query):
            return {"customers": self._customers_page(shop, variables)}
        raise GraphQLFailure("FakeShopify does not support this query")

    def _shop(self, shop: str) -> dict:
        default = {
            "name": shop.split(".")[0].title(),
            "ianaTimezone": "America/New_York",
            "currencyCode": "USD",
            "billingAddress": {"countryCodeV2": "US"},
        }
        return self.shop_info.get(shop, default)

    def _customers_page(self, shop: str, variables: dict) -> dict:
        first = int(variables.get("first") or 0)
        if not 0 < first <= 250:
            raise GraphQLFailure("first must be between 1 and 250")
        rows = self.customers.get(shop, [])
        if variables.get("query") == "phone:*":
            rows = [c for c in rows if (c.get("defaultPhoneNumber") or {}).get("phoneNumber")]
        after = variables.get("after")
        start = int(base64.b64decode(after).decode().split(":")[1]) if after else 0
        nodes = copy.deepcopy(rows[start : start + first])
        end = start + len(nodes)
        cursor = base64.b64encode(f"cursor:{end}".encode()).decode() if nodes else None
        return {"nodes": nodes, "pageInfo": {"hasNextPage": end < len(rows), "endCursor": cursor}}

    def _consent(self, shop: str, variables: dict) -> dict:
        data = copy.deepcopy(variables.get("input") or {})
        self.consent_updates.append({"shop": shop, **data})
        customer = next(
            (c for c in self.customers.get(shop, []) if c["id"] == data.get("customerId")), None
        )
        if customer is None:
            return _user_error(["input", "customerId"], "Customer not found")
        phone = customer.get("defaultPhoneNumber")
        if not phone:
            return _user_error(
                ["input", "smsMarketingConsent"],
                "A phone number is required to set the SMS consent state.",
                "MISSING_ARGUMENT",
            )
        consent = data.get("smsMarketingConsent") or {}
        if consent.get("marketingState") not in ("SUBSCRIBED", "UNSUBSCRIBED", "PENDING"):
            return _user_error(
                ["input", "smsMarketingConsent", "marketingState"], "Marketing state is invalid"
            )
        stored = phone["smsMarketingConsent"]
        stored.update(
            state=consent["marketingState"],
            optInLevel=consent.get("marketingOptInLevel", stored["optInLevel"]),
            updatedAt=consent.get("consentUpdatedAt") or datetime.now(UTC).isoformat(),
        )
        return {
            "customer": copy.deepcopy({"id": customer["id"], "defaultPhoneNumber": phone}),
            "userErrors": [],
        }

    def _run_bulk(self, shop: str, variables: dict) -> dict:
        # Completes instantly; the JSONL holds the shop's customers whatever the query says.
        number = next(self._ids)
        self.bulk_operations[shop] = {
            "id": f"gid://shopify/BulkOperation/{number}",
            "status": "COMPLETED",
            "errorCode": None,
            "objectCount": str(len(self.customers.get(shop, []))),
            "url": f"{self.base_url}/{shop}/bulk/{number}.jsonl",
            "partialDataUrl": None,
        }
        operation = {"id": self.bulk_operations[shop]["id"], "status": "CREATED"}
        return {"bulkOperation": operation, "userErrors": []}

    def _jsonl(self, shop: str) -> str:
        with self._lock:
            return "".join(json.dumps(c) + "\n" for c in self.customers.get(shop, []))
