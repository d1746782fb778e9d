"""Mitto callbacks: delivery reports and inbound messages. Verified, parsed, then applied.

The signature covers the raw body whatever its content type, so the body is read
raw (and cached) before anything parses it; `security` leaves these bodies alone.
"""

from __future__ import annotations

import json
import logging

from flask import Blueprint, current_app, jsonify, request

from astronote.integrations.mitto.callbacks import parse_delivery_batch, parse_inbound
from astronote.integrations.mitto.signatures import is_authentic
from astronote.services.messaging import inbound
from astronote.services.sending import delivery_reports
from astronote.tasks import enqueue_safely
from astronote.views.unit_of_work import unit_of_work

bp = Blueprint("provider_callbacks", __name__, url_prefix="/webhooks/mitto")
log = logging.getLogger("astronote.callbacks")
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _authorised(raw: bytes) -> bool:
    return is_authentic(
        current_app.config["MITTO_WEBHOOK_SECRET"],
        raw,
        request.headers.get("X-Mitto-Signature", ""),
        request.args.get("token", ""),
    )


class _NotJson(ValueError):
    pass


def _payload(raw: bytes):
    """A JSON object or array, or the same fields as query/form parameters."""
    if raw.strip():
        try:
            return json.loads(raw)
        except (ValueError, RecursionError):  # RecursionError: nested too deeply
            if request.mimetype not in FORM_TYPES:
                raise _NotJson("The body is neither JSON nor form fields.") from None
    fields = {**request.args.to_dict(), **request.form.to_dict()}
    fields.pop("token", None)
    return fields


def _invalid(message: str):
    return jsonify(error="invalid_payload", message=message), 400


def _log_rejected(rejected) -> None:
    """Refused reports are answered 2xx (a retry cannot fix them): the log keeps them."""
    for item in rejected[:20]:
        log.warning("delivery report #%d refused: %s", item.index, item.reason)
    if len(rejected) > 20:
        log.warning("%d more delivery reports refused in the same batch", len(rejected) - 20)


@bp.post("/dlr")
def delivery_report():
    raw = request.get_data(cache=True)
    if not _authorised(raw):
        return jsonify(error="unauthorised"), 401
    try:
        payload = _payload(raw)
    except _NotJson as exc:
        return _invalid(str(exc))
    if not isinstance(payload, dict | list):
        return _invalid("Expected a JSON object or array.")
    reports, rejected = parse_delivery_batch(payload)
    _log_rejected(rejected)
    with unit_of_work():
        counts = delivery_reports.apply(reports)
    received = len(reports) + len(rejected)
    return jsonify(status="ok", received=received, rejected=len(rejected), **counts), 200


@bp.post("/inbound")
def inbound_message():
    """Store every reply (routed or not) once, act on STOP/START/HELP, answer 200."""
    raw = request.get_data(cache=True)
    if not _authorised(raw):
        return jsonify(error="unauthorised"), 401
    try:
        sms = parse_inbound(_payload(raw))
    except (TypeError, ValueError) as exc:
        return _invalid(str(exc)[:200])
    if not sms.from_number:
        return _invalid("The sender number is missing.")
    with unit_of_work():
        message = inbound.record(sms)
        action = inbound.act_on_keyword(message) if message is not None else None
    if message is None:
        return jsonify(status="duplicate"), 200
    if action is not None:
        from astronote.tasks.inbox import after_keyword

        enqueue_safely(after_keyword, message.id, action[0], action[1])
    return jsonify(status="stored", routed_by=message.routed_by, keyword=message.keyword), 200
