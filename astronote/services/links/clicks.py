"""Clicks: buffered in the web process, written in batches, rollups updated alongside.

The redirect only appends to a list. A writer thread per process (started by the
first click) writes the buffer every LINK_FLUSH_SECONDS in one transaction: the raw
clicks, the per-message totals, the per-source totals. A process stopped cleanly
writes what it holds on exit; a killed one loses at most that interval's clicks,
which is the price of a redirect that never waits on the database.
LINK_FLUSH_SECONDS = 0 writes each click inside its request instead.
"""

from __future__ import annotations

import atexit
import logging
import threading
from dataclasses import dataclass
from datetime import datetime

from flask import Flask, current_app

from astronote.extensions import db
from astronote.models import now_utc
from astronote.services.links import rollups

log = logging.getLogger("astronote.links")
MAX_BUFFERED = 100_000  # a database down for long: drop clicks rather than memory
MAX_TRIES = 5  # a batch that fails this often is dropped, so one bad batch cannot block all


@dataclass(frozen=True)
class Click:
    shop_id: int
    set_id: int
    source_kind: str
    source_id: int
    message_id: int
    index: int
    at: datetime


class ClickBuffer:
    """One per app and process: the redirect appends, the writer drains."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.interval = float(app.config.get("LINK_FLUSH_SECONDS", 1.0))
        self._pending: list[Click] = []
        self._lock = threading.Lock()  # guards _pending
        self._write_lock = threading.Lock()  # one batch written at a time
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._failures = 0

    def add(self, click: Click) -> None:
        with self._lock:
            if len(self._pending) >= MAX_BUFFERED:
                log.warning("click buffer full: dropping a click")
                return
            self._pending.append(click)
        if self._thread is None:
            self._start()

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            # Started lazily: after gunicorn's fork, in the process that serves clicks.
            self._thread = threading.Thread(target=self._run, name="link-clicks", daemon=True)
            self._thread.start()
        atexit.register(self.stop)

    def _run(self) -> None:
        while not self._stopped:
            self._wake.wait(self.interval)
            self._wake.clear()
            self.flush()

    def flush(self) -> int:
        """Write everything buffered now; returns how many clicks were written."""
        with self._write_lock:
            with self._lock:
                batch, self._pending = self._pending, []
            if not batch:
                return 0
            with self.app.app_context():
                try:
                    written = rollups.write(batch)
                    db.session.commit()
                    self._failures = 0
                    return written
                except Exception:
                    db.session.rollback()
                    self._failed(batch)
                    return 0
                finally:
                    db.session.remove()

    def _failed(self, batch: list[Click]) -> None:
        self._failures += 1
        if self._failures >= MAX_TRIES:
            log.exception("writing %d clicks failed %d times; dropped", len(batch), MAX_TRIES)
            self._failures = 0
            return
        log.exception("writing %d clicks failed; kept for the next try", len(batch))
        with self._lock:
            self._pending[:0] = batch[: MAX_BUFFERED - len(self._pending)]

    def stop(self) -> None:
        """Write what is left and end the writer (process exit, or a test's end)."""
        self._stopped = True
        self._wake.set()
        self.flush()


def buffer(app: Flask | None = None) -> ClickBuffer:
    app = app or current_app._get_current_object()
    found = app.extensions.get("astronote_link_clicks")
    if found is None:
        found = app.extensions.setdefault("astronote_link_clicks", ClickBuffer(app))
    return found


def record(shop_id, set_id, source_kind, source_id, message_id, index) -> None:
    """Count one click: buffered, or written now when LINK_FLUSH_SECONDS is 0."""
    click = Click(shop_id, set_id, source_kind, source_id, message_id, index, now_utc())
    clicks = buffer()
    if clicks.interval > 0:
        clicks.add(click)
        return
    rollups.write([click])
    db.session.commit()
