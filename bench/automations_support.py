"""Shared by the automations benches: servers and app, a shop, realistic contacts, the doc.

bench/campaign_support.py and bench/common.py are reused as they are; what they hold
for the campaign bench alone (its doc markers, its code paths) has a variant here.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

import psycopg

from bench import campaign_support
from bench.campaign_support import FIRST_NAMES, LAST_NAMES, ROOT, Children, phone_for
from bench.contacts_data import _pick  # weighted choice

APP_PREFIXES = ("ASTRONOTE_", "HUEY_", "RATE_LIMIT_", "MITTO_", "SMS_", "DATABASE_", "REDIS_")
APP_PREFIXES += ("SHOPIFY_", "SECRET_KEY", "TOKEN_", "LOG_LEVEL", "WEB_CONCURRENCY")
WEBHOOK_SECRET = "bench-shopify-api-secret"
CUSTOMER_BASE = 7_100_000_000_000  # Shopify customer ids are 13-digit numbers
UNLIMITED = 10_000_000  # rate limits out of the way: the benches measure our own work
# What the two benches run: a dirty file here is named in the doc's "Code:" line.
ENGINE_PATHS = ["astronote/services/automations", "astronote/services/sending"]
ENGINE_PATHS += ["astronote/services/shopify", "astronote/services/credits.py"]
ENGINE_PATHS += ["astronote/tasks/automations.py", "astronote/tasks/shopify.py"]
ENGINE_PATHS += ["astronote/tasks/campaigns.py", "astronote/views/webhooks.py"]
ENGINE_PATHS += [f"astronote/models/{m}.py" for m in ("automation", "campaign", "contact")]
ENGINE_PATHS += ["astronote/models/credit.py", "astronote/models/shopify.py"]


# ---------------------------------------------------------------- servers and the app


@dataclass
class Stack:
    """A throwaway PostgreSQL and Redis, the migrated schema, and an app bound to them."""

    workdir: Path
    pg: object = None
    redis: object = None
    app: object = None
    children: Children = field(init=False)

    def __post_init__(self) -> None:
        self.children = Children(self.workdir)

    def start(self) -> None:
        from flask_migrate import upgrade

        from astronote import create_app
        from astronote.config import engine_options
        from tests import servers

        self.pg = servers.start_postgres(self.workdir / "pg")
        self.redis = servers.start_redis(self.workdir / "redis")
        self.app = create_app(
            {
                "ASTRONOTE_ENV": "development",
                "SECRET_KEY": "bench-secret-key",
                "SQLALCHEMY_DATABASE_URI": self.pg.url,
                "SQLALCHEMY_ENGINE_OPTIONS": engine_options(self.pg.url),
                "REDIS_URL": self.redis.url,
                "HUEY_IMMEDIATE": False,
                "SHOPIFY_API_SECRET": WEBHOOK_SECRET,
            }
        )
        with self.app.app_context():
            upgrade(directory=str(ROOT / "migrations"))

    def env(self, sim_base: str = "http://127.0.0.1:9", **extra: str) -> dict:
        """Environment of a production-like child process (web or worker) of this stack."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(APP_PREFIXES)}
        env.update(
            {
                "ASTRONOTE_ENV": "production",
                "SECRET_KEY": "bench-secret-key-" + "x" * 32,
                "DATABASE_URL": self.pg.url,
                "REDIS_URL": self.redis.url,
                "SHOPIFY_API_KEY": "bench-api-key",
                "SHOPIFY_API_SECRET": WEBHOOK_SECRET,
                "SHOPIFY_APP_URL": "http://127.0.0.1",
                "TOKEN_ENCRYPTION_KEYS": "Sm9sbHlHb29kQmVuY2hLZXlGb3JGZXJuZXQxMjM0NTY=",
                "MITTO_API_BASE": sim_base,
                "MITTO_API_KEY": "simulator-key",
                "MITTO_TRAFFIC_ACCOUNT_ID": "simulator-account",
                "MITTO_WEBHOOK_SECRET": "bench-mitto-secret",
                "RATE_LIMIT_TRAFFIC_ACCOUNT_MAX": str(UNLIMITED),
                "RATE_LIMIT_TENANT_MAX": str(UNLIMITED),
                "RATE_LIMIT_GLOBAL_MAX": str(UNLIMITED),
                "LOG_LEVEL": "WARNING",
                "PYTHONUNBUFFERED": "1",
                "PYTHONPATH": str(ROOT),
            }
        )
        env.update(extra)
        return env

    def versions(self) -> str:
        with psycopg.connect(self.pg.conninfo) as conn:
            pg = conn.execute("SHOW server_version").fetchone()[0].split()[0]
        redis_version = self.redis.client().info("server")["redis_version"]
        return f"PostgreSQL {pg}, Redis {redis_version}"

    def postmaster(self) -> int:
        return int((self.pg.data_dir / "postmaster.pid").read_text().split()[0])

    def close(self) -> None:
        try:
            self.children.stop()
        finally:
            if self.app is not None:
                from astronote.extensions import db

                with self.app.app_context():
                    db.engine.dispose()
            for server in (self.redis, self.pg):
                if server is not None:
                    server.stop()


