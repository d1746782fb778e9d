"""Campaign sending at scale: throughput against a bare-write baseline, rate limits, memory.

    python bench/campaign.py --recipients 1000000 [--workers 2] [--throttle 100]

One run starts a throwaway PostgreSQL and Redis (tests/servers.py), the Mitto
simulator and real `huey_consumer` worker processes, and measures:

1. the baseline: the database work no pipeline can avoid per recipient, bare
   (INSERT ... SELECT of N rows into a scratch copy of `messages`, then per-row
   UPDATEs of a distinct provider id and status, executemany in 5,000s);
2. an unthrottled campaign to N subscribed contacts (rate limits at 10 M/s),
   from enqueueing `fan_out` to the campaign row saying `completed`, checked
   against the simulator's log: every row accepted, no phone twice, none lost;
3. a throttled campaign (`--throttle` msg/s for `--throttle-seconds`) as the
   simulator saw it: per wall-clock second and in any sliding 1-second window;
4. peak worker memory (VmHWM) for a N/10 probe campaign and for N, on fresh workers.

Prints Markdown and, for 1,000,000+ recipients (or with --out), replaces the
marked "Campaign sending" block of docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from datetime import UTC, datetime
from datetime import time as dtime
from pathlib import Path

from huey.storage import RedisStorage

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import campaign_support as support  # noqa: E402
from bench import common  # noqa: E402

BODY = (
    "Hi {{first_name}}, {{shop_name}} summer sale: 20% off everything with code "
    "{{discount_code}}. Ends Sunday!"
)
UNTHROTTLED = 10_000_000
RATIO_TARGET = 0.5
RATE_TOLERANCE = 0.02
MEMORY_TARGET_MB = 200
APP_PREFIXES = ("ASTRONOTE_", "HUEY_", "RATE_LIMIT_", "MITTO_", "SMS_", "DATABASE_", "REDIS_")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2, help="huey_consumer processes")
    parser.add_argument("--threads", type=int, default=2, help="worker threads per process")
    parser.add_argument("--batch-size", type=int, default=5000, help="SMS_BATCH_SIZE")
    parser.add_argument("--throttle", type=int, default=100, help="msg/s for the throttled run")
    parser.add_argument("--throttle-seconds", type=int, default=30)
    parser.add_argument(
        "--throttle-batch",
        type=int,
        default=0,
        help="SMS_BATCH_SIZE of the throttled run (default 5 × throttle, so several "
        "batches race for the shared limit)",
    )
    parser.add_argument(
        "--probe-recipients",
        type=int,
        default=-1,
        help="a smaller campaign first, to show worker memory is flat (default N/10; 0 to skip)",
    )
    parser.add_argument(
        "--timeout", type=float, default=0, help="seconds per campaign (default 300 + N/400)"
    )
    parser.add_argument(
        "--profile",
        metavar="DIR",
        help="record the main run's workers and simulator with py-spy into DIR "
        "(and do not write docs/PERFORMANCE.md)",
    )
    parser.add_argument(
        "--out",
        default="auto",
        help="file whose Campaign sending block to replace; 'none' to skip "
        "(default: docs/PERFORMANCE.md for 1,000,000+ recipients)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    return parser.parse_args(argv)


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path):
        self.args, self.workdir = args, workdir
        self.children = support.Children(workdir)
        self.pg = self.redis = self.app = None
        self.sim_base = ""
        self.results: dict = {"args": vars(args)}

    # -- environment ------------------------------------------------------------
    def worker_env(self, limit: int, batch_size: int) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(APP_PREFIXES)}
        env.update(
            {
                "ASTRONOTE_ENV": "development",  # never test: that forces immediate mode
                "DATABASE_URL": self.pg.url,
                "REDIS_URL": self.redis.url,
                "MITTO_API_BASE": self.sim_base,
                "SMS_BATCH_SIZE": str(batch_size),
                "RATE_LIMIT_TRAFFIC_ACCOUNT_MAX": str(limit),
                "RATE_LIMIT_TENANT_MAX": str(limit),
                "RATE_LIMIT_GLOBAL_MAX": str(limit),
                "HUEY_SQLITE_PATH": str(self.workdir / "unused-huey.db"),
                "LOG_LEVEL": "INFO",
                "PYTHONUNBUFFERED": "1",
                "PYTHONPATH": str(support.ROOT),
            }
        )
        return env

    def setup(self) -> None:
        from tests import servers

        args = self.args
        self.pg = servers.start_postgres(self.workdir / "pg")
        self.redis = servers.start_redis(self.workdir / "redis")
        self.sim_port = servers.free_port()
        self.sim_base = f"http://127.0.0.1:{self.sim_port}"
        from flask_migrate import upgrade

        from astronote import create_app
        from astronote.config import engine_options
        from astronote.tasks import huey

        # The bench process enqueues into the workers' RedisHuey.
        self.app = create_app(
            {
                "ASTRONOTE_ENV": "development",
                "SECRET_KEY": "bench-secret-key",
                "SQLALCHEMY_DATABASE_URI": self.pg.url,
                "SQLALCHEMY_ENGINE_OPTIONS": engine_options(self.pg.url),
                "REDIS_URL": self.redis.url,
                "MITTO_API_BASE": self.sim_base,
                "SMS_BATCH_SIZE": args.batch_size,
                "HUEY_IMMEDIATE": False,
            }
        )
        if not isinstance(huey.storage, RedisStorage) or huey.immediate:
            raise RuntimeError(f"expected a non-immediate Redis queue, got {huey.storage!r}")
        log_file = (self.workdir / "bench-app.log").open("a")
        for handler in logging.getLogger("astronote").handlers:
            handler.setStream(log_file)
        if args.profile:
            support.enable_statement_stats(self.pg)
        with self.app.app_context():
            upgrade(directory=str(support.ROOT / "migrations"))
        self.results["server"] = self.versions()
        self.results["code"] = support.code_version()

    def versions(self) -> str:
        import psycopg

        with psycopg.connect(self.pg.conninfo) as conn:
            pg = conn.execute("SHOW server_version").fetchone()[0].split()[0]
        redis_version = self.redis.client().info("server")["redis_version"]
        return f"PostgreSQL {pg}, Redis {redis_version}"

    def make_shop(self, label: str, recipients: int, offset: int) -> int:
        from astronote.extensions import db
        from astronote.models import Shop
        from astronote.services import credits

        with self.app.app_context():
            shop = Shop(
                shop_domain=f"bench-{label}.myshopify.com",
                name=f"Bench {label.title()}",
                default_region="US",
                timezone="America/New_York",
                quiet_start=dtime(0, 0),  # start == end: no quiet period at all
                quiet_end=dtime(0, 0),
                frequency_cap_hours=0,
                sender_id="+14155550100",  # US carriers refuse alphanumeric senders
            )
            db.session.add(shop)
            db.session.flush()
            credits.grant(shop.id, 3 * recipients + 1000, f"bench:{label}", "benchmark grant")
            db.session.commit()
            shop_id = shop.id
            db.session.remove()
        seconds = support.copy_contacts(self.pg.conninfo, shop_id, recipients, offset)
        self.results.setdefault("seed", {})[label] = {"rows": recipients, "copy_s": seconds}
        return shop_id

    # -- one campaign -------------------------------------------------------------
    def send(self, label: str, shop_id: int, recipients: int, limit: int, batch: int) -> dict:
        args = self.args
        names = support.start_workers(
            self.children, args.workers, args.threads, self.worker_env(limit, batch), label
        )
        pids = {name: self.children.processes[name].pid for name in names}
        sampler = support.MemorySampler(pids)
        watcher = support.GrantWatcher(self.redis.client()) if limit < UNTHROTTLED else None
        if watcher:
            watcher.start()
        profilers = []
        if args.profile and label == "main":
            targets = {**pids, "simulator": self.children.processes["simulator"].pid}
            profilers = support.start_profilers(self.children, targets, Path(args.profile), label)
        try:
            result = self._run_campaign(label, shop_id, recipients, batch, pids, sampler)
        finally:
            grants = watcher.stop() if watcher else []
            if profilers:
                self.children.stop(*profilers, sig=signal.SIGINT, timeout=60)
            self.children.stop(*names)
        if profilers:
            result["statements"] = support.statement_stats(self.pg.conninfo)
            print(result["statements"], flush=True)
            result["profiles"] = [
                support.summarize_profile(Path(args.profile) / f"{label}-{name}.txt")
                for name in [*pids, "simulator"]
            ]
            for text in result["profiles"]:
                print(text, flush=True)
        records = support.fetch_sim_log(self.sim_base, self.workdir / "sim-log.json", 600)
        result["sim"] = support.check_sim_log(records, recipients)
        result["db"] = support.check_database(
            self.pg.conninfo, result["campaign_id"], shop_id, records
        )
        if limit < UNTHROTTLED:
            result["rate"] = support.rate_analysis(records, limit, grants)
        del records
        support.reset_sim(self.sim_base)
        return result

    def _run_campaign(self, label, shop_id, recipients, batch, pids, sampler) -> dict:
        from astronote.extensions import db
        from astronote.models import Campaign, Shop
        from astronote.services.campaigns import audience
        from astronote.services.campaigns import lifecycle as campaigns
        from astronote.tasks import campaigns as campaign_tasks

        timeout = self.args.timeout or 300 + recipients / 400
        groups = {"workers": list(pids.values())}
        groups["simulator"] = [self.children.processes["simulator"].pid]
        groups["Redis"] = [self.redis.process.pid]
        postmaster = int((self.pg.data_dir / "postmaster.pid").read_text().split()[0])
        with self.app.app_context():
            self.app.config["SMS_BATCH_SIZE"] = batch  # fan_out sizes the batches with it
            shop = db.session.get(Shop, shop_id)
            campaign = Campaign(
                shop_id=shop_id,
                name=f"Bench {label}",
                body=BODY,
                audience=audience.Audience().to_json(),
                discount_code="SUMMER20",
            )
            db.session.add(campaign)
            db.session.commit()
            started = time.perf_counter()
            people = campaigns.start(shop, campaign)
            db.session.commit()
            start_s = time.perf_counter() - started
            campaign_id = campaign.id
            if people != recipients:
                raise RuntimeError(f"snapshot took {people} recipients, expected {recipients}")
            if self.args.profile and label == "main":
                support.reset_statement_stats(self.pg.conninfo)
            cpu_before = support.cpu_snapshot(groups, postmaster)
            sampler.start()
            t0 = time.perf_counter()
            batches = campaign_tasks.fan_out(campaign_id)
            enqueue_s = time.perf_counter() - t0
            db.session.remove()
        status = self._wait_done(campaign_id, timeout, t0, list(pids))
        send_s = time.perf_counter() - t0
        cpu_after = support.cpu_snapshot(groups, postmaster)
        peaks = support.peak_memory(pids)
        memory = sampler.stop()
        if status != "completed":
            raise RuntimeError(f"campaign {label} ended {status}:\n{self._worker_tails(pids)}")
        return {
            "label": label,
            "recipients": recipients,
            "campaign_id": campaign_id,
            "batch_size": batch,
            "batches": batches,
            "start_s": start_s,
            "enqueue_s": enqueue_s,
            "send_s": send_s,
            "cpu": {k: cpu_after[k] - cpu_before.get(k, 0.0) for k in cpu_after},
            "peak": peaks,
            "rss": memory,
        }

    def _wait_done(self, campaign_id: int, timeout: float, t0: float, workers: list) -> str:
        import psycopg

        deadline = time.monotonic() + timeout
        next_report = time.monotonic() + 15
        with psycopg.connect(self.pg.conninfo, autocommit=True) as conn:
            while True:
                status = conn.execute(
                    "SELECT status FROM campaigns WHERE id = %s", (campaign_id,)
                ).fetchone()[0]
                if status not in ("sending", "scheduled"):
                    return status
                self.children.check_alive(*workers, "simulator")
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"campaign {campaign_id} still {status} after {timeout:.0f} s:\n"
                        + self._worker_tails(workers)
                    )
                if time.monotonic() > next_report:
                    next_report += 15
                    pending = conn.execute(
                        "SELECT count(*) FROM messages WHERE campaign_id = %s "
                        "AND status IN ('queued', 'claimed', 'submitting')",
                        (campaign_id,),
                    ).fetchone()[0]
                    elapsed = time.perf_counter() - t0
                    print(f"  ... {elapsed:.0f} s, {pending:,} pending", flush=True)
                time.sleep(0.05)

    def _worker_tails(self, names) -> str:
        return "\n".join(f"--- {n} ---\n{self.children.log_text(n)[-2000:]}" for n in names)

    # -- the whole run ------------------------------------------------------------
    def run(self) -> dict:
        args, results = self.args, self.results
        n = args.recipients
        probe_n = n // 10 if args.probe_recipients < 0 else args.probe_recipients
        throttle_n = args.throttle * args.throttle_seconds
        self.setup()
        results["phones_checked"] = support.check_phones(n + probe_n)
        print(f"Seeding {n:,} + {probe_n:,} + {throttle_n:,} contacts ...", flush=True)
        main_shop = self.make_shop("main", n, 0)
        probe_shop = self.make_shop("probe", probe_n, n) if probe_n else None
        throttle_shop = self.make_shop("throttled", throttle_n, 0)
        support.analyze(self.pg.conninfo, "contacts", "shops")
        print("Baseline ...", flush=True)
        results["baseline"] = support.baseline(self.pg.conninfo, main_shop, args.batch_size)
        print(f"  {common.rate(n, results['baseline']['total_s'])} rows/s", flush=True)
        env = self.worker_env(UNTHROTTLED, args.batch_size)
        self.sim_base = support.start_simulator(self.children, self.sim_port, env)
        if probe_shop:
            print(f"Probe campaign, {probe_n:,} recipients ...", flush=True)
            results["probe"] = self.send("probe", probe_shop, probe_n, UNTHROTTLED, args.batch_size)
            print(f"  {common.rate(probe_n, results['probe']['send_s'])} /s", flush=True)
        print(f"Unthrottled campaign, {n:,} recipients ...", flush=True)
        results["main"] = self.send("main", main_shop, n, UNTHROTTLED, args.batch_size)
        print(f"  {common.rate(n, results['main']['send_s'])} /s", flush=True)
        batch = args.throttle_batch or 5 * args.throttle
        print(f"Throttled campaign, {throttle_n:,} at {args.throttle}/s ...", flush=True)
        results["throttled"] = self.send(
            "throttled", throttle_shop, throttle_n, args.throttle, batch
        )
        return results

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


# ---------------------------------------------------------------- report


def _s(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds >= 1 else f"{seconds * 1000:.0f} ms"


def _mark(ok: bool) -> str:
    return "met" if ok else "**MISSED**"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms" if seconds == seconds else "n/a"


def _mb(kb: int | None) -> str:
    return f"{kb / 1024:.0f} MB" if kb else "n/a"


def correctness(run: dict) -> tuple[str, bool]:
    n, sim, db = run["recipients"], run["sim"], run["db"]
    checks = {
        "campaign completed": db["campaign_status"] == "completed",
        f"all {n:,} rows `accepted`": db["statuses"] == {"accepted": n},
        f"simulator logged {n:,}": sim["logged"] == n,
        "no phone twice": sim["phones_twice"] == 0 and sim["distinct_phones"] == n,
        "no reference twice": sim["references_twice"] == 0,
        "every log entry matches its row (id, phone, provider id)": db["matched"] == n,
        "no subscribed contact missed": db["subscribed_not_logged"] == 0,
        "credits: consumed = segments sent": db["consumed"] == db["segments"],
        "ledger sums to the balance, nothing left reserved": (
            db["ledger"] == db["balance"] and db["balance"][1] == 0
        ),
    }
    ok = all(checks.values())
    failed = [name for name, good in checks.items() if not good]
    text = (
        f"{sim['logged']:,} logged by the simulator, {sim['phones_twice']} phones twice, "
        f"{n - db['matched']:,} rows without their log entry, "
        f"{db['subscribed_not_logged']} subscribed contacts never sent"
    )
    if not ok:
        text += f"; FAILED: {', '.join(failed)} (statuses {db['statuses']})"
    return text, ok


def render(results: dict, command: str) -> tuple[str, bool]:
    args, base, main = results["args"], results["baseline"], results["main"]
    n = args["recipients"]
    base_rate = n / base["total_s"]
    send_rate = n / main["send_s"]
    e2e_s = main["start_s"] + main["send_s"]
    ratio, e2e_ratio = send_rate / base_rate, (n / e2e_s) / base_rate
    ratio_ok = ratio >= RATIO_TARGET
    rows = [
        [
            "Baseline: `INSERT ... SELECT` into a scratch `messages` copy (same indexes)",
            _s(base["insert_s"]),
            common.rate(n, base["insert_s"]),
            "",
        ],
        [
            "Baseline: per-row `UPDATE` (provider id + status), executemany, 5,000 per commit",
            _s(base["update_s"]),
            common.rate(n, base["update_s"]),
            "",
        ],
        [
            "**Baseline total** (bare writes)",
            f"**{_s(base['total_s'])}**",
            f"**{common.rate(n, base['total_s'])}**",
            "1.00×",
        ],
        [
            "`campaigns.start`: snapshot `INSERT ... SELECT`, exact cost, reserve (start task)",
            _s(main["start_s"]),
            common.rate(n, main["start_s"]),
            "",
        ],
        [
            f"**Send: enqueue `fan_out` → `completed`** ({args['workers']} workers × "
            f"{args['threads']} threads, {main['batches']} batches of {main['batch_size']:,})",
            f"**{_s(main['send_s'])}**",
            f"**{common.rate(n, main['send_s'])}**",
            f"**{ratio:.2f}×**",
        ],
        [
            "Start + send, end to end",
            _s(e2e_s),
            common.rate(n, e2e_s),
            f"{e2e_ratio:.2f}×",
        ],
    ]
    throughput = common.table(["Step", "Time", "Recipients/s", "vs baseline rate"], rows)
    cores = os.cpu_count() or 1
    cpu_rows = [
        [name, f"{secs:.1f} s", f"{100 * secs / (main['send_s'] * cores):.0f}%"]
        for name, secs in sorted(main["cpu"].items(), key=lambda kv: -kv[1])
    ]
    cpu_rows.append(
        ["(all cores × wall time)", f"{main['send_s'] * cores:.1f} s", "100%"],
    )
    cpu = common.table(["Process", "CPU time during the send", f"Share of {cores} cores"], cpu_rows)
    check_main, ok_main = correctness(main)

    mem_rows, peaks = [], []
    for run in [results.get("probe"), main]:
        if not run:
            continue
        for name, peak in run["peak"].items():
            rss = run["rss"].get(name, {})
            peaks.append(peak["hwm_kb"])
            mem_rows.append(
                [
                    f"{run['recipients']:,}",
                    name.split("-", 1)[1],
                    _mb(rss.get("first_kb")),
                    _mb(rss.get("first_half_max_kb")),
                    _mb(rss.get("second_half_max_kb")),
                    f"**{_mb(peak['hwm_kb'])}**",
                ]
            )
    memory = common.table(
        [
            "Campaign",
            "Worker",
            "RSS at first sample",
            "Max RSS, 1st half",
            "Max RSS, 2nd half",
            "Peak (VmHWM)",
        ],
        mem_rows,
    )
    mem_ok = max(peaks) < MEMORY_TARGET_MB * 1024
    probe = results.get("probe")
    flat = ""
    if probe:
        grow = max(p["hwm_kb"] for p in main["peak"].values()) - max(
            p["hwm_kb"] for p in probe["peak"].values()
        )
        flat = (
            f" Peak at {n:,} vs {probe['recipients']:,} recipients: {grow / 1024:+.0f} MB "
            f"({10 if probe['recipients'] * 10 == n else n / probe['recipients']:.0f}× "
            "the recipients)."
        )

    from astronote.services.sending.rate_limits import WINDOW

    thr = results["throttled"]
    rate = thr["rate"]
    lat = rate["grant_to_accept_s"]
    limit = rate["limit"]
    rate_ok = abs(rate["steady_rate"] - limit) <= RATE_TOLERANCE * limit
    never_over = rate["sliding_max"] <= limit
    check_thr, ok_thr = correctness(thr)
    throttled = common.table(
        ["Measure (as the simulator saw it: when each request arrived)", "Value", "Target"],
        [
            ["Configured limit (traffic account = shop = global)", f"{limit} msg/s", ""],
            [
                "Recipients / requests / batch size",
                f"{rate['messages']:,} / {rate['requests']} / {thr['batch_size']}",
                "",
            ],
            [
                "**Achieved rate** (all but the last request's messages ÷ first-to-last "
                "request time)",
                f"**{rate['steady_rate']:.2f} msg/s** "
                f"({100 * (rate['steady_rate'] / limit - 1):+.2f}%)",
                f"within ±{RATE_TOLERANCE:.0%}: {_mark(rate_ok)}",
            ],
            [
                f"Per wall-clock second, {rate['full_seconds']} full seconds: min / mean / max",
                f"{rate['per_second_min']} / {rate['per_second_mean']:.1f} / "
                f"{rate['per_second_max']}",
                "",
            ],
            [
                "**Most messages in any sliding 1-second window**",
                f"**{rate['sliding_max']}**",
                f"≤ {limit}: {_mark(never_over)}",
            ],
            ["Wall-clock seconds over the limit", str(rate["over_limit_seconds"]), "0"],
            [
                "Limiter grants seen in Redis: count, smallest spacing",
                f"{rate['grants']}, {_ms(rate['grant_gap_min_s'])}",
                f"≥ {1000 * WINDOW:,.0f} ms (the limiter's window)",
            ],
            [
                "Grant → first message at the provider: min / median / max",
                " / ".join(_ms(lat.get(k, float("nan"))) for k in ("min", "p50", "max")),
                "",
            ],
            [
                "At the provider: smallest gap between consecutive requests; longest request",
                f"{_ms(rate['request_gap_min_s'])}; {_ms(rate['request_spread_max_s'])}",
                "",
            ],
            ["Enqueue → completed", _s(thr["send_s"]), ""],
        ],
    )
    ok = ratio_ok and mem_ok and rate_ok and never_over and ok_main and ok_thr
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    body = f"""Reproduce: `make bench-campaign` (`{command}`), measured {stamp}.

