"""Order confirmations end to end: signed orders/create webhooks in, SMS at the simulator.

    python bench/automations_orders.py --webhooks 10000 [--contacts 1000000] [--quick]

One run starts a throwaway PostgreSQL and Redis (tests/servers.py) and the Mitto
simulator, loads a shop's contacts with COPY (Order confirmation on), and POSTs the
same number of signed `orders/create` deliveries (API 2026-10 REST orders, each from
a different subscribed customer) from a pool of keep-alive connections to:

1. the baseline: the bare endpoint (bench/automations_bare.py) under the same
   gunicorn: HMAC check and one INSERT into `webhook_events`, nothing else;
2. a reference: the bare endpoint that also sends the SMS inline (no queue, no
   guards): the floor for "delivery in, SMS out";
3. the product: gunicorn serving `wsgi:app` as Procfile's `web` does, with
   Procfile's `worker` and `scheduler` huey_consumer processes on Redis, timed from
   the first POST until the last confirmation reached the simulator;

then replays part of the deliveries (same webhook ids, and new ids for the same
orders) and checks exactly once: one confirmation per order at the simulator, each
naming its order and going to its buyer, none twice.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import automations_http as web  # noqa: E402
from bench import automations_support as support  # noqa: E402
from bench import campaign_support as campaign  # noqa: E402
from bench import common  # noqa: E402
from tests import servers  # noqa: E402

SHOP = "bench-orders.myshopify.com"
TITLE = "Automations: order confirmations"
MARKS = ("<!-- automations-orders-bench:start -->", "<!-- automations-orders-bench:end -->")
ERROR_WORDS = ("Traceback", " ERROR ", "[ERROR]", "ERROR:")
# An exception's last traceback line, or a logged ERROR/WARNING (minus its timestamp).
PROBLEM_LINE = re.compile(
    r"^[\w.]+(?:Error|Exception|Detected|Violation|Failure)\w*: .*|(?:ERROR|WARNING):\S+:.*"
)
TASK_LINE = re.compile(
    r"(astronote\.tasks\.[\w.]+): [0-9a-f-]+(?: \d+ retries)? executed in ([\d.]+)s"
)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--webhooks", type=int, default=10_000)
    parser.add_argument("--contacts", type=int, default=1_000_000, help="contacts in the shop")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 300 webhooks, 20k contacts"
    )
    parser.add_argument("--concurrency", type=int, default=16, help="sender connections")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn workers (gthread)")
    parser.add_argument("--web-threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument("--workers", type=int, default=1, help="huey_consumer `worker` processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker process")
    parser.add_argument("--replay", type=int, default=0, help="deliveries replayed (default N/10)")
    parser.add_argument("--timeout", type=float, default=0, help="seconds (default 900 + N/10)")
    parser.add_argument("--out", default="auto", help="doc to write; 'none' to skip")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    if args.quick:
        args.webhooks, args.contacts = min(args.webhooks, 300), min(args.contacts, 20_000)
    args.replay = args.replay or max(args.webhooks // 10, 1)
    return args


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path):
        self.args, self.workdir = args, workdir
        self.stack = support.Stack(workdir)
        self.children = self.stack.children
        self.results: dict = {"args": vars(args), "load_before": support.load_average()}

    # -- setup ----------------------------------------------------------------------
    def setup(self) -> None:
        stack, args = self.stack, self.args
        stack.start()
        campaign.enable_statement_stats(stack.pg)  # what the database spent its time on
        self.results["server"], self.results["code"] = stack.versions(), support.code_version()
        self.sim_port = servers.free_port()
        self.sim_base = campaign.start_simulator(self.children, self.sim_port, stack.env())
        credits = 4 * args.webhooks + 1000
        self.shop_id = support.make_shop(stack.app, SHOP, ("order_confirmation",), credits)
        now = support.utc_now()
        print(f"Loading {args.contacts:,} contacts ...", flush=True)
        self.results["contacts"] = support.copy_contacts(
            stack.pg.conninfo, self.shop_id, args.contacts, now
        )
        support.analyze(stack.pg.conninfo, "contacts", "shops", "automations")
        self.customers = self.buyers(args.webhooks)
        self.results["phones_checked"] = campaign.check_phones(args.contacts, 500)

    def buyers(self, count: int) -> list[dict]:
        """`count` distinct subscribed Shopify customers, spread over the table."""
        with psycopg.connect(self.stack.pg.conninfo) as conn:
            rows = conn.execute(
                "SELECT shopify_customer_id, phone, first_name, last_name FROM contacts "
                "WHERE shop_id = %s AND consent_state = 'subscribed' "
                "AND shopify_customer_id IS NOT NULL ORDER BY md5(id::text) LIMIT %s",
                (self.shop_id, count),
            ).fetchall()
        if len(rows) < count:
            raise RuntimeError(f"only {len(rows)} subscribed customers for {count} orders")
        keys = ("id", "phone", "first_name", "last_name")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def fresh(self) -> list:
        return web.deliveries(self.customers, support.WEBHOOK_SECRET, SHOP, support.utc_now())

    def groups(self, names: list[str]) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for name in names:
            label = name.split("-")[0]
            out.setdefault(label, []).append(self.children.processes[name].pid)
        out["simulator"] = [self.children.processes["simulator"].pid]
        out["Redis"] = [self.stack.redis.process.pid]
        return out

    def sql(self, query: str, *params) -> list[tuple]:
        with psycopg.connect(self.stack.pg.conninfo) as conn:
            return conn.execute(query, params).fetchall()

    def reset_events(self) -> None:
        with psycopg.connect(self.stack.pg.conninfo, autocommit=True) as conn:
            conn.execute("TRUNCATE webhook_events")
            conn.execute("VACUUM ANALYZE webhook_events")
            conn.execute("CHECKPOINT")

    # -- the baselines -----------------------------------------------------------------
    def bare(self, label: str, send: bool) -> dict:
        args, stack = self.args, self.stack
        env = stack.env(BARE_DSN=stack.pg.conninfo, BARE_SECRET=support.WEBHOOK_SECRET)
        if send:
            env["BARE_SIM"] = self.sim_base
        port = servers.free_port()
        name = f"web-{label}"
        web.start_gunicorn(self.children, name, "bench.automations_bare:app", port, env, args)
        items = self.fresh()
        cpu0 = support.cpu_snapshot(self.groups([name]), stack.postmaster())
        sent = web.post_all(port, items, args.concurrency)
        cpu = support.cpu_snapshot(self.groups([name]), stack.postmaster())
        self.children.stop(name)
        stored = self.sql("SELECT count(*), count(DISTINCT webhook_id) FROM webhook_events")[0]
        result = {**_summary(sent), "stored": stored, "cpu": support.cpu_delta(cpu0, cpu)}
        if send:
            records = campaign.fetch_sim_log(self.sim_base, self.workdir / "sim.json", 120)
            result["sim"] = check_sim(records, items, self.customers)
            result["e2e_s"] = max(campaign.arrival(r) for r in records) - sent["started_at"]
            campaign.reset_sim(self.sim_base)
        self.reset_events()
        return result

    # -- the product -----------------------------------------------------------------------
    def pipeline(self) -> dict:
        args, stack = self.args, self.stack
        env = stack.env(self.sim_base)
        port = servers.free_port()
        names = campaign.start_workers(self.children, args.workers, args.threads, env, "worker")
        names += self.start_scheduler(env)
        web.start_gunicorn(self.children, "web-app", "wsgi:app", port, env, args)
        names.append("web-app")
        items = self.fresh()
        groups = self.groups(names)
        campaign.reset_statement_stats(stack.pg.conninfo)
        activity = support.ActivitySampler(stack.pg.conninfo)
        activity.start()
        cpu0 = support.cpu_snapshot(groups, stack.postmaster())
        sent = web.post_all(port, items, args.concurrency)
        print(f"  {args.webhooks:,} answered in {sent['wall_s']:.1f} s", flush=True)
        try:
            self.wait_sent(args.webhooks, sent["started_at"], names)
        finally:
            cpu = support.cpu_snapshot(groups, stack.postmaster())
            waits = activity.stop()
            statements = support.top_statements(stack.pg.conninfo)
            print(f"  statements: {statements[:3]}\n  waits: {waits['waits']}", flush=True)
        records = campaign.fetch_sim_log(self.sim_base, self.workdir / "sim.json", 120)
        result = {**_summary(sent), "cpu": support.cpu_delta(cpu0, cpu)}
        result["activity"], result["statements"] = waits, statements
        result["body_bytes"] = sum(len(body) for body, _, _ in items) / len(items)
        result["tasks"] = task_times(self.children, names)
        result["e2e_s"] = max(campaign.arrival(r) for r in records) - sent["started_at"]
        result["replay"] = self.replay(port, items)
        time.sleep(3)  # anything a replay wrongly queued has had time to reach the simulator
        records = campaign.fetch_sim_log(self.sim_base, self.workdir / "sim.json", 120)
        result["sim"] = check_sim(records, items, self.customers)
        result["db"] = self.check_db()
        result["errors"] = self.log_errors(names)
        self.children.stop(*names)
        return result

    def start_scheduler(self, env: dict) -> list[str]:
        """Procfile's `scheduler`: one thread, periodic tasks on (sweepers, due runs)."""
        args = [sys.executable, "-m", "huey.bin.huey_consumer", "astronote.worker.huey"]
        args += ["-k", "thread", "-w", "1"]
        self.children.spawn("scheduler-1", args, env)
        servers.wait_for(
            lambda: "consumer started" in self.children.log_text("scheduler-1").lower(),
            60,
            "the scheduler",
            interval=0.2,
        )
        return ["scheduler-1"]

    def wait_sent(self, count: int, started_at: float, names: list[str]) -> None:
        timeout = self.args.timeout or 900 + count / 10
        deadline, next_report = time.monotonic() + timeout, time.monotonic() + 15
        with psycopg.connect(self.stack.pg.conninfo, autocommit=True) as conn:
            while True:
                done = conn.execute(
                    "SELECT count(*) FROM messages WHERE shop_id = %s "
                    "AND provider_message_id IS NOT NULL",
                    (self.shop_id,),
                ).fetchone()[0]
                if done >= count:
                    return
                self.children.check_alive(*names, "simulator")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{done:,} of {count:,} sent after {timeout:.0f} s")
                if time.monotonic() > next_report:
                    next_report += 15
                    runs = conn.execute(
                        "SELECT status, count(*) FROM automation_runs GROUP BY 1"
                    ).fetchall()
                    print(
                        f"  ... {time.time() - started_at:.0f} s, {done:,} sent, runs {runs}",
                        flush=True,
                    )
                time.sleep(0.5)

    def replay(self, port: int, items: list) -> dict:
        """Redeliveries (same webhook ids) and duplicates (new ids, same orders)."""
        part = items[: self.args.replay]
        again = [(body, {**headers}, name) for body, headers, name in part]
        renamed = [
            (*web.signed(body, support.WEBHOOK_SECRET, SHOP), name) for body, _, name in part
        ]
        first = web.post_all(port, again, self.args.concurrency)
        second = web.post_all(port, renamed, self.args.concurrency)
        time.sleep(2)
        return {
            "redeliveries": len(again),
            "redelivery_statuses": first["statuses"],
            "new_ids": len(renamed),
            "new_id_statuses": second["statuses"],
        }

    def check_db(self) -> dict:
        shop = self.shop_id
        return {
            "events": dict(self.sql("SELECT status, count(*) FROM webhook_events GROUP BY 1")),
            "orders": self.sql("SELECT count(*) FROM orders WHERE shop_id = %s", shop)[0][0],
            "runs": dict(
                self.sql(
                    "SELECT flow || ':' || status, count(*) FROM automation_runs "
                    "WHERE shop_id = %s GROUP BY 1",
                    shop,
                )
            ),
            "messages": dict(
                self.sql(
                    "SELECT kind || ':' || status, count(*) FROM messages WHERE shop_id = %s "
                    "GROUP BY 1",
                    shop,
                )
            ),
        }

    def log_errors(self, names: list[str]) -> dict:
        """Tracebacks and ERROR/WARNING lines per process, and the most frequent kinds."""
        found: dict = {"per_process": {}, "kinds": Counter()}
        for name in names:
            text = self.children.log_text(name)
            found["per_process"][name] = sum(text.count(w) for w in ERROR_WORDS)
            for line in text.splitlines():
                kind = problem_kind(line)
                if kind:
                    found["kinds"][re.sub(r"\d+", "N", kind)[:200]] += 1
        found["kinds"] = found["kinds"].most_common(6)
        return found

    def run(self) -> dict:
        args = self.args
        self.setup()
        print(f"Baseline: bare endpoint, {args.webhooks:,} webhooks ...", flush=True)
        self.results["bare"] = self.bare("bare", send=False)
        print(f"  {self.results['bare']['wall_s']:.1f} s", flush=True)
        print("Reference: bare endpoint sending inline ...", flush=True)
        self.results["bare_send"] = self.bare("baresend", send=True)
        print(f"  {self.results['bare_send']['wall_s']:.1f} s", flush=True)
        print("Astronote: gunicorn + workers + simulator ...", flush=True)
        self.results["app"] = self.pipeline()
        print(f"  end to end {self.results['app']['e2e_s']:.1f} s", flush=True)
        print("Baseline again (the machine's load drifts over a long run) ...", flush=True)
        self.results["bare_after"] = self.bare("bareafter", send=False)
        print(f"  {self.results['bare_after']['wall_s']:.1f} s", flush=True)
        self.results["load_after"] = support.load_average()
        return self.results


