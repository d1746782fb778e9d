"""Security headers; CSP frame-ancestors names only the verified shop's admin."""

from __future__ import annotations

from flask import Flask, g

SHOPIFY_ADMIN = "https://admin.shopify.com"


def init_app(app: Flask) -> None:
    @app.after_request
    def _security_headers(response):
        session_token = g.get("session_token")
        if session_token is not None:
            ancestors = f"https://{session_token.shop_domain} {SHOPIFY_ADMIN}"
        else:
            ancestors = "'none'"
        response.headers["Content-Security-Policy"] = f"frame-ancestors {ancestors};"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
        if app.config["ASTRONOTE_ENV"] == "production":
            response.headers["Strict-Transport-Security"] = "max-age=31536000"
        return response