- Machine: {common.machine()}; {results["server"]}. PostgreSQL, Redis, the
  simulator and the workers all share these cores.
- Code: {results["code"]}.
- Provider: the Mitto simulator (`python -m astronote.devtools.mitto_sim`) with no
  faults and no delivery reports (no web process runs to receive them, and the
  simulator plans none, so it keeps no report queue either).
- Workers: {args["workers"]} `huey_consumer` processes (`-k thread -w {args["threads"]} -n`,
  `ASTRONOTE_ENV=development`, `SMS_BATCH_SIZE={args["batch_size"]}`), fed through Redis.
- Data: {n:,} subscribed contacts loaded with `COPY` (valid, unique US numbers; a
  sample of {results["phones_checked"]:,} checked with `phonenumbers`); the shop has no
  quiet period and no frequency cap. The message fills `{{{{first_name}}}}`,
  `{{{{shop_name}}}}` and `{{{{discount_code}}}}` and ends with the opt-out line: one
  GSM-7 segment per recipient.

### Throughput, unthrottled

{throughput}

Target: sending at least {RATIO_TARGET:.0%} of the bare write rate: {_mark(ratio_ok)}
({ratio:.2f}×; the baseline wrote {common.rate(n, base["total_s"])} rows/s).

Where the CPU went during the send (from `/proc`; PostgreSQL includes every backend):

