"""The single Huey instance and the `app_task` decorator every task uses.

RedisHuey when REDIS_URL is set (production, many machines), else SqliteHuey
on a local file (the embedded default). Tests run it in immediate mode.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from flask import Flask, has_app_context
from huey import RedisHuey, SqliteHuey

from astronote.config import huey_settings

_bound_app: Flask | None = None
log = logging.getLogger("astronote.tasks")


def _make_huey():
    settings = huey_settings()
    immediate = settings["immediate"] or settings["env"] == "test"
    # results=False: no task's return value is ever read, so don't let them pile up.
    if settings["redis_url"]:
        return RedisHuey("astronote", url=settings["redis_url"], immediate=immediate, results=False)
    # SqliteHuey opens its file on creation; the embedded default keeps it in instance/.
    Path(settings["sqlite_path"]).parent.mkdir(parents=True, exist_ok=True)
    return SqliteHuey(
        "astronote", filename=settings["sqlite_path"], immediate=immediate, results=False
    )


huey = _make_huey()


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
