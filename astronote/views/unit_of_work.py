"""How a request ends its unit of work: commit what it did, or roll all of it back.

Views never call `commit()` or `rollback()` themselves (as in indico's request
handler): a view parses, calls one service inside `unit_of_work()`, then enqueues
and renders. Side effects that others can see (tasks, HTTP calls) follow the block,
so they only ever happen after the commit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from astronote.extensions import db


@contextmanager
def unit_of_work() -> Iterator[None]:
    """Commit when the block ends normally; on any exception roll back and re-raise."""
    try:
        yield
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
