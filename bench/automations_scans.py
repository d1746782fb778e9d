"""Daily automation scans at a million contacts: win-back and birthday, against bare SQL.

    python bench/automations_scans.py --contacts 1000000 [--rounds 3] [--quick]

One run starts a throwaway PostgreSQL (and Redis, which the scan's commit wakes the
dispatcher through), loads one shop's contacts with COPY and, in the same run and on
the same tables, times:

1. the baseline: a bare `INSERT … SELECT` of the same rows into `automation_runs`
   (same key text, same due times; no ON CONFLICT), one per flow, one transaction;
2. the product: `scans.run_daily(shop_id, now)` and its commit, per flow (the other
   one switched off) and both together, from an empty `automation_runs`;
3. the same scan again (overlapping or repeated daily scan): 0 rows inserted.

`automation_runs` is emptied (TRUNCATE) before every timed insert, rounds alternate
which of baseline and product goes first, and the median of the rounds is reported.
Correctness: the product's rows equal the baseline's (flow, key, contact, due time),
no contact twice per flow, and a repeated scan inserts nothing.
"""

from __future__ import annotations

import argparse
import calendar
import statistics
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import automations_support as support  # noqa: E402

SHOP = "bench-scans.myshopify.com"
TITLE = "Automations: daily scans"
MARKS = ("<!-- automations-scans-bench:start -->", "<!-- automations-scans-bench:end -->")
FLOWS = ("win_back", "birthday")
SPIKE_SHARE = 0.08  # of all contacts: last ordered in the promotion now in the window
COLUMNS = "shop_id, flow, trigger_key, step, contact_id, due_at, status, context, created_at"
WIN_BACK_SQL = f"""
INSERT INTO automation_runs ({COLUMNS})
SELECT %(shop)s, 'win_back',
       'win_back:' || id || ':' || to_char(timezone('UTC', last_order_at), 'YYYY-MM-DD'),
       0, id, %(now)s, 'scheduled', '{{}}'::json, %(now)s
FROM contacts
WHERE shop_id = %(shop)s AND consent_state = 'subscribed'
  AND last_order_at <= %(cutoff)s AND last_order_at > %(since)s
"""
BIRTHDAY_SQL = f"""
INSERT INTO automation_runs ({COLUMNS})
SELECT %(shop)s, 'birthday', 'birthday:' || id || ':' || %(year)s,
       0, id, %(due)s, 'scheduled', '{{}}'::json, %(now)s
FROM contacts
WHERE shop_id = %(shop)s AND consent_state = 'subscribed'
  AND ((extract(month FROM birth_date) = %(month)s AND extract(day FROM birth_date) = %(day)s)
       OR (%(leap_fallback)s AND extract(month FROM birth_date) = 2
           AND extract(day FROM birth_date) = 29))
"""

