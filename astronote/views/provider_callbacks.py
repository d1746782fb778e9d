"""Mitto callbacks: delivery reports and inbound messages. Verified, parsed, then applied."""

from __future__ import annotations

import json
import logging

from flask import Blueprint, current_app, jsonify, request

from astronote.integrations.mitto.callbacks import parse_delivery_reports, parse_inbound
from astronote.integrations.mitto.signatures import is_authentic
from astronote.services.messaging import inbound
from astronote.services.sending import delivery_reports
from astronote.tasks import enqueue_safely
from astronote.views.unit_of_work import unit_of_work

bp = Blueprint("provider_callbacks", __name__, url_prefix="/webhooks/mitto")
log = logging.getLogger("astronote.callbacks")


def _authorised(raw: bytes) -> bool:
    return is_authentic(
        current_app.config["MITTO_WEBHOOK_SECRET"],
        raw,
        request.headers.get("X-Mitto-Signature", ""),
        request.args.get("token", ""),
    )


def _payload(raw: bytes):
    """A JSON object or array, or the same fields as query/form parameters."""
    if raw.strip():
        try:
            return json.loads(raw)
        except ValueError:
            pass
    fields = {**request.args.to_dict(), **request.form.to_dict()}
    fields.pop("token", None)
    return fields


@bp.post("/dlr")
def delivery_report():
    raw = request.get_data(cache=True)
    if not _authorised(raw):
        return jsonify(error="unauthorised"), 401
    payload = _payload(raw)
    if not isinstance(payload, dict | list):
        return jsonify(error="invalid_payload", message="Expected a JSON object or array."), 400
    try:
        reports = parse_delivery_reports(payload)
    except (TypeError, ValueError) as exc:
        return jsonify(error="invalid_payload", message=str(exc)[:200]), 400
    with unit_of_work():
        counts = delivery_reports.apply(reports)
    return jsonify(status="ok", received=len(reports), **counts), 200


@bp.post("/inbound")
def inbound_message():
    """Store every reply (routed or not) once, act on STOP/START/HELP, answer 200."""
    raw = request.get_data(cache=True)
    if not _authorised(raw):
        return jsonify(error="unauthorised"), 401
    payload = _payload(raw)
    try:
        sms = parse_inbound(payload)
    except (TypeError, ValueError) as exc:
        return jsonify(error="invalid_payload", message=str(exc)[:200]), 400
    if not sms.from_number:
        return jsonify(error="invalid_payload", message="The sender number is missing."), 400
    with unit_of_work():
        message = inbound.record(sms)
        action = inbound.act_on_keyword(message) if message is not None else None
    if message is None:
        return jsonify(status="duplicate"), 200
    if action is not None:
        from astronote.tasks.inbox import after_keyword

        enqueue_safely(after_keyword, message.id, action[0], action[1])
    return jsonify(status="stored", routed_by=message.routed_by, keyword=message.keyword), 200
