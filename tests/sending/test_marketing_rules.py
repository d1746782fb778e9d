"""Quiet hours (per recipient time zone, frozen clock) and the frequency cap."""

from collections import Counter
from datetime import UTC, datetime, time, timedelta

import time_machine

from astronote.models import Campaign
from astronote.services import credits
from astronote.services.campaigns import lifecycle as campaigns
from astronote.services.campaigns.audience import Audience
from astronote.services.contacts.csv_rows import ContactRecord
from astronote.services.contacts.upsert import write_batch
from astronote.tasks.campaigns import fan_out

LA, NEW_YORK, ATHENS = "+14155550101", "+12125550102", "+306912345678"


def _people(db, shop, phones):
    records = [ContactRecord(line=i, phone=p, consent="subscribed") for i, p in enumerate(phones)]
    write_batch(shop.id, 0, {"consent"}, records, evidence="test")
    db.session.commit()


def _send(db, shop, name="C") -> Campaign:
    campaign = Campaign(shop_id=shop.id, name=name, body="Sale!", audience=Audience().to_json())
    db.session.add(campaign)
    db.session.flush()
    campaigns.start(shop, campaign)
    db.session.commit()
    fan_out(campaign.id)
    return campaign


def test_quiet_hours_defer_per_recipient_zone_then_send(sim, funded, db, read):
    funded.quiet_start, funded.quiet_end = time(8, 0), time(21, 0)
    db.session.commit()
    _people(db, funded, [LA, NEW_YORK, ATHENS])
    with time_machine.travel(datetime(2026, 11, 28, 14, 0, tzinfo=UTC), tick=False):
        campaign = _send(db, funded)  # 06:00 in LA, 09:00 in New York, 16:00 in Athens
        messages = {m.phone: m for m in read.messages(campaign.id)}
        assert messages[NEW_YORK].status == messages[ATHENS].status == "accepted"
        la = messages[LA]
        assert la.status == "queued"
        assert la.not_before == datetime(2026, 11, 28, 16, 0, tzinfo=UTC)  # 08:00 in LA
        assert LA not in sim.sends_per_phone()
        assert read.campaign(campaign.id).status == "sending"
        fan_out(campaign.id)  # still too early: nothing more goes out
        assert LA not in sim.sends_per_phone()
    with time_machine.travel(datetime(2026, 11, 28, 16, 1, tzinfo=UTC), tick=False):
        fan_out(campaign.id)
        assert sim.sends_per_phone()[LA] == 1
        assert read.campaign(campaign.id).status == "completed"


def test_a_window_crossing_midnight(sim, funded, db, read):
    funded.quiet_start, funded.quiet_end, funded.timezone = time(22, 0), time(2, 0), "UTC"
    db.session.commit()
    _people(db, funded, ["+447911123456"])  # London: UTC in November
    with time_machine.travel(datetime(2026, 11, 28, 23, 30, tzinfo=UTC), tick=False):
        campaign = _send(db, funded)
        assert Counter(m.status for m in read.messages(campaign.id)) == Counter({"accepted": 1})


def test_frequency_cap_skips_recent_recipients_without_billing(sim, funded, db, read):
    funded.frequency_cap_hours = 16
    db.session.commit()
    _people(db, funded, [NEW_YORK, ATHENS])
    start = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        _send(db, funded, "first")
    with time_machine.travel(start + timedelta(hours=3), tick=False):
        second = _send(db, funded, "second")
        messages = read.messages(second.id)
        assert {m.skip_reason for m in messages} == {"frequency_cap"}
        assert credits.consumed_for(funded.id, second.id) == 0
        assert read.campaign(second.id).status == "failed"  # nobody could be sent to
    assert sim.sends_per_phone() == Counter({NEW_YORK: 1, ATHENS: 1})
    with time_machine.travel(start + timedelta(hours=17), tick=False):
        third = _send(db, funded, "third")
        assert {m.status for m in read.messages(third.id)} == {"accepted"}
    assert credits.balance(funded.id).reserved == 0
    assert credits.ledger_totals(funded.id) == credits.balance(funded.id)


def test_a_one_off_message_in_quiet_hours_waits_for_them_to_end(sim, funded, db, read, monkeypatch):
    from sqlalchemy import select

    from astronote.models import Contact, Message
    from astronote.services.sending import single as single_send
    from astronote.tasks import campaigns as campaign_tasks

    funded.quiet_start, funded.quiet_end = time(8, 0), time(21, 0)
    db.session.commit()
    _people(db, funded, [LA])
    contact = db.session.execute(select(Contact).filter_by(phone=LA)).scalar_one()
    later = []
    monkeypatch.setattr(
        campaign_tasks.send_single, "schedule", lambda args, **when: later.append((args, when))
    )
    with time_machine.travel(datetime(2026, 11, 28, 14, 0, tzinfo=UTC), tick=False):
        message = single_send.queue_single(funded, contact, "Your order shipped", "automation")
        db.session.commit()
        campaign_tasks.send_single(message.id)  # 06:00 in LA
        row = db.session.get(Message, message.id)
        db.session.refresh(row)
        assert row.status == "queued" and LA not in sim.sends_per_phone()
    opens = datetime(2026, 11, 28, 16, 0, tzinfo=UTC)  # 08:00 in LA
    assert later == [((message.id, 0), {"eta": opens})]
    with time_machine.travel(opens + timedelta(minutes=1), tick=False):
        campaign_tasks.send_single(*later[0][0])
        db.session.refresh(row)
        assert row.status == "accepted" and sim.sends_per_phone()[LA] == 1
