"""Commit an import's batches on a second thread while the next ones are parsed.

On PostgreSQL an import's Python work (decoding, CSV, phone validation) and the
server's work (COPY, index maintenance, foreign-key checks) take comparable
time; on two cores, running them side by side nearly halves the wall time.
The writer thread has its own app context, so its own session and connection,
and commits batches strictly in order, each with its checkpoint, exactly as the
inline writer would. At most `depth` parsed batches wait, so memory stays flat.
SQLite allows one writer at a time and gains nothing: it commits inline.

CPython hands the GIL to a waiting thread only every `sys.getswitchinterval()`
(5 ms). The writer wakes up thousands of times per import (each statement, each
COPY flush the server was not ready for), so while a writer runs the interval is
lowered to 0.5 ms: otherwise it would spend more time queuing for the GIL behind
the parser than the server spends working.
"""

from __future__ import annotations

import contextlib
import queue
import sys
import threading
from collections.abc import Callable

from flask import current_app

from astronote.extensions import db

SWITCH_INTERVAL = 0.0005
_switching = {"writers": 0, "saved": None}
_switching_lock = threading.Lock()


def _fast_switching(on: bool) -> None:
    """Lower the GIL switch interval while any writer runs (process-wide, so counted)."""
    with _switching_lock:
        if on:
            if _switching["writers"] == 0:
                _switching["saved"] = sys.getswitchinterval()
                sys.setswitchinterval(min(SWITCH_INTERVAL, _switching["saved"]))
            _switching["writers"] += 1
        else:
            _switching["writers"] -= 1
            if _switching["writers"] == 0:
                sys.setswitchinterval(_switching["saved"])


class InlineWriter:
    def __init__(self, commit: Callable, state) -> None:
        self._commit, self._state = commit, state

    def submit(self, *item) -> None:
        self._commit(self._state, *item)

    def close(self, reraise: bool = True) -> None:
        pass


class ThreadedWriter:
    """`commit(state, *item)` for every submitted item, in order, on one thread.

    `load()` runs first on that thread and returns its `state` (ORM objects
    must belong to the thread's own session). A failure stops the writing;
    it is raised in the submitting thread at the next submit or at close.
    """

    def __init__(self, commit: Callable, load: Callable, depth: int = 1) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        app = current_app._get_current_object()
        _fast_switching(True)
        self._thread = threading.Thread(
            target=self._run, args=(app, commit, load), name="import-writer", daemon=True
        )
        self._thread.start()

    def _run(self, app, commit: Callable, load: Callable) -> None:
        with app.app_context():
            try:
                state = load()
                while (item := self._queue.get()) is not None:
                    commit(state, *item)
            except BaseException as exc:  # handed to the submitting thread
                self._error = exc
                with contextlib.suppress(Exception):  # the connection may be what failed
                    db.session.rollback()
                while self._queue.get() is not None:
                    pass  # keep draining so submit() never blocks on a dead writer
            finally:
                with contextlib.suppress(Exception):
                    db.session.remove()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def submit(self, *item) -> None:
        self._raise()
        self._queue.put(item)

    def close(self, reraise: bool = True) -> None:
        """Wait until every submitted batch is committed (or the writer failed)."""
        self._queue.put(None)
        self._thread.join()
        _fast_switching(False)
        if reraise:
            self._raise()
