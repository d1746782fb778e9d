"""POST /webhooks/shopify: verify the HMAC, record once, enqueue, answer at once."""

from __future__ import annotations

import json
import logging

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy.exc import IntegrityError

from astronote.integrations.shopify.webhooks import (
    HMAC_HEADER,
    InvalidWebhook,
    is_stale,
    parse_headers,
    payload_shop_mismatch,
    verify_webhook_hmac,
)
from astronote.services.shopify import webhook_events
from astronote.tasks import enqueue_safely
from astronote.tasks.shopify import process_webhook
from astronote.views.unit_of_work import unit_of_work

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
log = logging.getLogger("astronote.webhooks")


@bp.post("/shopify")
def shopify():
    raw = request.get_data(cache=False)  # the HMAC covers the exact bytes Shopify sent
    secrets = [
        current_app.config["SHOPIFY_API_SECRET"],
        current_app.config["SHOPIFY_API_SECRET_OLD"],
    ]
    if not verify_webhook_hmac(raw, request.headers.get(HMAC_HEADER), secrets):
        return jsonify(error="invalid_hmac"), 401
    try:
        delivery = parse_headers(request.headers)
    except InvalidWebhook as exc:
        return jsonify(error="invalid_headers", message=str(exc)), 400
    if delivery.topic not in webhook_events.TOPICS:
        return jsonify(status="ignored", topic=delivery.topic), 200
    if is_stale(delivery):
        # 200, not 4xx: a non-2xx makes Shopify retry (and counts against the subscription),
        # and a delivery this old is past every retry Shopify makes: only a replay is left.
        log.warning("stale %s delivery %s ignored", delivery.topic, delivery.webhook_id)
        return jsonify(status="ignored", reason="stale"), 200
    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nested too deeply
        return jsonify(error="invalid_json"), 400
    if not isinstance(payload, dict):  # every topic we handle is a JSON object
        return jsonify(error="invalid_json", message="The body must be a JSON object."), 400
    if payload_shop_mismatch(delivery, payload):
        return jsonify(
            error="shop_mismatch", message="shop_domain does not match X-Shopify-Shop-Domain."
        ), 400
    try:
        with unit_of_work():
            event = webhook_events.record(delivery, raw)
    except IntegrityError:  # the same delivery, racing on another web process
        return jsonify(status="duplicate"), 200
    if event is None:
        return jsonify(status="duplicate"), 200
    enqueue_safely(process_webhook, event.id)
    return jsonify(status="accepted"), 200