def make_shop(app, domain: str, flows: tuple[str, ...], credits: int) -> int:
    """A US shop with no quiet period and no frequency cap, credits, and `flows` on."""
    from astronote.extensions import db
    from astronote.models import Automation, Shop
    from astronote.services import credits as credit_service
    from astronote.services.automations.catalogue import FLOWS
    from astronote.services.sql import insert

    with app.app_context():
        shop = Shop(
            shop_domain=domain,
            name="Bench Outfitters",
            default_region="US",
            timezone="America/New_York",
            currency="USD",
            country="US",
            quiet_start=dtime(0, 0),  # start == end: no quiet period
            quiet_end=dtime(0, 0),
            frequency_cap_hours=0,
            sender_id="+14155550100",  # US carriers refuse alphanumeric senders
        )
        db.session.add(shop)
        db.session.flush()
        credit_service.grant(shop.id, credits, f"bench:{domain}", "benchmark grant")
        rows = [
            {
                "shop_id": shop.id,
                "flow": flow.key,
                "enabled": flow.key in flows,
                "body": flow.default_body,
                "delay_minutes": flow.delay_minutes,
                "send_hour": flow.default_send_hour,
                "include_imports": False,
            }
            for flow in FLOWS.values()
        ]
        db.session.execute(insert(Automation.__table__).values(rows))
        db.session.commit()
        shop_id = shop.id
        db.session.remove()
    return shop_id


# ---------------------------------------------------------------- realistic contacts

CONSENT = (("subscribed", 0.88), ("unsubscribed", 0.07), ("not_subscribed", 0.05))
SOURCES = (("shopify", 0.6), ("storefront_form", 0.25), ("import", 0.15))
ORDERED_SHARE = 0.7  # contacts who have ordered at least once
ORDER_SPREAD_DAYS = 730  # their last order: uniform over the last two years
BIRTHDAY_SHARE = 0.6  # contacts who gave a birth date


def birth_date(rng: random.Random) -> date:
    """Year 1955..2006, day uniform over that year: about 1/365 have a birthday today."""
    year = rng.randint(1955, 2006)
    days = 366 if year % 4 == 0 else 365
    return date(year, 1, 1) + timedelta(days=rng.randrange(days))


@dataclass(frozen=True)
class Spike:
    """A promotion `days_ago` days back (over `width` days) that was `share` of contacts'
    last order: it puts a sizeable slice in the win-back window on the day of the bench."""

    days_ago: float
    width: float
    share: float


def _last_order(now: datetime, rng: random.Random, spike: Spike | None) -> datetime:
    if spike is not None and rng.random() < spike.share / ORDERED_SHARE:
        return now - timedelta(days=spike.days_ago + rng.uniform(0, spike.width))
    return now - timedelta(seconds=rng.uniform(0, ORDER_SPREAD_DAYS * 86400))


