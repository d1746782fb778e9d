"""JSON log lines on stdout, each carrying the request id, shop and task."""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from contextvars import ContextVar
from urllib.parse import unquote_plus

from flask import Flask, g, request

log_context: ContextVar[dict] = ContextVar("log_context", default={})  # noqa: B039
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Credentials travel in query strings (Shopify's id_token, Mitto's token): never log them.
_SECRET_NAMES = ("id_token", "token", "hmac", "session", "signature")
# Any `name=value` pair; the name is decoded before it is judged, because the app reads
# `?to%6Ben=` as `token` and the log must hide it just the same.
_PARAM = re.compile(r"([^&\s?=]+)=([^&\s]+)")


def _secret_name(name: str) -> bool:
    for _ in range(3):  # a few rounds also catch double encoding; more is never needed
        decoded = unquote_plus(name)
        if decoded == name:
            break
        name = decoded
    return name.lower().endswith(_SECRET_NAMES)


def redact(text: str) -> str:
    return _PARAM.sub(
        lambda m: f"{m.group(1)}=[redacted]" if _secret_name(m.group(1)) else m.group(0), text
    )


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "msg": redact(record.getMessage()),
            **log_context.get(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def bind(**fields) -> None:
    """Add fields (shop, task, ...) to every log line of the current context."""
    log_context.set({**log_context.get(), **fields})


def init_app(app: Flask) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("astronote")
    root.handlers[:] = [handler]
    root.setLevel(app.config["LOG_LEVEL"])
    root.propagate = False

    @app.before_request
    def _start_request_log():
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        log_context.set({"request_id": g.request_id})

    @app.after_request
    def _finish_request_log(response):
        response.headers["X-Request-ID"] = g.get("request_id", "")
        if request.endpoint not in ("health.healthz", "static"):
            logging.getLogger("astronote.http").info(
                "%s %s %s", request.method, request.full_path.rstrip("?"), response.status_code
            )
        return response
