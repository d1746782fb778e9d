"""Domain errors and the handlers that turn every failure into a clear answer.

A page for document requests, a fragment for htmx, JSON for machine callers;
never a bare 500 page with a traceback.
"""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

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


def _respond(status: int, title: str, message: str):
    if _wants_json():
        return jsonify(error=title, message=message), status
    template = "errors/_fragment.html" if htmx else "errors/page.html"
    return render_template(template, status=status, title=title, message=message), status


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
        return _respond(exc.code or 500, exc.name, exc.description or exc.name)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        db.session.rollback()
        log.exception("unhandled error")
        return _respond(
            500, "Something went wrong", "The error was logged. Please try again in a moment."
        )
