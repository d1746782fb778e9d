"""A one-off message (automation, transactional) is consumed at its credits (segments x
the destination's credits per segment), not at its segments, when the provider takes it."""

from datetime import UTC, datetime

import pytest
import time_machine
from sqlalchemy import select

from astronote.models import CreditLedgerEntry
from astronote.services import credits
from tests.sending.test_frequency_cap_automations import _one_off
from tests.sending.test_marketing_rules import ATHENS, _people

LONG = "Come back for 10% off everything in store this weekend only. " * 3  # 2 segments


@pytest.mark.parametrize("kind", ["automation", "transactional"])
def test_a_one_off_message_is_consumed_at_its_credits(sim, funded, db, kind):
    _people(db, funded, [ATHENS])  # Greece: 3 credits per segment
    before = credits.balance(funded.id)
    with time_machine.travel(datetime(2026, 11, 28, 15, 0, tzinfo=UTC), tick=False):
        message = _one_off(db, funded, ATHENS, kind, body=LONG)
    assert message.status == "accepted" and message.segments == 2
    assert message.credits == 6
    consumed = (
        db.session.execute(
            select(CreditLedgerEntry.reserved_delta).where(
                CreditLedgerEntry.shop_id == funded.id, CreditLedgerEntry.kind == "consume"
            )
        )
        .scalars()
        .all()
    )
    assert consumed == [-6]
    after = credits.balance(funded.id)
    assert (before.available - after.available, after.reserved) == (6, 0)
    assert credits.ledger_totals(funded.id) == after


def test_a_price_change_between_queue_and_send_keeps_reserve_equal_to_consume(
    sim, funded, db, monkeypatch
):
    from astronote.models import Contact
    from astronote.services.billing import pricing
    from astronote.services.sending import single as single_send
    from astronote.tasks import campaigns as campaign_tasks

    _people(db, funded, [ATHENS])  # 3 credits per segment when queued
    before = credits.balance(funded.id)
    with time_machine.travel(datetime(2026, 11, 28, 15, 0, tzinfo=UTC), tick=False):
        contact = db.session.execute(select(Contact).filter_by(shop_id=funded.id)).scalar()
        message = single_send.queue_single(funded, contact, "Hello", "automation")
        db.session.commit()
        assert message.credits == 3
        monkeypatch.setattr(pricing, "credits_for", lambda shop, phone, segments: 5 * segments)
        campaign_tasks.send_single(message.id)
    db.session.expire_all()
    after = credits.balance(funded.id)
    assert (before.available - after.available, after.reserved) == (3, 0)
    assert credits.ledger_totals(funded.id) == after
