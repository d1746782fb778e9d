"""Security headers; CSP frame-ancestors names only the verified shop's admin."""

from __future__ import annotations

from flask import Flask, abort, g, request
from werkzeug.routing import BaseConverter

SHOPIFY_ADMIN = "https://admin.shopify.com"


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


def _reject_nul_bytes():
    """PostgreSQL text cannot hold NUL; refuse such input clearly instead of failing later."""
    if b"\x00" in request.query_string or "%00" in request.query_string.decode("latin-1"):
        abort(400, "The request contains a NUL character.")
    form_body = request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data")
    if form_body and any("\x00" in value for value in request.form.values()):
        abort(400, "The form contains a NUL character.")


def init_app(app: Flask) -> None:
    app.url_map.converters["int"] = DatabaseId
    app.before_request(_reject_nul_bytes)

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
        return response
