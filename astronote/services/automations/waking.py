"""Wake the dispatcher when a transaction that scheduled a run due now commits.

Triggers are scheduled from many places (webhook tasks, the storefront view, keyword
replies, the contact form), each of which owns its commit. Rather than have every one
of them remember to wake the dispatcher, `triggers.note_due` marks the session, and
this listener enqueues `tasks.automations.dispatch_shop` once the commit has happened:
never before (the worker would not see the run), never after a rollback.

The enqueue runs in a fresh app context, so its own session: in Huey's immediate mode
(tests) the task runs inline, and a session may not emit SQL inside its after_commit
hook. Nothing here can fail the caller's request: the commit is done, and the
every-minute dispatcher picks up any run whose wake-up was lost.
"""

from __future__ import annotations

import logging

from flask import current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

SESSION_KEY = "automations_due_shops"
log = logging.getLogger("astronote.automations")


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    shops = session.info.pop(SESSION_KEY, None)
    if shops and has_app_context():
        wake(sorted(shops))


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(SESSION_KEY, None)


def wake(shop_ids: list[int]) -> None:
    from astronote.extensions import db
    from astronote.tasks import enqueue_safely
    from astronote.tasks.automations import dispatch_shop  # tasks import services, not back

    app = current_app._get_current_object()
    try:
        with app.app_context():
            try:
                for shop_id in shop_ids:
                    enqueue_safely(dispatch_shop, shop_id)
            finally:
                db.session.remove()
    except Exception:  # the commit already happened: the periodic dispatcher catches up
        log.exception("could not wake the automation dispatcher for shops %s", shop_ids)
