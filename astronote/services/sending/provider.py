"""Process-wide Mitto client and rate limiter, built from config once per process."""

from __future__ import annotations

import threading

from flask import current_app

from astronote.integrations.mitto.client import MittoClient

_lock = threading.Lock()
_cache: dict[tuple, object] = {}


def _cached(key: tuple, build):
    with _lock:
        if key not in _cache:
            _cache[key] = build()
        return _cache[key]


def mitto() -> MittoClient:
    c = current_app.config
    key = ("mitto", c["MITTO_API_BASE"], c["MITTO_API_KEY"], c["MITTO_TRAFFIC_ACCOUNT_ID"])
    return _cached(
        key,
        lambda: MittoClient(
            c["MITTO_API_BASE"],
            c["MITTO_API_KEY"],
            c["MITTO_TRAFFIC_ACCOUNT_ID"],
            read_timeout=c.get("MITTO_READ_TIMEOUT", 30.0),
        ),
    )


def limiter():
    from astronote.services.sending.rate_limits import SendRateLimiter

    c = current_app.config
    key = (
        "limiter",
        c["REDIS_URL"],
        c["RATE_LIMIT_TRAFFIC_ACCOUNT_MAX"],
        c["RATE_LIMIT_TENANT_MAX"],
        c["RATE_LIMIT_GLOBAL_MAX"],
    )
    return _cached(key, lambda: SendRateLimiter.from_config(c))


def account_ceiling() -> int:
    """The configured per-traffic-account rate: where the adaptive rate grows back to."""
    return int(current_app.config["RATE_LIMIT_TRAFFIC_ACCOUNT_MAX"])


def traffic_account() -> str:
    return current_app.config["MITTO_TRAFFIC_ACCOUNT_ID"]
