"""Liveness and readiness probes for the load balancer and the orchestrator."""

from __future__ import annotations

import redis
from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from astronote.extensions import db
from astronote.tasks import huey

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


def _check_database() -> str:
    db.session.execute(text("SELECT 1"))
    return "ok"


def _check_queue() -> str:
    return f"ok ({huey.pending_count()} pending)"


def _check_redis() -> str:
    url = current_app.config["REDIS_URL"]
    if not url:
        return "not configured"
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    finally:
        client.close()
    return "ok"


@bp.get("/readyz")
def readyz():
    checks, healthy = {}, True
    for name, check in (
        ("database", _check_database),
        ("queue", _check_queue),
        ("redis", _check_redis),
    ):
        try:
            checks[name] = check()
        except Exception as exc:  # a probe reports failures; it must not raise them
            checks[name] = f"error: {type(exc).__name__}"
            healthy = False
    if not healthy:
        db.session.rollback()
    return jsonify(
        status="ok" if healthy else "unavailable", checks=checks
    ), 200 if healthy else 503