STATEMENTS = {"win_back": WIN_BACK_SQL, "birthday": BIRTHDAY_SQL}
ON_CONFLICT = " ON CONFLICT (shop_id, flow, trigger_key, step) DO NOTHING"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (median reported)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 50k contacts, 1 round")
    parser.add_argument("--out", default="auto", help="doc to write; 'none' to skip")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    if args.quick:
        args.contacts, args.rounds = min(args.contacts, 50_000), 1
    return args


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path):
        self.args = args
        self.stack = support.Stack(workdir)
        self.results: dict = {"args": vars(args), "load_before": support.load_average()}

    # -- setup ----------------------------------------------------------------------
    def setup(self) -> None:
        from astronote.services.automations import scans
        from astronote.services.automations.catalogue import FLOWS as CATALOGUE

        stack = self.stack
        stack.start()
        self.results["server"], self.results["code"] = stack.versions(), support.code_version()
        self.now = support.utc_now()
        delay = timedelta(minutes=CATALOGUE["win_back"].delay_minutes)
        lookback = getattr(scans, "LOOKBACK", timedelta(days=7))
        # Inside the window with an hour to spare at both ends.
        width = max(lookback - timedelta(hours=2), timedelta(hours=1))
        day = timedelta(days=1)
        spike = support.Spike((delay + timedelta(hours=1)) / day, width / day, SPIKE_SHARE)
        self.window = (self.now - delay - lookback, self.now - delay)
        self.results["window"] = {
            "delay_days": delay.days,
            "lookback_days": lookback.days,
            "spike_pct": 100 * SPIKE_SHARE,
        }
        credits = 2 * self.args.contacts
        self.shop_id = support.make_shop(stack.app, SHOP, FLOWS, credits)
        print(f"Loading {self.args.contacts:,} contacts ...", flush=True)
        started = time.perf_counter()
        self.results["contacts"] = support.copy_contacts(
            stack.pg.conninfo, self.shop_id, self.args.contacts, self.now, spike
        )
        support.analyze(stack.pg.conninfo, "contacts", "shops", "automations", "automation_runs")
        self.results["load_s"] = time.perf_counter() - started
        self.results["in_data"] = self.in_data()

    def params(self) -> dict:
        zone = ZoneInfo("America/New_York")
        today = self.now.astimezone(zone).date()
        leap = today.month == 2 and today.day == 28 and not calendar.isleap(today.year)
        return {
            "shop": self.shop_id,
            "now": self.now,
            "since": self.window[0],
            "cutoff": self.window[1],
            "year": str(today.year),
            "month": today.month,
            "day": today.day,
            "leap_fallback": leap,
            "due": datetime(today.year, today.month, today.day, 10, tzinfo=zone),
        }

    def in_data(self) -> dict:
        """What the data holds: who has ordered, who lapsed into the window, birthdays."""
        p = self.params()
        row = self.sql(
            "SELECT count(*), count(last_order_at), "
            "count(*) FILTER (WHERE last_order_at <= %(cutoff)s AND last_order_at > %(since)s), "
            "count(*) FILTER (WHERE last_order_at <= %(cutoff)s), count(birth_date), "
            "count(*) FILTER (WHERE extract(month FROM birth_date) = %(month)s "
            "AND extract(day FROM birth_date) = %(day)s) FROM contacts WHERE shop_id = %(shop)s",
            p,
        )[0]
        keys = ("contacts", "ordered", "in_window", "lapsed", "with_birthday", "born_today")
        return dict(zip(keys, row, strict=True))

    def sql(self, query: str, params=None, commit: bool = False) -> list:
        with psycopg.connect(self.stack.pg.conninfo) as conn:
            cur = conn.execute(query, params)
            rows = cur.fetchall() if cur.description else []
            if commit:
                conn.commit()
        return rows

    def empty_runs(self) -> None:
        with psycopg.connect(self.stack.pg.conninfo, autocommit=True) as conn:
            conn.execute("TRUNCATE automation_runs")
            conn.execute("CHECKPOINT")

    def switch(self, *flows: str) -> None:
        self.sql(
            "UPDATE automations SET enabled = (flow = ANY(%s)) WHERE shop_id = %s "
            "AND flow IN ('win_back', 'birthday')",
            (list(flows), self.shop_id),
            commit=True,
        )

    # -- the two sides --------------------------------------------------------------------
    def baseline(self, suffix: str = "") -> dict:
        """Bare INSERT … SELECT per flow in one transaction; seconds and rows per flow.

        `suffix` ON_CONFLICT gives the bare idempotent form, for the breakdown.
        """
        out = {}
        p = self.params()
        with psycopg.connect(self.stack.pg.conninfo) as conn:
            started = time.perf_counter()
            for flow in FLOWS:
                t0 = time.perf_counter()
                rows = conn.execute(STATEMENTS[flow] + suffix, p)
                out[flow] = {"rows": rows.rowcount, "s": time.perf_counter() - t0}
            conn.commit()
            out["total_s"] = time.perf_counter() - started
        return out

    def product(self) -> dict:
        """scans.run_daily(shop_id, now) and its commit (which wakes the dispatcher)."""
        from astronote.extensions import db
        from astronote.services.automations import scans

        with self.stack.app.app_context():
            started = time.perf_counter()
            counts = scans.run_daily(self.shop_id, self.now)
            db.session.commit()
            seconds = time.perf_counter() - started
            db.session.remove()
        return {"counts": dict(counts), "s": seconds}

    def overlapping(self) -> dict:
        """Two run_daily at once from an empty table, as two workers' hourly tasks may."""
        self.empty_runs()
        self.switch(*FLOWS)
        found: list[dict] = [{}, {}]

        def scan(index: int) -> None:
            found[index] = self.product()

        threads = [threading.Thread(target=scan, args=(i,)) for i in range(2)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - started
        rows, distinct = self.sql(
            "SELECT count(*), count(DISTINCT (flow, contact_id)) FROM automation_runs"
        )[0]
        return {"s": wall, "counts": [f["counts"] for f in found], "rows": rows,
                "distinct": distinct}  # fmt: skip

    def snapshot(self, table: str) -> None:
        self.sql(f"DROP TABLE IF EXISTS {table}", commit=True)
        self.sql(
            f"CREATE TABLE {table} AS SELECT flow, trigger_key, contact_id, due_at, status "
            "FROM automation_runs",
            commit=True,
        )

    # -- one round ---------------------------------------------------------------------------
    def round(self, number: int) -> dict:
        out: dict = {}
        sides = ("baseline", "idempotent", "product")
        for side in sides[number % 3 :] + sides[: number % 3]:  # each goes first in turn
            self.empty_runs()
            if side == "baseline":
                out["baseline"] = self.baseline()
                if number == 0:
                    self.snapshot("bench_baseline_runs")
            elif side == "idempotent":
                out["idempotent"] = self.baseline(ON_CONFLICT)
                out["idempotent_repeat"] = self.baseline(ON_CONFLICT)
            else:
                self.switch(*FLOWS)
                out["product"] = self.product()
                if number == 0:
                    self.snapshot("bench_product_runs")
                out["repeat"] = self.product()
                out["repeat_again"] = self.product()
        for flow in FLOWS:  # each flow alone, from empty, then again
            self.empty_runs()
            self.switch(flow)
            out[f"{flow}_only"] = self.product()
            out[f"{flow}_repeat"] = self.product()
        self.switch(*FLOWS)
        return out

    def check(self) -> dict:
        differ = self.sql(
            "SELECT (SELECT count(*) FROM (SELECT * FROM bench_product_runs EXCEPT "
            "SELECT * FROM bench_baseline_runs) a), (SELECT count(*) FROM (SELECT * FROM "
            "bench_baseline_runs EXCEPT SELECT * FROM bench_product_runs) b)"
        )[0]
        twice = self.sql(
            "SELECT count(*) FROM (SELECT flow, contact_id FROM bench_product_runs "
            "GROUP BY 1, 2 HAVING count(*) > 1) t"
        )[0][0]
        per_flow = dict(self.sql("SELECT flow, count(*) FROM bench_product_runs GROUP BY 1"))
        return {"only_product": differ[0], "only_baseline": differ[1], "twice": twice,
                "per_flow": per_flow}  # fmt: skip

    def plans(self) -> dict:
        """Where each bare insert's time goes: EXPLAIN ANALYZE, rolled back, from empty."""
        out = {}
        p = self.params()
        self.empty_runs()
        with psycopg.connect(self.stack.pg.conninfo) as conn:
            for flow in FLOWS:
                for label, suffix in (("plain", ""), ("on_conflict", ON_CONFLICT)):
                    sql = "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + STATEMENTS[flow] + suffix
                    plan = conn.execute(sql, p).fetchone()[0][0]
                    out[f"{flow}_{label}"] = plan_split(plan)
                    conn.rollback()
        return out

    def run(self) -> dict:
        self.setup()
        print(f"Data: {self.results['in_data']}", flush=True)
        rounds = []
        for number in range(self.args.rounds):
            print(f"Round {number + 1} of {self.args.rounds} ...", flush=True)
            rounds.append(self.round(number))
            last = rounds[-1]
            print(
                f"  baseline {last['baseline']['total_s']:.2f} s, run_daily "
                f"{last['product']['s']:.2f} s {last['product']['counts']}, repeat "
                f"{last['repeat']['s']:.2f} s {last['repeat']['counts']}",
                flush=True,
            )
        self.results["rounds"] = rounds
        print("Two overlapping scans ...", flush=True)
        self.results["overlap"] = self.overlapping()
        print(f"  {self.results['overlap']}", flush=True)
        self.results["check"] = self.check()
        self.results["plans"] = self.plans()
        self.results["load_after"] = support.load_average()
        return self.results


def plan_split(plan: dict) -> dict:
    """Milliseconds reading the contacts, writing rows and index entries, checking keys."""
    insert = plan["Plan"]
    child = insert["Plans"][0]
    while child.get("Plans") and child["Node Type"] in ("Gather", "Result", "Subquery Scan"):
        child = child["Plans"][0]
    triggers = sum(t["Time"] for t in plan.get("Triggers", []))
    read = child["Actual Total Time"]
    return {
        "read_node": child["Node Type"],
        "read_ms": read,
        "write_ms": insert["Actual Total Time"] - read,
        "foreign_key_ms": triggers,
        "total_ms": plan["Execution Time"],
        "rows": insert.get("Actual Rows", 0) or child["Actual Rows"],
    }


def median(rounds: list[dict], *path: str) -> float:
    values = []
    for item in rounds:
        for key in path:
            item = item[key]
        values.append(item)
    return statistics.median(values)


def render(results: dict, command: str) -> tuple[str, bool]:
    from bench.automations_report import scans_section

    return scans_section(results, command, median)


def main(argv=None) -> int:
    args = parse_args(argv)
    return support.run_bench("scans", args, Bench, render, (TITLE, MARKS), argv)


if __name__ == "__main__":
    sys.exit(main())
