"""The Automations page's results at a million runs: the service against a bare count.

    python bench/automations_stats.py [--runs 1000000] [--rounds 5]

Starts a throwaway PostgreSQL, migrates it, loads one shop with `--runs` flow runs and
their one-off messages spread over 120 days (and a second shop with a fifth of that),
fills the daily rollup with the reports backfill, VACUUM ANALYZE, then times (median of
the rounds) `stats.outcomes` for all time, 30 and 7 days, and a bare index-only
`count(*)` of the shop's runs as the floor any per-run count stands on. Prints the
timings, the plans and the all-time result.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
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


def load(session, shop_id: int, n: int) -> None:
    from astronote.models import Automation
    from astronote.services.automations import settings

    session.add_all(Automation(**settings.defaults(shop_id, CATALOGUE[f])) for f in FLOWS)
    session.execute(text(MESSAGES), {"shop": shop_id, "n": n})
    session.execute(text(RUNS), {"shop": shop_id, "n": n, "flows": FLOWS})
    session.commit()


def timed(fn, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def explain(session, query) -> list[str]:
    from astronote.extensions import db

    compiled = query.compile(db.engine, compile_kwargs={"literal_binds": True})
    return list(session.execute(text(f"EXPLAIN (ANALYZE, BUFFERS) {compiled}")).scalars())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
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
            vacuum_analyze("messages", "automation_runs", "report_daily", "automations")
            print(
                f"loaded {args.runs:,} + {args.runs // 5:,} runs in "
                f"{time.perf_counter() - started:.0f} s (rollup by the reports backfill)"
            )

            def bare():
                sql = "SELECT count(*) FROM automation_runs WHERE shop_id = :s"
                session.execute(text("SET LOCAL jit = off"))
                session.execute(text(sql), {"s": a.id}).scalar_one()
                session.rollback()

            def outcomes(period):
                def read():
                    stats.outcomes(a, period)
                    session.rollback()

                return read

            for label, fn in (
                ("bare index-only count(*) of the shop's runs", bare),
                ("outcomes, all time", outcomes("all")),
                ("outcomes, 30 days", outcomes("30")),
                ("outcomes, 7 days", outcomes("7")),
            ):
                print(f"{label}: {timed(fn, args.rounds):.0f} ms (median of {args.rounds})")
            session.execute(text("SET LOCAL jit = off"))
            for name, query in (
                ("rollup", stats._flow_rows(a.id, None)),
                ("runs", stats._run_rows(a.id, None)),
                ("send-time skips", stats._send_time_skips(a.id, None)),
            ):
                print(f"-- {name}, all time")
                for line in explain(session, query):
                    print("  ", line)
            session.rollback()
            print(stats.outcomes(a, "all")["welcome"])
    finally:
        pg.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
