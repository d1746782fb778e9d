"""Per-IP limits for the public endpoints, shared through Redis when it is configured."""

from __future__ import annotations

import logging
import threading

from flask import current_app
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

log = logging.getLogger("astronote.public")
_lock = threading.Lock()
_limiters: dict[str, MovingWindowRateLimiter] = {}
_memory = MovingWindowRateLimiter(storage_from_string("memory://"))


def _limiter() -> MovingWindowRateLimiter:
    url = current_app.config["REDIS_URL"]
    if not url:
        return _memory
    with _lock:
        if url not in _limiters:
            storage = storage_from_string(url, socket_connect_timeout=0.5, socket_timeout=0.5)
            _limiters[url] = MovingWindowRateLimiter(storage)
        return _limiters[url]


def allow(name: str, rule: str, key: str) -> bool:
    """True if `key` may call `name` now under `rule` (e.g. "10/minute")."""
    limit = parse(rule)
    try:
        return _limiter().hit(limit, "public", name, key)
    except Exception:  # Redis down: keep limiting, per process, rather than fail open
        log.warning("public rate limit falling back to process memory")
        return _memory.hit(limit, "public", name, key)
