"""The bare webhook endpoint: the baseline of bench/automations_orders.py.

    gunicorn bench.automations_bare:app   (BARE_DSN, BARE_SECRET; BARE_SIM for `send`)

A plain WSGI callable, no framework: read the body, check the HMAC over the exact
bytes, one INSERT ... ON CONFLICT DO NOTHING into `webhook_events` (the real table,
its unique key on the webhook id and its indexes) on a per-thread psycopg connection
in autocommit, answer 200. That is the least any endpoint must do with a delivery
before answering Shopify, done the fastest way we know.

With BARE_SIM set it then also sends the confirmation itself, inline: parse the body,
one POST to the Mitto simulator on a per-thread keep-alive connection. That is the
floor for "a delivery in, an SMS out" with no queue, no guards and no bookkeeping.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import os
import threading
from urllib.parse import urlsplit

import psycopg

DSN = os.environ.get("BARE_DSN", "")
SECRET = os.environ.get("BARE_SECRET", "").encode()
SIM = urlsplit(os.environ.get("BARE_SIM", ""))
INSERT = (
    "INSERT INTO webhook_events (webhook_id, topic, shop_domain, api_version, triggered_at, "
    "payload, status, attempts, received_at) "
    "VALUES (%s, %s, %s, %s, %s, %s, 'received', 0, now()) "
    "ON CONFLICT (webhook_id) DO NOTHING"
)
_local = threading.local()


def _conn() -> psycopg.Connection:
    conn = getattr(_local, "conn", None)
    if conn is None or conn.closed:
        conn = _local.conn = psycopg.connect(DSN, autocommit=True)
    return conn


def _send(payload: dict) -> int:
    """One SMS to the simulator, as the Mitto client would send it."""
    customer = payload.get("customer") or {}
    text = (
        f"Thanks for your order {payload.get('name')} at Bench Outfitters! "
        f"Total: {payload.get('total_price')} {payload.get('currency')}. "
        "We'll text you when it ships."
    )
    body = json.dumps(
        {
            "trafficAccountId": "simulator-account",
            "destination": customer.get("phone"),
            "sms": {"text": text, "sender": "+14155550100"},
            "reference": str(payload.get("id")),
        }
    ).encode()
    headers = {"X-Mitto-API-Key": "simulator-key", "Content-Type": "application/json"}
    for attempt in range(2):
        conn = getattr(_local, "sim", None) or http.client.HTTPConnection(
            SIM.hostname, SIM.port, timeout=30
        )
        _local.sim = conn
        try:
            conn.request("POST", "/api/v1.1/Messages/send", body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            return response.status
        except (OSError, http.client.HTTPException):
            conn.close()
            _local.sim = None
            if attempt:
                raise
    return 0


def _answer(start_response, status: str, text: bytes = b"{}"):
    start_response(status, [("Content-Type", "application/json")])
    return [text]


def app(environ, start_response):
    if environ["REQUEST_METHOD"] != "POST":
        return _answer(start_response, "200 OK", b'{"status":"ok"}')
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length)
    try:
        received = base64.b64decode(environ.get("HTTP_X_SHOPIFY_HMAC_SHA256", ""), validate=True)
    except ValueError:
        received = b""
    if not hmac.compare_digest(received, hmac.new(SECRET, raw, hashlib.sha256).digest()):
        return _answer(start_response, "401 Unauthorized", b'{"error":"invalid_hmac"}')
    row = (
        environ.get("HTTP_X_SHOPIFY_WEBHOOK_ID"),
        environ.get("HTTP_X_SHOPIFY_TOPIC"),
        environ.get("HTTP_X_SHOPIFY_SHOP_DOMAIN"),
        environ.get("HTTP_X_SHOPIFY_API_VERSION"),
        environ.get("HTTP_X_SHOPIFY_TRIGGERED_AT"),
        raw.decode("utf-8", errors="replace"),
    )
    new = _conn().execute(INSERT, row).rowcount == 1
    if new and SIM.hostname and _send(json.loads(raw)) != 200:
        return _answer(start_response, "502 Bad Gateway", b'{"error":"provider"}')
    return _answer(start_response, "200 OK", b'{"status":"accepted"}')