# ---------------------------------------------------------------- checks and helpers


def problem_kind(line: str) -> str | None:
    """What a log line reports, if it is a problem: the app logs JSON (level, logger, msg,
    exc with the traceback), Huey and gunicorn log plain text."""
    if line.startswith("{"):
        try:
            entry = json.loads(line)
        except ValueError:
            return None
        if entry.get("level") not in ("WARNING", "ERROR", "CRITICAL"):
            return None
        last = (entry.get("exc") or "").strip().splitlines()[-1:] or [""]
        return f"{entry['level']} {entry.get('logger')}: {entry.get('msg', '')[:90]} {last[0]}"
    match = PROBLEM_LINE.search(line)
    return match.group(0) if match else None


def task_times(children, names: list[str]) -> dict:
    """Per Huey task: count, total and mean seconds, from the consumers' INFO lines."""
    found: dict[str, list[float]] = {}
    for name in names:
        for line in children.log_text(name).splitlines():
            match = TASK_LINE.search(line)
            if match:
                found.setdefault(match.group(1), []).append(float(match.group(2)))
    return {
        task.rsplit(".", 1)[1]: {"n": len(v), "total_s": sum(v), "mean_ms": 1000 * sum(v) / len(v)}
        for task, v in sorted(found.items(), key=lambda kv: -sum(kv[1]))
    }


