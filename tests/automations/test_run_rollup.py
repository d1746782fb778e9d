"""The runs rollup (automation_run_daily, kept by triggers, migration 0018) always equals a
GROUP BY of the runs and their skipped messages: after inserts, bulk and single status
changes, send-time skips, overlapping scans and the engine's own paths. Both backends."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from astronote.models import AutomationRun, Message
from astronote.models.flow_stats import AutomationRunDaily
from astronote.services.automations import stats
from tests.automations.conftest import NOON
from tests.automations.test_pages_stats import run as make_run
from tests.automations.test_pages_stats import seed
from tests.automations.test_scans import _scan

SKIPS = ("skipped", "cancelled")


def direct(db) -> Counter:
    """What the rollup should hold, counted from the base tables in Python."""
    expected = Counter()
    messages = {m.id: m for m in db.session.scalars(select(Message))}
    for r in db.session.scalars(select(AutomationRun)):
        day = r.created_at.astimezone(UTC).date()
        expected[(r.shop_id, day, r.flow, "run", r.status, r.skip_reason or "")] += 1
        m = messages.get(r.message_id)
        if m is not None and m.status in SKIPS:
            expected[(r.shop_id, day, r.flow, "send", m.status, m.skip_reason or "")] += 1
    return expected


def rolled_up(db) -> Counter:
    rows = db.session.execute(select(AutomationRunDaily)).scalars()
    return Counter(
        {
            (r.shop_id, r.day, r.flow, r.stage, r.status, r.skip_reason): r.runs
            for r in rows
            if r.runs
        }
    )


def _insert_ignoring(db, rows: list[dict]):
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(AutomationRun).values(rows).on_conflict_do_nothing()
    return len(db.session.execute(statement.returning(AutomationRun.id)).all())


def test_rollup_follows_inserts_changes_and_send_time_skips(db, shop, make_shop):
    seed(db, shop, make_shop("beta.myshopify.com"))  # messages skipped before their run
    assert rolled_up(db) == direct(db) and sum(direct(db).values()) == 15  # 14 runs, 1 skip at send

    # Bulk status changes, the dispatcher's way and a flow switched off.
    db.session.execute(
        update(AutomationRun)
        .where(AutomationRun.shop_id == shop.id, AutomationRun.status == "scheduled")
        .values(status="cancelled", skip_reason="flow_off")
    )
    run = db.session.scalars(select(AutomationRun).filter_by(status="cancelled")).first()
    run.skip_reason = "ordered"  # the reason alone changes
    db.session.commit()
    assert rolled_up(db) == direct(db)

    # Send-time skips: a queued message skipped, a reason changed, one linked late.
    held = db.session.scalars(select(Message).filter_by(status="queued")).one()
    held.status, held.skip_reason = "skipped", "expired"
    capped = db.session.scalars(select(Message).filter_by(skip_reason="frequency_cap")).one()
    capped.skip_reason = "unsubscribed"
    late = Message(shop_id=shop.id, kind="transactional", phone="+12015550100", status="cancelled")
    db.session.add(late)
    db.session.flush()
    unlinked = db.session.scalars(select(AutomationRun).filter_by(skip_reason="opted_out")).one()
    unlinked.status, unlinked.skip_reason, unlinked.message_id = "queued", None, late.id
    db.session.commit()
    assert rolled_up(db) == direct(db)
    assert ("send", "skipped", "expired") in {k[3:] for k in rolled_up(db)}

    # A campaign message changing status touches nothing.
    before = rolled_up(db)
    db.session.add(
        Message(shop_id=shop.id, campaign_id=7, kind="campaign", phone="+1", status="queued")
    )
    db.session.flush()
    db.session.execute(update(Message).where(Message.campaign_id == 7).values(status="skipped"))
    db.session.commit()
    assert rolled_up(db) == before == direct(db)


def test_overlapping_inserts_count_each_run_once(db, shop):
    at = datetime(2026, 12, 8, 23, 30, tzinfo=UTC)
    rows = [
        dict(
            shop_id=shop.id,
            flow="birthday",
            trigger_key=f"b:{i}",
            due_at=at,
            status="scheduled",
            context={},
            created_at=at + timedelta(hours=i % 2),
        )  # two UTC days
        for i in range(40)
    ]
    assert _insert_ignoring(db, rows[:30]) == 30
    assert _insert_ignoring(db, rows[10:]) == 10  # the second scan overlaps the first
    db.session.commit()
    assert rolled_up(db) == direct(db)
    assert sum(rolled_up(db).values()) == 40


def test_page_figures_equal_a_direct_count_over_utc_day_edges(db, shop):
    """Periods start at the shop's midnight (05:00 UTC in New York): the hours before the
    first UTC midnight come from the runs index, the rest from the rollup."""
    now = datetime.now(UTC)
    for hours in range(0, 24 * 9, 5):
        status, reason = ("skipped", "opted_out") if hours % 3 else ("queued", None)
        message = {"status": "skipped", "skip_reason": "frequency_cap"} if hours % 4 == 0 else None
        make_run(
            db,
            shop,
            "welcome",
            status=status,
            reason=reason,
            message=message,
            at=now - timedelta(hours=hours),
        )
    db.session.commit()
    runs = db.session.scalars(select(AutomationRun)).all()
    # New York: the UTC day's first 5 hours taken off; Athens, Kathmandu: its last ones added.
    for zone in ("America/New_York", "Europe/Athens", "Asia/Kathmandu"):
        shop.timezone = zone
        for period in ("7", "30", "all"):
            start = stats._start_of(shop, stats.first_day(shop, period))
            inside = [r for r in runs if start is None or r.created_at >= start]
            welcome = stats.outcomes(shop, period)["welcome"]
            skipped = sum(r.status == "skipped" for r in inside)
            capped = sum(r.message_id is not None for r in inside)
            expected = (
                len(inside),
                skipped + capped,
                {"opted_out": skipped, "frequency_cap": capped},
            )
            assert (welcome.triggered, welcome.skipped, welcome.reasons) == expected, (zone, period)
    assert stats.outcomes(shop, "7")["welcome"].triggered < len(runs)


def test_the_engines_scans_and_sends_keep_it(sim, flows, funded, person, db):
    flows("win_back")
    person("+12125550123", customer_id=77, last_order_at=NOON - 91 * timedelta(days=1))
    person("+12125550124", customer_id=78, last_order_at=NOON - 92 * timedelta(days=1))
    assert _scan(funded) == {"win_back": 2}
    assert _scan(funded, NOON + timedelta(minutes=5)) == {"win_back": 0}  # overlapping
    assert rolled_up(db) == direct(db)
    statuses = {k[4] for k in rolled_up(db)}
    assert statuses == {"queued"}, statuses  # dispatched: the scheduled rows went to zero
    assert db.session.execute(text("SELECT count(*) FROM automation_run_daily")).scalar() >= 1


def test_the_migration_backfills_existing_runs(app, db, shop, make_shop):
    from flask_migrate import downgrade, upgrade

    from tests.test_migrations import MIGRATIONS

    seed(db, shop, make_shop("beta.myshopify.com"))
    held = db.session.scalars(select(Message).filter_by(status="queued")).one()
    held.status, held.skip_reason = "cancelled", "redacted"
    db.session.commit()
    expected = direct(db)
    db.session.remove()
    downgrade(directory=MIGRATIONS, revision="0017")  # runs and messages stay, rollup goes
    upgrade(directory=MIGRATIONS)
    assert rolled_up(db) == expected
    assert sum(n for k, n in expected.items() if k[3] == "send") == 2