{cpu}

Check: {check_main}: {_mark(ok_main)}.

### Throttled

{throttled}

Check: {check_thr}: {_mark(ok_thr)}.

### Worker memory

Fresh workers for each campaign; RSS sampled twice a second, peak from the
kernel's high-water mark (`VmHWM` in `/proc/<pid>/status`) at the end.

{memory}

Target: flat and under {MEMORY_TARGET_MB} MB per worker: {_mark(mem_ok)}.{flat}
"""
    return body, ok


def _terminate(signum, _frame) -> None:
    raise SystemExit(128 + signum)  # unwind through every `finally`: children, servers


def main(argv=None) -> int:
    signal.signal(signal.SIGTERM, _terminate)
    args = parse_args(argv)
    if args.profile:
        Path(args.profile).mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="astronote-campaign-bench-"))
    bench = Bench(args, workdir)
    try:
        results = bench.run()
    finally:
        bench.close()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"work directory kept: {workdir}")
    (Path(args.profile) if args.profile else Path(tempfile.gettempdir())).joinpath(
        f"campaign-bench-{args.recipients}.json"
    ).write_text(json.dumps(results, indent=2, default=str))
    command = "python bench/campaign.py " + " ".join(sys.argv[1:] if argv is None else argv)
    body, ok = render(results, command.strip())
    print(body)
    out = args.out
    if out == "auto":
        big = args.recipients >= 1_000_000 and not args.profile
        out = str(common.PERFORMANCE_MD) if big else "none"
    if out != "none":
        support.write_section(body, Path(out), common.INTRO)
        print(f"\nWrote the Campaign sending block of {out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
