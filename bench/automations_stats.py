"""The Automations page's results at a million runs: the service against a bare count.

    python bench/automations_stats.py [--runs 1000000] [--rounds 20] [--write-rounds 5]

Starts a throwaway PostgreSQL, migrates it, loads one shop with `--runs` flow runs and
their one-off messages spread over 120 days (and a second shop with a fifth of that; the
runs rollup is kept by its triggers as they go in), fills the daily report rollup with the
reports backfill, VACUUM ANALYZE, then times (median and p95 of the rounds) `stats.outcomes` for
all time, 30 and 7 days, beside the per-run count it replaced (the runs' outcome index,
"before") and a bare index-only `count(*)` of the shop's runs. Then what the triggers cost
the writers: 100,000-row statements timed with the triggers on and off (ALTER TABLE …
DISABLE TRIGGER, rolled back), campaign message updates among them. Prints the timings,
the plans and the all-time result.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from astronote.services.automations.catalogue import FLOWS as CATALOGUE  # noqa: E402
from tests import servers  # noqa: E402
from tests.conftest import make_app  # noqa: E402

FLOWS = list(CATALOGUE)
MESSAGES = """
INSERT INTO messages (shop_id, kind, phone, segments, credits, status, skip_reason, attempts,
                      sent_at, created_at)
SELECT :shop, 'automation', '+1201555' || lpad((g % 10000)::text, 4, '0'), 1,
       CASE WHEN g % 3 = 0 THEN NULL ELSE 2 END,
       CASE WHEN g % 20 = 0 THEN 'failed' WHEN g % 25 = 0 THEN 'skipped'
            WHEN g % 50 = 0 THEN 'queued' ELSE 'delivered' END,
       CASE WHEN g % 25 = 0 THEN 'frequency_cap' END, 1,
       CASE WHEN g % 25 = 0 OR g % 50 = 0 THEN NULL
            ELSE now() - ((:n - g) * 120.0 / :n) * interval '1 day' END,
       now() - ((:n - g) * 120.0 / :n) * interval '1 day'
FROM generate_series(1, :n) g"""
RUNS = """
INSERT INTO automation_runs (shop_id, flow, trigger_key, step, contact_id, due_at, status,
                             skip_reason, message_id, context, created_at)
SELECT :shop, (CAST(:flows AS text[]))[1 + g % 8], 'k' || g, 0, g, now() + interval '1 hour',
       CASE WHEN g % 11 = 0 THEN 'skipped' WHEN g % 13 = 0 THEN 'scheduled' ELSE 'queued' END,
       CASE WHEN g % 11 = 0 THEN 'opted_out' END,
       CASE WHEN g % 11 = 0 OR g % 13 = 0 THEN NULL ELSE m.id END,
       '{}', now() - ((:n - g) * 120.0 / :n) * interval '1 day'
FROM generate_series(1, :n) g
JOIN (SELECT id, row_number() OVER (ORDER BY id) rn FROM messages
      WHERE shop_id = :shop AND campaign_id IS NULL) m ON m.rn = g"""


CAMPAIGN_MESSAGES = """
INSERT INTO messages (shop_id, campaign_id, kind, phone, segments, status, attempts, created_at)
SELECT :shop, 1, 'campaign', '+1201666' || lpad((g % 10000)::text, 4, '0'), 1, 'queued', 0,
       now()
FROM generate_series(1, 100000) g"""
WRITES = {  # label: (table, trigger, statement); :shop is the second shop
    "insert 100k runs (INSERT … SELECT … ON CONFLICT DO NOTHING)": (
        "automation_runs",
        "automation_runs_daily_insert",
        "INSERT INTO automation_runs (shop_id, flow, trigger_key, step, due_at, status, "
        "context, created_at) SELECT :shop, 'win_back', 'w' || g, 0, now(), 'scheduled', "
        "'{}', now() FROM generate_series(1, 100000) g ON CONFLICT DO NOTHING",
    ),
    "update 100k runs' status (queued → cancelled)": (
        "automation_runs",
        "automation_runs_daily_update",
        "UPDATE automation_runs SET status = 'cancelled', skip_reason = 'flow_off' "
        "WHERE id IN (SELECT id FROM automation_runs WHERE shop_id = :shop "
        "AND status = 'queued' ORDER BY id LIMIT 100000)",
    ),
    "update 100k campaign messages' status (queued → accepted)": (
        "messages",
        "messages_run_daily",
        "UPDATE messages SET status = 'accepted', attempts = 1 "
        "WHERE shop_id = :shop AND campaign_id = 1",
    ),
    "update 100k one-off messages to skipped (send-time skips)": (
        "messages",
        "messages_run_daily",
        "UPDATE messages SET status = 'skipped', skip_reason = 'frequency_cap' "
        "WHERE id IN (SELECT id FROM messages WHERE shop_id = :shop AND campaign_id IS NULL "
        "AND status = 'delivered' ORDER BY id LIMIT 100000)",
    ),
}


def write_costs(session, shop_id: int, rounds: int) -> None:
    """Each statement with its trigger on, then off (alternating, rolled back each time)."""
    for label, (table, trigger, statement) in WRITES.items():
        times = {True: [], False: []}
        for _ in range(rounds):
            for on in (True, False):
                if not on:
                    session.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}"))
                start = time.perf_counter()
                session.execute(text(statement), {"shop": shop_id})
                times[on].append(time.perf_counter() - start)
                session.rollback()
        with_, without = (statistics.median(times[k]) * 1000 for k in (True, False))
        print(
            f"{label}: {with_:.0f} ms with the trigger, {without:.0f} ms without "
            f"({(with_ / without - 1) * 100:+.1f}%, median of {rounds})"
        )


def same(session, shop, period: str) -> bool:
    """The rollup's triggered, skipped and reasons against a count of the runs themselves."""
    from astronote.services.automations import stats

    start = stats._start_of(shop, stats.first_day(shop, period))
    start, end = start or datetime(2000, 1, 1, tzinfo=UTC), datetime(3000, 1, 1, tzinfo=UTC)
    counted = {key: stats.FlowStats() for key in CATALOGUE}
    for row in session.execute(stats._run_rows(shop.id, start, end)):
        stats._count(counted, row[0], "run", *row[1:])
    for row in session.execute(stats._send_time_skips(shop.id, start, end)):
        stats._count(counted, row[0], "send", *row[1:])
    rolled = stats.outcomes(shop, period)
    session.rollback()
    fields = ("triggered", "skipped", "reasons")
    return all(
        [getattr(counted[k], f) for f in fields] == [getattr(rolled[k], f) for f in fields]
        for k in CATALOGUE
    )


