"""Public endpoints: the unsubscribe page, the storefront opt-in API and contact form.

No session here: the unsubscribe code or the shop domain identifies the shop,
and only the data that belongs to it is touched.
"""

from __future__ import annotations

import re

from flask import Blueprint, abort, jsonify, render_template, request

from astronote.errors import ValidationFailed
from astronote.extensions import db
from astronote.models import ConsentSource, ConsentState, Shop
from astronote.services.contacts import editing as contacts
from astronote.services.messaging import public_limits, storefront, unsubscribe
from astronote.services.shopify import consent_writeback
from astronote.tasks import enqueue_safely
from astronote.views.unit_of_work import unit_of_work

bp = Blueprint("public", __name__)
STOREFRONT_ORIGIN = re.compile(r"^https://[a-z0-9][a-z0-9-]*\.myshopify\.com$")


def _ip() -> str:
    return request.remote_addr or "unknown"


@bp.route("/u/<code>", methods=["GET", "POST"])
def unsubscribe_page(code: str):
    """GET only shows the page (link previewers must not unsubscribe anyone); POST confirms."""
    contact = unsubscribe.contact_for(code)
    if contact is None:
        return render_template("public/unsubscribe_invalid.html"), 404
    shop = db.session.get(Shop, contact.shop_id)
    done = contact.consent_state == ConsentState.UNSUBSCRIBED.value
    if request.method == "POST" and not done:
        agent = (request.user_agent.string or "")[:200]
        with unit_of_work():
            contacts.record_consent(
                contact,
                ConsentState.UNSUBSCRIBED.value,
                ConsentSource.UNSUBSCRIBE_PAGE,
                f"Unsubscribe page: IP {_ip()}, user agent {agent}",
            )
        if consent_writeback.needs_push(contact):
            from astronote.tasks.shopify import push_consent

            enqueue_safely(push_consent, contact.id)
        done = True
    response = render_template(
        "public/unsubscribe.html", shop=shop, contact=contact, done=done, code=code
    )
    return response, 200, {"Cache-Control": "no-store", "X-Robots-Tag": "noindex"}


def _cors(response):
    origin = request.headers.get("Origin", "")
    if STOREFRONT_ORIGIN.match(origin):
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = "Content-Type"
        response.headers["Access-Control-Max-Age"] = "600"
    response.headers["Vary"] = "Origin"
    return response


def _form():
    return request.get_json(silent=True) if request.is_json else request.form


def _limited(name: str, rule: str):
    if not public_limits.allow(name, rule, _ip()):
        return _cors(jsonify(error="rate_limited", message="Too many requests; try later.")), 429
    return None


@bp.route("/api/opt-in", methods=["POST", "OPTIONS"])
def opt_in():
    if request.method == "OPTIONS":
        return _cors(jsonify()), 204
    if (limited := _limited("opt-in", "10/minute")) is not None:
        return limited
    form = _form()
    if not isinstance(form, dict) and not hasattr(form, "get"):
        return _cors(jsonify(error="invalid_payload")), 400
    agent = (request.user_agent.string or "")[:200]
    evidence = f"Storefront form ({form.get('source') or 'theme'}): IP {_ip()}, {agent}"
    try:
        with unit_of_work():
            shop = storefront.active_shop(form.get("shop"))
            contact, confirm = storefront.opt_in(shop, form, evidence)
    except ValidationFailed as exc:
        return _cors(jsonify(error="invalid", fields=exc.field_errors)), 400
    if confirm:  # double opt-in: the YES reply completes it; the opt-in stands even if not
        from astronote.tasks.campaigns import send_single

        with unit_of_work():
            message = storefront.queue_confirmation(shop, contact)
        enqueue_safely(send_single, message.id)
    return _cors(jsonify(status=contact.consent_state)), 200


@bp.route("/api/contact", methods=["POST", "OPTIONS"])
def contact_form():
    if request.method == "OPTIONS":
        return _cors(jsonify()), 204
    if (limited := _limited("contact", "5/minute")) is not None:
        return limited
    form = _form() or {}
    try:
        with unit_of_work():
            shop = storefront.active_shop(form.get("shop"))
            storefront.contact_form(shop, form, _ip())
    except ValidationFailed as exc:
        return _cors(jsonify(error="invalid", fields=exc.field_errors)), 400
    return _cors(jsonify(status="received")), 200


@bp.errorhandler(404)
def _not_found(exc):
    if request.path.startswith("/api/"):
        return _cors(jsonify(error="not_found", message="Unknown shop.")), 404
    abort(404)
