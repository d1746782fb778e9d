"""The rollup API and its hooks: a send, a DLR batch, a failure, an opt-out, a subscription."""

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from astronote.models import Campaign, ConsentSource, Contact, Message, ReportDaily
from astronote.services.campaigns import lifecycle as campaigns
from astronote.services.campaigns.audience import Audience
from astronote.services.contacts import editing
from astronote.services.reports import backfill, days, rollups
from astronote.tasks.campaigns import fan_out
from tests.reports.conftest import totals


def test_bump_adds_per_local_day_and_source(shop, db, rollup):
    shop.timezone = "America/New_York"
    db.session.commit()
    days.forget(shop.id)
    late = datetime(2026, 12, 8, 3, 0, tzinfo=UTC)  # still Dec 7 in New York
    rollups.bump(shop.id, late, "campaign", 5, sent=3, credits=4)
    rollups.bump_many(
        [
            dict(shop_id=shop.id, at=late, source_kind="campaign", source_id=5, sent=2),
            dict(shop_id=shop.id, at=late, source_kind="automation", source_id=9, clicks=1),
            dict(shop_id=shop.id, at=date(2026, 12, 1), source_kind="other", source_id=7),
        ]
    )
    rollups.bump(shop.id, late, "campaign", 5, sent=-1)
    db.session.commit()
    assert rollup(shop.id) == {
        (date(2026, 12, 7), "campaign", 5): {"sent": 4, "credits": 4},
        (date(2026, 12, 7), "flow", 9): {"clicks": 1},
    }


def test_bump_refuses_unknown_kinds_and_counters(shop):
    with pytest.raises(ValueError):
        rollups.bump(shop.id, date(2026, 1, 1), "newsletter", 1, sent=1)
    with pytest.raises(ValueError):
        rollups.bump(shop.id, date(2026, 1, 1), "campaign", 1, views=1)


def _send(funded, db, name="C"):
    campaign = Campaign(shop_id=funded.id, name=name, body="Hi", audience=Audience().to_json())
    db.session.add(campaign)
    db.session.flush()
    campaigns.start(funded, campaign)
    db.session.commit()
    fan_out(campaign.id)
    return campaign


def _dlr(client, provider_id, status, minute=1):
    at = f"2026-11-28T12:{minute:02d}:00+00:00"
    return {"messageId": provider_id, "deliveryStatus": status, "updatedAt": at}


def test_send_and_dlr_batch_bump_the_campaign(client, sim, funded, subscribers, db, read, rollup):
    subscribers(4)
    campaign = _send(funded, db)
    ids = [m.provider_message_id for m in read.messages(campaign.id)]
    credits = sum(m.credits for m in read.messages(campaign.id))
    assert totals(rollup(funded.id)) == {"sent": 4, "credits": credits}
    batch = [_dlr(client, ids[0], "Delivered"), _dlr(client, ids[1], "Delivered")]
    batch += [_dlr(client, ids[2], "UNDELIVERED"), _dlr(client, ids[3], "Delivered")]
    assert client.post("/webhooks/mitto/dlr", json=batch).json["applied"] == 4
    # delivered then failed later: moves between counters; a repeat changes nothing
    later = [_dlr(client, ids[3], "UNDELIVERED", 5), _dlr(client, ids[0], "Delivered", 6)]
    client.post("/webhooks/mitto/dlr", json=later)
    rows = rollup(funded.id)
    assert list(rows) == [(days.today(funded.timezone), "campaign", campaign.id)]
    assert totals(rows) == {"sent": 4, "credits": credits, "delivered": 2, "failed": 2}


def test_dlr_batch_costs_one_statement(client, sim, funded, subscribers, db, read, app):
    from sqlalchemy import event

    subscribers(30)
    campaign = _send(funded, db)
    batch = [_dlr(client, m.provider_message_id, "Delivered") for m in read.messages(campaign.id)]
    seen = []

    def count(conn, cursor, statement, *args):
        if "report_daily" in statement:
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        client.post("/webhooks/mitto/dlr", json=batch)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert len(seen) == 1
    row = db.session.execute(select(ReportDaily).filter_by(source_id=campaign.id)).scalar_one()
    assert (row.sent, row.delivered) == (30, 30)


def test_rejected_messages_count_failed(client, sim, funded, subscribers, db, read, rollup):
    subscribers(5)
    sim.update_config({"reject_rate": 1.0})
    campaign = _send(funded, db)
    failed = [m for m in read.messages(campaign.id) if m.status == "failed"]
    assert failed and totals(rollup(funded.id)) == {"failed": len(failed)}


def test_opt_out_counts_against_the_last_message(
    client, sim, funded, subscribers, db, read, rollup
):
    subscribers(2)
    campaign = _send(funded, db)
    message = read.messages(campaign.id)[0]
    contact = db.session.get(Contact, message.contact_id)
    editing.record_consent(contact, "unsubscribed", ConsentSource.KEYWORD, "STOP")
    db.session.commit()
    assert rollup(funded.id)[(days.today(funded.timezone), "campaign", campaign.id)] == {
        "sent": 2,
        "credits": sum(m.credits for m in read.messages(campaign.id)),
        "opt_outs": 1,
    }