def load(session, shop_id: int, n: int) -> None:
    from astronote.models import Automation
    from astronote.services.automations import settings

    session.add_all(Automation(**settings.defaults(shop_id, CATALOGUE[f])) for f in FLOWS)
    session.execute(text(MESSAGES), {"shop": shop_id, "n": n})
    session.execute(text(RUNS), {"shop": shop_id, "n": n, "flows": FLOWS})
    session.commit()


def timed(fn, rounds: int) -> str:
    """Median and 95th percentile (nearest rank) of the rounds, in ms."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    times.sort()
    p95 = times[max(0, -(-95 * rounds // 100) - 1)]
    return f"median {statistics.median(times) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms"


def explain(session, query) -> list[str]:
    from astronote.extensions import db

    compiled = query.compile(db.engine, compile_kwargs={"literal_binds": True})
    return list(session.execute(text(f"EXPLAIN (ANALYZE, BUFFERS) {compiled}")).scalars())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--write-rounds", type=int, default=5, help="0: skip the write costs")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="bench-flow-stats-"))
    pg = servers.start_postgres(workdir / "pg")
    try:
        app = make_app(pg.url)
        with app.app_context():
            from flask_migrate import upgrade

            upgrade(directory=str(Path(__file__).resolve().parent.parent / "migrations"))
            from astronote.extensions import db
            from astronote.models import Shop
            from astronote.services.automations import stats
            from astronote.services.reports import backfill
            from astronote.services.sql import vacuum_analyze

            session = db.session
            a = Shop(shop_domain="a.myshopify.com", name="A", timezone="America/New_York")
            b = Shop(shop_domain="b.myshopify.com", name="B", timezone="Europe/Athens")
            session.add_all([a, b])
            session.commit()
            started = time.perf_counter()
            for shop, n in ((a, args.runs), (b, args.runs // 5)):
                load(session, shop.id, n)
                backfill.run(shop.id)
                session.commit()
            session.execute(text(CAMPAIGN_MESSAGES), {"shop": b.id})
            session.commit()
            vacuum_analyze(
                "messages", "automation_runs", "report_daily", "automations", "automation_run_daily"
            )
            print(
                f"loaded {args.runs:,} + {args.runs // 5:,} runs in "
                f"{time.perf_counter() - started:.0f} s (rollup by the reports backfill)"
            )

            def bare():
                sql = "SELECT count(*) FROM automation_runs WHERE shop_id = :s"
                session.execute(text("SET LOCAL jit = off"))
                session.execute(text(sql), {"s": a.id}).scalar_one()
                session.rollback()

            def before(period):
                def read():  # the per-run count these figures came from before 0018
                    start = stats._start_of(a, stats.first_day(a, period))
                    start = start or datetime(2000, 1, 1, tzinfo=UTC)
                    end = datetime(3000, 1, 1, tzinfo=UTC)
                    session.execute(text("SET LOCAL jit = off"))
                    session.execute(stats._run_rows(a.id, start, end)).all()
                    session.execute(stats._send_time_skips(a.id, start, end)).all()
                    session.rollback()

                return read

            def outcomes(period):
                def read():
                    stats.outcomes(a, period)
                    session.rollback()

                return read

            for label, fn in (
                ("bare index-only count(*) of the shop's runs", bare),
                ("before: runs counted from the index, all time", before("all")),
                ("before: runs counted from the index, 30 days", before("30")),
                ("before: runs counted from the index, 7 days", before("7")),
                ("outcomes, all time", outcomes("all")),
                ("outcomes, 30 days", outcomes("30")),
                ("outcomes, 7 days", outcomes("7")),
            ):
                print(f"{label}: {timed(fn, args.rounds)} ({args.rounds} rounds)")
            session.execute(text("SET LOCAL jit = off"))
            session.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
            start = stats._start_of(a, stats.first_day(a, "30"))
            day, since, until, _ = stats._edge(start)
            for name, query in (
                ("report rollup, all time", stats._flow_rows(a.id, None)),
                ("runs rollup, all time", stats._rolled_up_runs(a.id, None)),
                ("runs rollup, 30 days", stats._rolled_up_runs(a.id, day)),
                ("runs index, 30 days' edge hours", stats._run_rows(a.id, since, until)),
                ("send-time skips, same hours", stats._send_time_skips(a.id, since, until)),
            ):
                print(f"-- {name}")
                for line in explain(session, query):
                    print("  ", line)
            session.rollback()
            print(stats.outcomes(a, "all")["welcome"])
            for period in ("all", "30", "7"):
                print(f"{period}: figures equal the per-run count: {same(session, a, period)}")
            session.rollback()
            if args.write_rounds:
                write_costs(session, b.id, args.write_rounds)
    finally:
        pg.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
