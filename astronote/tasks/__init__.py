"""The single Huey instance, configured by `create_app`, and the `app_task` decorator.

Tasks register on `huey` at import, so it must exist before any app does; its storage is
chosen when an app is created (`configure`): RedisStorage when REDIS_URL is set
(production, many machines), else SqliteStorage on a local file (the embedded default).
Until then it holds tasks in memory. Tests switch on immediate mode in their fixtures.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from flask import Flask, has_app_context
from huey import Huey
from huey.storage import MemoryStorage, RedisStorage, SqliteStorage

_bound_app: Flask | None = None
log = logging.getLogger("astronote.tasks")

# results=False: no task's return value is ever read, so don't let them pile up.
huey = Huey("astronote", results=False, storage_class=MemoryStorage)


def configure(app: Flask) -> None:
    """Point `huey` at the app's queue: Redis in production, a SQLite file otherwise."""
    if app.config["REDIS_URL"]:
        huey.storage_class, huey.storage_kwargs = RedisStorage, {"url": app.config["REDIS_URL"]}
    else:
        path = Path(app.config["HUEY_SQLITE_PATH"])
        path.parent.mkdir(parents=True, exist_ok=True)
        huey.storage_class, huey.storage_kwargs = SqliteStorage, {"filename": str(path)}
    huey.immediate = app.config["HUEY_IMMEDIATE"]
    huey.storage = huey.create_storage()
    bind_app(app)


def bind_app(app: Flask) -> None:
    """Remember the app whose context tasks run in (the worker's, or a test's)."""
    global _bound_app
    _bound_app = app


def _in_app_context(func):
    @functools.wraps(func)
    def with_context(*args, **kwargs):
        if has_app_context():
            return func(*args, **kwargs)
        if _bound_app is None:
            raise RuntimeError("no Flask app bound; import astronote.worker")
        from astronote.extensions import db

        with _bound_app.app_context():
            try:
                return func(*args, **kwargs)
            finally:
                db.session.remove()

    return with_context


def app_task(**task_options):
    """`huey.task` that runs the body inside an app context and cleans the session."""
    return lambda func: huey.task(**task_options)(_in_app_context(func))


def app_periodic_task(schedule, **task_options):
    """`huey.periodic_task` with the same app context handling."""
    return lambda func: huey.periodic_task(schedule, **task_options)(_in_app_context(func))


def enqueue_safely(task, *args) -> bool:
    """Enqueue after a commit; if the queue is down, log it and let a sweeper retry.

    The row the task works on is already committed, so nothing is lost: the
    periodic sweepers in tasks/periodic.py pick up whatever was not enqueued.
    """
    try:
        task(*args)
    except Exception:
        log.exception("could not enqueue %s%r; the periodic sweeper will retry", task.name, args)
        return False
    return True
