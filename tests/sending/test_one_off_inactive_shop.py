"""A one-off message of a shop uninstalled while it waited is never sent: skipped as
`shop_inactive`, its reservation given back (as the campaign path pauses)."""

from datetime import UTC, datetime

import pytest
import time_machine
from sqlalchemy import select

from astronote.models import Contact, Message
from astronote.services import credits
from astronote.services.sending import single as single_send
from astronote.tasks import campaigns as campaign_tasks
from tests.sending.test_marketing_rules import ATHENS, _people


@pytest.mark.parametrize("kind", ["automation", "transactional"])
def test_an_uninstalled_shop_sends_nothing_and_gets_its_credits_back(sim, funded, db, kind):
    _people(db, funded, [ATHENS])
    before = credits.balance(funded.id)
    with time_machine.travel(datetime(2026, 11, 28, 15, 0, tzinfo=UTC), tick=False):
        contact = db.session.execute(select(Contact).filter_by(shop_id=funded.id)).scalar()
        message = single_send.queue_single(funded, contact, "Hello again", kind)
        db.session.commit()
        assert credits.balance(funded.id).reserved == message.credits > 0
        funded.is_active = False  # app/uninstalled arrives before the task runs
        db.session.commit()
        campaign_tasks.send_single(message.id)
        campaign_tasks.send_single(message.id)  # a second task changes nothing
    db.session.expire_all()
    message = db.session.get(Message, message.id)
    assert (message.status, message.skip_reason) == ("skipped", "shop_inactive")
    assert sim.accepted == []
    after = credits.balance(funded.id)
    assert (after.available, after.reserved) == (before.available, 0)
    assert credits.ledger_totals(funded.id) == after
