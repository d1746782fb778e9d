"""Limits for the public endpoints, shared by every process that serves them.

With Redis configured, the `limits` library keeps moving windows there. The
embedded default has no Redis, and a counter in process memory would give each
gunicorn worker its own allowance; so the counters live in a small SQLite file
next to Huey's, which every process on the host shares (`_FileWindows`). Redis
down falls back to that file too: limits keep holding, never fail open.
"""

from __future__ import annotations

import logging
import random
import sqlite3
import threading
import time
from contextlib import closing
from pathlib import Path

from flask import current_app
from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

log = logging.getLogger("astronote.public")
_lock = threading.Lock()
_limiters: dict[str, MovingWindowRateLimiter] = {}
_files: dict[str, _FileWindows] = {}
_memory = MovingWindowRateLimiter(storage_from_string("memory://"))
FILE_NAME = "public-limits.db"
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS hits (key TEXT NOT NULL, window INTEGER NOT NULL, "
    "hits INTEGER NOT NULL, expires REAL NOT NULL, PRIMARY KEY (key, window))"
)


class _FileWindows:
    """Sliding-window counters in one SQLite file: the current fixed window's count plus
    the previous one's, weighted by how much of it still overlaps the sliding window."""

    def __init__(self, path: str) -> None:
        self.path = path
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(SCHEMA)
            conn.execute("CREATE INDEX IF NOT EXISTS ix_hits_expires ON hits (expires)")

    def _connect(self) -> sqlite3.Connection:
        # A connection per call: nothing is shared across a gunicorn fork.
        return sqlite3.connect(self.path, timeout=2.0, isolation_level=None)

    def hit(self, item: RateLimitItem, key: str) -> bool:
        period = item.get_expiry()
        now = time.time()
        window = int(now // period)
        weight = 1.0 - (now - window * period) / period
        with closing(self._connect()) as conn:
            conn.execute("BEGIN IMMEDIATE")  # the read and the increment are one step
            rows = dict(
                conn.execute(
                    "SELECT window, hits FROM hits WHERE key = ? AND window IN (?, ?)",
                    (key, window - 1, window),
                ).fetchall()
            )
            used = rows.get(window - 1, 0) * weight + rows.get(window, 0)
            allowed = used + 1 <= item.amount
            if allowed:
                conn.execute(
                    "INSERT INTO hits (key, window, hits, expires) VALUES (?, ?, 1, ?) "
                    "ON CONFLICT (key, window) DO UPDATE SET hits = hits + 1",
                    (key, window, (window + 2) * period),
                )
            if random.random() < 0.01:  # forget old windows now and then
                conn.execute("DELETE FROM hits WHERE expires < ?", (now,))
            conn.execute("COMMIT")
        return allowed

    def reset(self) -> None:
        with closing(self._connect()) as conn:
            conn.execute("DELETE FROM hits")


def _file_path() -> str:
    configured = current_app.config.get("PUBLIC_LIMITS_PATH")
    return configured or str(Path(current_app.config["HUEY_SQLITE_PATH"]).with_name(FILE_NAME))


def _file_store() -> _FileWindows:
    path = _file_path()
    with _lock:
        if path not in _files:
            _files[path] = _FileWindows(path)
        return _files[path]


def _redis_limiter(url: str) -> MovingWindowRateLimiter:
    with _lock:
        if url not in _limiters:
            storage = storage_from_string(url, socket_connect_timeout=0.5, socket_timeout=0.5)
            _limiters[url] = MovingWindowRateLimiter(storage)
        return _limiters[url]


def _hit_file(limit: RateLimitItem, key: str) -> bool:
    try:
        return _file_store().hit(limit, key)
    except (OSError, sqlite3.Error):  # unwritable file: keep limiting, per process
        log.exception("public rate limit file unusable; falling back to process memory")
        return _memory.hit(limit, key)


def allow(name: str, rule: str, key: str) -> bool:
    """True if `key` may call `name` now under `rule` (e.g. "10/minute")."""
    limit = parse(rule)
    url = current_app.config["REDIS_URL"]
    if not url:
        return _hit_file(limit, f"public/{name}/{key}")
    try:
        return _redis_limiter(url).hit(limit, "public", name, key)
    except Exception:  # Redis down: keep limiting through the shared file, never fail open
        log.warning("public rate limit falling back to the shared file")
        return _hit_file(limit, f"public/{name}/{key}")


def reset() -> None:
    """Forget every count this process can reach (tests start each case clean)."""
    _memory.storage.reset()
    for store in list(_files.values()):
        store.reset()
