"""Security headers; CSP frame-ancestors names only the verified shop's admin.

Also the request checks every route shares: no NUL in input, and a same-origin
check for requests that only a cookie authenticates.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, abort, current_app, g, jsonify, request, session
from werkzeug.routing import BaseConverter

SHOPIFY_ADMIN = "https://admin.shopify.com"
# Signed callbacks: their views verify the raw body first and handle NUL per item.
RAW_BODY_BLUEPRINTS = frozenset({"provider_callbacks", "webhooks"})
# Admin pages show contacts, replies, exports and shop figures: no shared or browser
# cache may keep them. (The public /l/ redirect sets its own headers.)
PERSONAL_DATA_BLUEPRINTS = frozenset(
    {
        "home",
        "campaigns",
        "automations",
        "contacts",
        "imports",
        "inbox",
        "settings",
        "submissions",
        "billing",
        "reports",
        "message_templates",
    }
)
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class DatabaseId(BaseConverter):
    """`<int:...>` for row ids: ids past signed 64 bits become 0, which no row has (a 404).

    Refusing them in routing instead would turn a POST into a confusing 405.
    """

    regex = r"[0-9]{1,40}"
    part_isolating = True

    def to_python(self, value: str) -> int:
        number = int(value)
        return number if number < 2**63 else 0

    def to_url(self, value) -> str:
        return str(int(value))


def _has_nul(value: object) -> bool:
    """Any NUL in the strings (keys included) of a parsed JSON value."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _reject_nul_bytes():
    """PostgreSQL text cannot hold NUL; refuse such input clearly instead of failing later."""
    if b"\x00" in request.query_string or "%00" in request.query_string.decode("latin-1"):
        abort(400, "The request contains a NUL character.")
    if request.blueprint in RAW_BODY_BLUEPRINTS:
        return None  # parsing the form here would consume the body its HMAC covers
    if request.mimetype == "application/x-www-form-urlencoded":
        request.get_data(cache=True)  # keep the raw body readable after the form is parsed
    form_body = request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data")
    if form_body and any("\x00" in value for value in request.form.values()):
        abort(400, "The form contains a NUL character.")
    if request.is_json and _has_nul(_json_body()):
        message = "The request contains a NUL character, which no field may hold."
        return jsonify(error="invalid_input", message=message), 400
    return None


def _json_body():
    """The JSON body, or None when it is not JSON; too deeply nested is a clear 400."""
    try:
        return request.get_json(silent=True)
    except RecursionError:  # json.loads raises it, not ValueError, past ~1,000 levels
        abort(400, "The JSON body is nested too deeply.")


def same_origin() -> bool:
    """False when the browser says the request comes from another site.

    Browsers send `Origin` on every cross-site POST (and "null" from sandboxes), so a
    missing Origin is a same-origin browser or a non-browser client; `Referer` decides
    then, when present.
    """
    origin = request.headers.get("Origin")
    if origin is None:
        referer = request.headers.get("Referer")
        if not referer:
            return True
        parts = urlsplit(referer)
        origin = f"{parts.scheme}://{parts.netloc}"
    return origin.rstrip("/").lower() == request.host_url.rstrip("/").lower()


def _cookie_requests_same_origin():
    """A development cookie authenticates admin routes without a session token, so any
    site could make the developer's browser post to them: refuse other origins."""
    if request.method not in UNSAFE_METHODS or "Authorization" in request.headers:
        return None
    if current_app.config["ASTRONOTE_ENV"] != "development" or not session.get("dev_shop_id"):
        return None
    if not same_origin():
        abort(403, "This request came from another site.")
    return None


def init_app(app: Flask) -> None:
    app.url_map.converters["int"] = DatabaseId
    app.before_request(_reject_nul_bytes)
    app.before_request(_cookie_requests_same_origin)

    @app.after_request
    def _security_headers(response):
        session_token = g.get("session_token")
        if session_token is not None:
            ancestors = f"https://{session_token.shop_domain} {SHOPIFY_ADMIN}"
        else:
            ancestors = "'none'"
        response.headers.setdefault("Content-Security-Policy", f"frame-ancestors {ancestors};")
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
        if app.config["ASTRONOTE_ENV"] == "production":
            response.headers["Strict-Transport-Security"] = "max-age=31536000"
        if request.blueprint in PERSONAL_DATA_BLUEPRINTS:
            response.headers["Cache-Control"] = "no-store"
        return response