def _summary(sent: dict) -> dict:
    lat = sent["latencies"]
    return {
        "wall_s": sent["wall_s"],
        "statuses": sent["statuses"],
        "p50_ms": 1000 * common.percentile(lat, 50),
        "p95_ms": 1000 * common.percentile(lat, 95),
        "p99_ms": 1000 * common.percentile(lat, 99),
        "started_at": sent["started_at"],
    }


def check_sim(records: list[dict], items: list, customers: list[dict]) -> dict:
    """One SMS per order: its name in the text, sent to its buyer, nothing twice."""
    expected = {name: c["phone"] for (_, _, name), c in zip(items, customers, strict=True)}
    texts = [r["text"] for r in records]
    by_order: dict[str, list[str]] = {}
    strays = 0
    for record in records:
        names = [w.rstrip("!.,") for w in record["text"].split() if w.startswith("#")]
        name = next((n for n in names if n in expected), None)
        if name is None:
            strays += 1
        else:
            by_order.setdefault(name, []).append(record["destination"])
    return {
        "logged": len(records),
        "distinct_texts": len(set(texts)),
        "orders_confirmed": len(by_order),
        "orders_twice": sum(1 for v in by_order.values() if len(v) > 1),
        "wrong_phone": sum(1 for n, v in by_order.items() if any(p != expected[n] for p in v)),
        "strays": strays,
        "expected": len(expected),
        "sample": texts[0] if texts else "",
    }


# ---------------------------------------------------------------- report


def render(results: dict, command: str) -> tuple[str, bool]:
    from bench.automations_report import orders_section

    return orders_section(results, command)


def main(argv=None) -> int:
    args = parse_args(argv)
    return support.run_bench("orders", args, Bench, render, (TITLE, MARKS), argv)


if __name__ == "__main__":
    sys.exit(main())