def contact_row(shop_id: int, index: int, now: datetime, rng: random.Random, spike=None) -> tuple:
    state = _pick(rng, CONSENT)
    source = _pick(rng, SOURCES)
    customer = CUSTOMER_BASE + index if source == "shopify" or rng.random() < 0.5 else None
    first = last = None
    orders, spent = 0, 0
    if customer is not None and rng.random() < ORDERED_SHARE / 0.8:
        last = _last_order(now, rng, spike)
        orders = 1 + min(int(rng.expovariate(0.5)), 30)
        first = last - timedelta(days=rng.uniform(0, 400)) if orders > 1 else last
        spent = round(orders * rng.uniform(18, 140), 2)
    born = birth_date(rng) if rng.random() < BIRTHDAY_SHARE else None
    return (
        shop_id,
        phone_for(index),
        FIRST_NAMES[index % len(FIRST_NAMES)],
        LAST_NAMES[(index // 7) % len(LAST_NAMES)],
        state,
        source,
        now - timedelta(days=800),
        customer,
        born,
        first,
        last,
        orders,
        spent,
    )


COLUMNS = (
    "shop_id, phone, first_name, last_name, consent_state, consent_source, consent_updated_at, "
    "shopify_customer_id, birth_date, first_order_at, last_order_at, orders_count, amount_spent"
)


def copy_contacts(
    conninfo: str, shop_id: int, count: int, now: datetime, spike: Spike | None = None
) -> dict:
    """COPY `count` contacts of every consent state, with order history and birthdays."""
    seed = 42
    rng = random.Random(seed)
    states: dict[str, int] = {}
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        with cur.copy(f"COPY contacts ({COLUMNS}) FROM STDIN") as copy:
            for index in range(count):
                row = contact_row(shop_id, index, now, rng, spike)
                states[row[4]] = states.get(row[4], 0) + 1
                copy.write_row(row)
        cur.executemany(
            "INSERT INTO shop_contact_counts (shop_id, consent_state, total) VALUES (%s, %s, %s)",
            [(shop_id, state, total) for state, total in states.items()],
        )
    return states


def analyze(conninfo: str, *tables: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for table in tables:
            conn.execute(f"VACUUM ANALYZE {table}")
        conn.execute("CHECKPOINT")


def load_average() -> str:
    try:
        one, five, fifteen = Path("/proc/loadavg").read_text().split()[:3]
    except OSError:
        return "n/a"
    return f"{one} / {five} / {fifteen}"


# ---------------------------------------------------------------- code version, the doc


def code_version() -> str:
    """HEAD, and which files on the measured path differ from it (a shared tree moves)."""

    def git(*args: str) -> str:
        result = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False
        )
        return result.stdout

    head = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    dirty = git("status", "--porcelain", "--", *ENGINE_PATHS).splitlines()
    names = sorted({line[3:] for line in dirty if len(line) > 3})
    return f"`{head}`" + (f" plus uncommitted changes to {', '.join(names)}" if names else "")


def write_block(path: Path, title: str, marks: tuple[str, str], body: str, intro: str) -> None:
    """Replace only the block between `marks` (or append it under `## title`).

    The heading sits above the start marker, so a writer that replaces a `## ` section
    up to the next heading never swallows the markers; everything else stays as it is.
    """
    start_mark, end_mark = marks
    block = f"{start_mark}\n{body.strip()}\n{end_mark}"
    text = path.read_text() if path.exists() else intro.rstrip() + "\n"
    start, end = text.find(start_mark), text.find(end_mark)
    if start != -1 and end > start:
        text = text[:start] + block + text[end + len(end_mark) :]
    else:
        heading = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
        section = f"## {title}\n\n{block}\n"
        if heading.search(text):
            text = heading.sub(lambda _: section + "\n", text, count=1)
        else:
            text = text.rstrip() + "\n\n" + section
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.automations-{os.getpid()}.tmp")
    tmp.write_text(text.rstrip() + "\n")
    os.replace(tmp, path)


def utc_now() -> datetime:
    return datetime.now(UTC)


def _terminate(signum, _frame) -> None:
    raise SystemExit(128 + signum)  # unwind through every `finally`: children, servers


def run_bench(name: str, args, make_bench, render, doc: tuple, argv) -> int:
    """Run a bench in a work directory, print its section, write it to the doc if asked.

    `doc` is (title, marks). Results go to a JSON file in the temp directory too.
    """
    from bench import common

    signal.signal(signal.SIGTERM, _terminate)
    workdir = Path(tempfile.mkdtemp(prefix=f"astronote-{name}-bench-"))
    bench = make_bench(args, workdir)
    try:
        results = bench.run()
    finally:
        bench.stack.close()
        if args.keep:
            print(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    dump = Path(tempfile.gettempdir()) / f"automations-{name}-{stamp}.json"
    dump.write_text(json.dumps(results, indent=2, default=str))
    given = sys.argv[1:] if argv is None else argv
    body, ok = render(results, f"python bench/automations_{name}.py {' '.join(given)}".strip())
    print(body)
    out = args.out
    if out == "auto":
        out = "none" if args.quick else str(common.PERFORMANCE_MD)
    if out != "none":
        write_block(Path(out), doc[0], doc[1], body, common.INTRO)
        print(f"\nWrote the '{doc[0]}' block of {out} (results: {dump})")
    return 0 if ok else 1


class ActivitySampler(threading.Thread):
    """What the database sessions are doing, sampled every `interval` s (pg_stat_activity).

    Counts active sessions by wait event ("CPU" when not waiting) and the statements
    they were running: lock waits on one hot row show up here as `Lock:transactionid`.
    """

    def __init__(self, conninfo: str, interval: float = 0.1):
        super().__init__(daemon=True)
        self.conninfo, self.interval = conninfo, interval
        self.waits: Counter = Counter()
        self.statements: Counter = Counter()
        self.samples = 0
        self._halt = threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            while not self._halt.wait(self.interval):
                rows = conn.execute(
                    "SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU'), "
                    "left(regexp_replace(query, '\\s+', ' ', 'g'), 90) FROM pg_stat_activity "
                    "WHERE state = 'active' AND pid <> pg_backend_pid() "
                    "AND backend_type = 'client backend'"
                ).fetchall()
                self.samples += 1
                for wait, query in rows:
                    self.waits[wait] += 1
                    self.statements[(wait, query)] += 1

    def stop(self) -> dict:
        self._halt.set()
        self.join(timeout=5)
        return {
            "samples": self.samples,
            "interval_s": self.interval,
            "waits": self.waits.most_common(8),
            "statements": [(w, q, n) for (w, q), n in self.statements.most_common(8)],
        }


def descendants(pid: int) -> list[int]:
    """pid and every process below it; one that exits while we look is skipped.

    campaign_support.descendants lets a PostgreSQL backend that exits between the
    listing and the look raise FileNotFoundError; many short connections make it likely.
    """
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            tasks = list(Path(f"/proc/{current}/task").iterdir())
        except OSError:
            continue
        for task in tasks:
            with contextlib.suppress(OSError):
                todo += [int(c) for c in (task / "children").read_text().split()]
    return found


def cpu_snapshot(groups: dict[str, list[int]], postmaster: int | None) -> dict[str, float]:
    """CPU seconds so far per component, as campaign_support.cpu_snapshot counts them,
    plus the CPU seconds the whole machine has been busy for."""
    from bench.common import CpuMeter

    ticks, ticks_per_s = campaign_support.cpu_ticks, campaign_support.TICKS
    snap = {
        name: sum(ticks(p) for pid in pids for p in descendants(pid)) / ticks_per_s
        for name, pids in groups.items()
    }
    if postmaster:
        backends = [p for p in descendants(postmaster) if p != postmaster]
        total = ticks(postmaster, with_reaped=True) + sum(ticks(p) for p in backends)
        snap["PostgreSQL"] = total / ticks_per_s
    times = os.times()
    snap["bench process"] = times.user + times.system
    snap[MACHINE] = CpuMeter._busy()
    return snap


MACHINE = "machine busy"
OTHERS = "other processes (not this bench)"


def cpu_delta(before: dict, after: dict) -> dict:
    """CPU seconds per component over an interval; what the machine did besides, as OTHERS."""
    delta = {k: after[k] - before.get(k, 0.0) for k in after}
    busy = delta.pop(MACHINE, 0.0)
    delta[OTHERS] = max(busy - sum(delta.values()), 0.0)
    return delta


def top_statements(conninfo: str, top: int = 10) -> list[tuple]:
    """(total s, calls, rows, mean ms, query) from pg_stat_statements, biggest first."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT total_exec_time / 1000, calls, rows, mean_exec_time, "
            "left(regexp_replace(query, '\\s+', ' ', 'g'), 110) FROM pg_stat_statements "
            "ORDER BY total_exec_time DESC",
        ).fetchall()
    total = sum(r[0] for r in rows) or 1.0
    return [(round(r[0], 2), r[1], r[2], round(r[3], 2), r[4], r[0] / total) for r in rows[:top]]
