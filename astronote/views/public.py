"""Public endpoints: the unsubscribe page, the storefront opt-in API and contact form.

No session here: the unsubscribe code or the shop domain identifies the shop,
and only the data that belongs to it is touched.
"""

from __future__ import annotations

import re

from flask import Blueprint, abort, jsonify, render_template, request
from sqlalchemy.exc import IntegrityError

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
# Per shop, on top of per IP: a busy store's sign-ups fit; a script's do not.
OPT_IN_SHOP_RULES = ("60/minute", "1000/hour")


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


def _body():
    """The body as JSON (None if it does not parse) or as a form."""
    return request.get_json(silent=True) if request.is_json else request.form


def _error(status: int, **body):
    return _cors(jsonify(**body)), status


def _limited(name: str, rule: str, key: str | None = None):
    if not public_limits.allow(name, rule, key or _ip()):
        return _error(429, error="rate_limited", message="Too many requests; try later.")
    return None


def _payload():
    """The body's fields, or the 400 answer that says what is wrong with their shape."""
    try:
        return storefront.read_payload(_body()), None
    except storefront.InvalidPayload as exc:
        return None, _error(400, error="invalid_payload", message=str(exc))
    except ValidationFailed as exc:
        message = "Some fields have the wrong type."
        return None, _error(400, error="invalid", message=message, fields=exc.field_errors)


def _shop_limited(form: dict):
    """Per-shop limits: one store's form cannot be used to text the world at our cost."""
    shop_key = (form.get("shop") or "").strip().lower()[:255] or "none"
    for rule in OPT_IN_SHOP_RULES:
        if (limited := _limited("opt-in-shop", rule, shop_key)) is not None:
            return limited
    return None


@bp.route("/api/opt-in", methods=["POST", "OPTIONS"])
def opt_in():
    if request.method == "OPTIONS":
        return _cors(jsonify()), 204
    if (limited := _limited("opt-in", "10/minute")) is not None:
        return limited
    form, invalid = _payload()
    if invalid is not None:
        return invalid
    if (limited := _shop_limited(form)) is not None:
        return limited
    agent = (request.user_agent.string or "")[:200]
    evidence = f"Storefront form ({form.get('source') or 'theme'}): IP {_ip()}, {agent}"
    try:
        with unit_of_work():
            shop = storefront.active_shop(form.get("shop"))
            contact, confirm = storefront.opt_in(shop, form, evidence)
    except ValidationFailed as exc:
        return _error(400, error="invalid", fields=exc.field_errors)
    except IntegrityError:  # the same new number signed up twice at once: one of them won
        return _error(409, error="conflict", message="A sign-up for this number is in progress.")
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
    form, invalid = _payload()
    if invalid is not None:
        return invalid
    try:
        with unit_of_work():
            shop = storefront.active_shop(form.get("shop"))
            storefront.contact_form(shop, form, _ip())
    except ValidationFailed as exc:
        return _error(400, error="invalid", fields=exc.field_errors)
    return _cors(jsonify(status="received")), 200


@bp.errorhandler(404)
def _not_found(exc):
    if request.path.startswith("/api/"):
        return _cors(jsonify(error="not_found", message="Unknown shop.")), 404
    abort(404)
