"""Domain errors and the handlers that turn every failure into a clear answer.

A page for document requests, a fragment for htmx, JSON for machine callers;
never a bare 500 page with a traceback.
"""

from __future__ import annotations

import logging

from flask import Flask, current_app, g, jsonify, render_template, request, session, url_for
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import NotFound as HTTPNotFound

from astronote.extensions import db, htmx

log = logging.getLogger("astronote.errors")


class AstronoteError(Exception):
    status = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class ValidationFailed(AstronoteError):
    """Per-field messages, keyed by form field name."""

    status = 422

    def __init__(self, field_errors: dict[str, str]):
        super().__init__("; ".join(field_errors.values()))
        self.field_errors = field_errors


class NotFound(AstronoteError):
    status = 404


def _wants_json() -> bool:
    return request.path.startswith(("/webhooks/", "/api/")) or (
        request.accept_mimetypes.best == "application/json"
    )


PAGE_NOT_FOUND = (
    "Page not found",
    "There is no page at this address. The link may be mistyped, or what it pointed to "
    "was deleted.",
)


def _identify_shop() -> None:
    """An unknown URL matches no blueprint, so `load_shop` never ran: find the signed-in
    shop without its side effects (no install, no bounce) to keep the layout's shop badge."""
    if g.get("shop") is not None:
        return
    from astronote.auth import dev_signin_allowed
    from astronote.integrations.shopify.session_tokens import (
        InvalidSessionToken,
        decode_session_token,
    )
    from astronote.services.shopify import shops

    header = request.headers.get("Authorization", "")
    token = header.removeprefix("Bearer ").strip() or request.args.get("id_token", "")
    try:
        if token:
            config = current_app.config
            secrets = [config["SHOPIFY_API_SECRET"], config["SHOPIFY_API_SECRET_OLD"]]
            verified = decode_session_token(token, config["SHOPIFY_API_KEY"], secrets)
            found = shops.find(verified.shop_domain)
            if found is not None and found.is_active:
                g.session_token, g.shop = verified, found
        elif dev_signin_allowed() and session.get("dev_shop_id"):
            g.shop = shops.get_active(session["dev_shop_id"])
    except (InvalidSessionToken, SQLAlchemyError, TypeError, ValueError):
        db.session.rollback()  # a page without the badge beats an error on the error page


def _way_back() -> str:
    """Home, carrying the shop so the admin's bounce page can mint a session token."""
    shop = g.get("shop")
    return url_for("home.index", shop=shop.shop_domain) if shop is not None else "/"


def _respond(status: int, title: str, message: str):
    if _wants_json():
        return jsonify(error=title, message=message), status
    if htmx:
        return render_template("errors/_fragment.html", title=title, message=message), status
    if status < 500:
        _identify_shop()
    page = render_template(
        "errors/page.html", status=status, title=title, message=message, back=_way_back()
    )
    return page, status


def init_app(app: Flask) -> None:
    @app.errorhandler(AstronoteError)
    def _domain_error(exc: AstronoteError):
        return _respond(exc.status, "Request not completed", exc.message)

    @app.errorhandler(413)
    def _too_large(exc):
        limit = app.config["IMPORT_MAX_MB"]
        return _respond(413, "File too large", f"Uploads are limited to {limit} MB.")

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        if isinstance(exc, HTTPNotFound) and exc.description == HTTPNotFound.description:
            return _respond(404, *PAGE_NOT_FOUND)  # Werkzeug's stock sentence, in our words
        return _respond(exc.code or 500, exc.name, exc.description or exc.name)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        db.session.rollback()
        log.exception("unhandled error")
        return _respond(
            500, "Something went wrong", "The error was logged. Please try again in a moment."
        )
