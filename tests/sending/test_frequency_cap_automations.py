"""The frequency cap counts automation (marketing) messages and caps them too;
transactional messages neither count nor are capped."""

from collections import Counter
from datetime import UTC, datetime, timedelta

import time_machine
from sqlalchemy import select

from astronote.models import Contact, Message
from astronote.services.sending import single as single_send
from astronote.tasks import campaigns as campaign_tasks
from tests.sending.test_marketing_rules import ATHENS, NEW_YORK, _people, _send

START = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)


def _one_off(db, shop, phone, kind, body="Come back for 10% off") -> Message:
    contact = db.session.execute(select(Contact).filter_by(shop_id=shop.id, phone=phone)).scalar()
    message = single_send.queue_single(shop, contact, body, kind)
    db.session.commit()
    campaign_tasks.send_single(message.id)
    db.session.expire_all()
    return db.session.get(Message, message.id)


def _capped(funded, db):
    funded.frequency_cap_hours = 16
    db.session.commit()
    _people(db, funded, [NEW_YORK, ATHENS])


def test_an_automation_message_counts_toward_the_cap_of_a_campaign(sim, funded, db, read):
    _capped(funded, db)
    with time_machine.travel(START, tick=False):
        assert _one_off(db, funded, NEW_YORK, "automation").status == "accepted"
    with time_machine.travel(START + timedelta(hours=3), tick=False):
        campaign = _send(db, funded, "after the flow")
        outcome = {m.phone: m.skip_reason for m in read.messages(campaign.id)}
    assert outcome == {NEW_YORK: "frequency_cap", ATHENS: None}
    assert sim.sends_per_phone() == Counter({NEW_YORK: 1, ATHENS: 1})


def test_an_automation_message_is_capped_and_a_transactional_one_is_not(sim, funded, db):
    _capped(funded, db)
    with time_machine.travel(START, tick=False):
        _send(db, funded, "first")
    with time_machine.travel(START + timedelta(hours=3), tick=False):
        flow = _one_off(db, funded, NEW_YORK, "automation")
        update = _one_off(db, funded, ATHENS, "transactional")
    assert (flow.status, flow.skip_reason) == ("skipped", "frequency_cap")
    assert update.status == "accepted"
    assert sim.sends_per_phone() == Counter({NEW_YORK: 1, ATHENS: 2})
    # After the cap's hours the flow's message would go again.
    with time_machine.travel(START + timedelta(hours=17), tick=False):
        assert _one_off(db, funded, NEW_YORK, "automation").status == "accepted"


def test_a_transactional_message_does_not_count_toward_the_cap(sim, funded, db, read):
    _capped(funded, db)
    with time_machine.travel(START, tick=False):
        assert _one_off(db, funded, ATHENS, "transactional").status == "accepted"
    with time_machine.travel(START + timedelta(hours=1), tick=False):
        campaign = _send(db, funded, "after the order update")
        assert {m.status for m in read.messages(campaign.id)} == {"accepted"}