def test_subscription_counts_new_subscribers(shop, db, rollup):
    contact = Contact(shop_id=shop.id, phone="+14155550123", consent_state="not_subscribed")
    db.session.add(contact)
    db.session.flush()
    editing.record_consent(contact, "subscribed", ConsentSource.STOREFRONT_FORM, "form")
    editing.record_consent(contact, "subscribed", ConsentSource.STOREFRONT_FORM, "again")
    editing.record_consent(contact, "unsubscribed", ConsentSource.MERCHANT, "asked")
    db.session.commit()
    assert rollup(shop.id) == {
        (days.today(shop.timezone), "other", 0): {"new_subscribers": 1, "opt_outs": 1}
    }


def test_backfill_rebuilds_what_the_hooks_counted(
    client, sim, funded, subscribers, db, read, rollup
):
    subscribers(3)
    campaign = _send(funded, db)
    ids = [m.provider_message_id for m in read.messages(campaign.id)]
    client.post("/webhooks/mitto/dlr", json=[_dlr(client, ids[0], "Delivered")])
    incremental = rollup(funded.id)
    rollups.bump(funded.id, date(2026, 1, 2), "campaign", campaign.id, orders=1, revenue_cents=900)
    db.session.execute(ReportDaily.__table__.update().values(sent=0, delivered=0))
    db.session.commit()
    backfill.run(funded.id)
    db.session.commit()
    rebuilt = rollup(funded.id)
    assert rebuilt.pop((date(2026, 1, 2), "campaign", campaign.id)) == {
        "orders": 1,
        "revenue_cents": 900,
    }
    assert rebuilt == incremental
    assert db.session.execute(select(Message.id)).first()


def test_backfill_command(app, shop, make_shop, db, rollup):
    contact = Contact(shop_id=shop.id, phone="+14155550199", consent_state="not_subscribed")
    db.session.add(contact)
    db.session.flush()
    editing.record_consent(contact, "subscribed", ConsentSource.MERCHANT, "asked in store")
    db.session.execute(ReportDaily.__table__.delete())
    db.session.commit()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["astronote", "reports", "backfill", "--shop", shop.shop_domain])
    assert result.exit_code == 0, result.output
    assert f"{shop.shop_domain}: rollup rebuilt" in result.output
    assert rollup(shop.id) == {(days.today(shop.timezone), "other", 0): {"new_subscribers": 1}}
    missing = runner.invoke(
        args=["astronote", "reports", "backfill", "--shop", "nope.myshopify.com"]
    )
    assert missing.exit_code != 0 and "no shop" in missing.output


def test_monthly_rows_follow_every_daily_change(shop, db):
    """The triggers keep report_monthly equal to report_daily summed by month."""
    import random

    from astronote.models import ReportMonthly
    from astronote.services.reports import periods, queries, sources

    rng = random.Random(5)
    start = date(2025, 11, 20)
    for _ in range(120):
        day = start + timedelta(days=rng.randrange(0, 100))
        kind, source = rng.choice([("campaign", 1), ("campaign", 2), ("flow", 3)])
        rollups.bump(shop.id, day, kind, source, sent=rng.randint(-2, 9), orders=rng.randint(0, 2))
    db.session.execute(ReportDaily.__table__.delete().where(ReportDaily.day == date(2025, 12, 3)))
    db.session.execute(ReportDaily.__table__.update().values(orders=ReportDaily.orders + 1))
    db.session.commit()
    daily = db.session.execute(select(ReportDaily)).scalars().all()
    expected: dict = {}
    for row in daily:
        key = (row.day.replace(day=1), row.source_kind, row.source_id)
        sums = expected.setdefault(key, [0, 0, row.day])
        sums[0] += row.sent
        sums[1] += row.orders
        sums[2] = max(sums[2], row.day)
    months = db.session.execute(select(ReportMonthly)).scalars().all()
    found = {(r.month, r.source_kind, r.source_id): [r.sent, r.orders, r.last_day] for r in months}
    assert {k: v[:2] for k, v in found.items() if v[:2] != [0, 0]} == {
        k: v[:2] for k, v in expected.items() if v[:2] != [0, 0]
    }
    assert all(found[k][2] >= v[2] for k, v in expected.items())
    whole = periods.Period("custom", start, start + timedelta(days=99))
    assert queries.totals(shop.id, whole).sent == sum(r.sent for r in daily)
    listed = {(r.kind, r.source_id): r.figures.orders for r in
              sources.sources(shop.id, whole, "sent", True)}  # fmt: skip
    assert listed == {
        (k, i): sum(r.orders for r in daily if (r.source_kind, r.source_id) == (k, i))
        for k, i in {(r.source_kind, r.source_id) for r in daily}
    }
