"""Short-link redirect throughput: /l/<code> against a bare 302 in the same gunicorn.

    python bench/links.py [--seconds 10] [--rounds 3] [--connections 16] [--out]

One run starts a throwaway PostgreSQL (tests/servers.py), migrates it, writes a shop,
a campaign with two links and --messages sent messages, signs --codes codes for
random (message, link), and starts gunicorn as Procfile's `web` runs it (gthread,
2 workers x 4 threads, access log on) serving bench/links_app.py: the real app plus
the bare baseline route. wrk (127.0.0.1 only) then alternates the two endpoints for
--rounds rounds of --seconds each, with an iPhone Safari agent so every redirect
counts a click. Afterwards the clicks in PostgreSQL must equal the redirects served.
Prints Markdown; with --out, replaces the "Short links" section of docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402
from bench.campaign_support import Children, cpu_ticks, descendants  # noqa: E402
from tests.servers import free_port, start_postgres, wait_for  # noqa: E402

SECRET = "bench-links-secret"
RATIO_TARGET = 0.7
AGENT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
)
# Two targets of the same length, so every redirect's Location is as long as the bare one.
BODY = (
    "Spring sale at Alpha: 20% off all week https://alpha.example/collections/spring-sale?"
    "ref=sms and new in https://alpha.example/collections/spring-news?ref=sms"
)
PREVIEWER = "WhatsApp/2.23.20.0 A"  # redirected, never counted: no click to write
LUA = """
local paths = {%s}
wrk.headers["User-Agent"] = "%s"
request = function()
  return wrk.format("GET", "%s" .. paths[math.random(#paths)])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('RESULT {"requests": %%d, "seconds": %%f, "p50_us": %%d, ' ..
    '"p99_us": %%d, "bad": %%d}\\n', summary.requests, summary.duration / 1e6,
    latency:percentile(50), latency:percentile(99),
    e.status + e.connect + e.read + e.write + e.timeout))
end
"""


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=5, help="per measured run")
    parser.add_argument("--rounds", type=int, default=8, help="bare/links pairs")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--codes", type=int, default=5_000)
    parser.add_argument("--flush-seconds", type=float, default=1.0, help="LINK_FLUSH_SECONDS")
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="scheduling priority of the bench and all it starts (PostgreSQL, gunicorn, "
        "wrk), e.g. -10 on a machine shared with other work (root only below 0)",
    )
    parser.add_argument("--out", action="store_true", help="write docs/PERFORMANCE.md")
    return parser.parse_args(argv)


def seed(database_url: str, messages: int, codes: int) -> tuple[list[str], str]:
    """Schema, a shop, a campaign with `messages` sent messages; signed codes and the
    Location the redirect answers for link 0 (the bare route answers the same length)."""
    from flask_migrate import upgrade
    from sqlalchemy import text

    from astronote import create_app
    from astronote.config import engine_options
    from astronote.extensions import db
    from astronote.models import Campaign, Shop
    from astronote.services import links
    from astronote.services.links import codec, urls

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SQLALCHEMY_ENGINE_OPTIONS": engine_options(database_url),
            "SECRET_KEY": SECRET,
        }
    )
    with app.app_context():
        upgrade(directory=str(common.ROOT / "migrations"))
        shop = Shop(shop_domain="alpha.myshopify.com", name="Alpha")
        db.session.add(shop)
        db.session.flush()
        campaign = Campaign(shop_id=shop.id, name="Spring sale", body=BODY, status="completed")
        db.session.add(campaign)
        db.session.flush()
        db.session.execute(
            text(
                "INSERT INTO messages (shop_id, campaign_id, contact_id, kind, phone, segments,"
                " status, attempts, created_at) SELECT :shop, :campaign, g, 'campaign',"
                " '+1202555' || lpad(g::text, 4, '0'), 1, 'delivered', 1, now()"
                " FROM generate_series(1, :n) AS g"
            ),
            {"shop": shop.id, "campaign": campaign.id, "n": messages},
        )
        source = links.Source(links.CAMPAIGN, campaign.id, campaign.name)
        prepared = links.prepare(shop.id, source, BODY)
        db.session.commit()
        first, last = db.session.execute(text("SELECT min(id), max(id) FROM messages")).one()
        rng = random.Random(12)
        signed = [
            codec.encode(prepared.id, rng.randint(first, last), rng.randint(0, 1))
            for _ in range(codes)
        ]
        location = urls.with_utm(next(iter(prepared.index)), campaign.name)
        db.engine.dispose()
    return signed, location


def start_web(children: Children, port: int, env: dict) -> str:
    """gunicorn with Procfile's `web` settings, bound to 127.0.0.1 only."""
    args = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}"]
    args += ["--worker-class", "gthread", "--workers", "2", "--threads", "4"]
    args += ["--timeout", "120", "--access-logfile", "-", "bench.links_app:app"]
    children.spawn("web", args, env)
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        children.check_alive("web")
        try:
            response = requests.get(base + "/bare/x", allow_redirects=False, timeout=2)
            return response.status_code == 302
        except requests.RequestException:
            return False

    wait_for(ready, 60, "gunicorn", interval=0.2)
    return base


def wrk(base: str, script: Path, seconds: int, connections: int) -> dict:
    command = ["wrk", "-t", "1", "-c", str(connections), "-d", f"{seconds}s", "-s", str(script)]
    output = subprocess.run(command + [base], capture_output=True, text=True, check=True).stdout
    line = next(x for x in output.splitlines() if x.startswith("RESULT "))
    result = json.loads(line[len("RESULT ") :])
    result["rps"] = result["requests"] / result["seconds"]
    return result


def scripts(workdir: Path, codes: list[str]) -> dict[str, Path]:
    paths = ",".join(f'"{c}"' for c in codes)
    made = {}
    kinds = (("links", "/l/", AGENT), ("bare", "/bare/", AGENT), ("raw", "/raw/", AGENT))
    for name, prefix, agent in (*kinds, ("preview", "/l/", PREVIEWER)):
        made[name] = workdir / f"{name}.lua"
        made[name].write_text(LUA % (paths, agent, prefix))
    return made


def clicks_written(conninfo: str) -> int:
    with psycopg.connect(conninfo) as conn:
        return conn.execute("SELECT count(*) FROM link_clicks").fetchone()[0]


class Cpu:
    """CPU seconds of gunicorn (master and workers) and of PostgreSQL (all backends)."""

    def __init__(self, web_pid: int, postmaster: int) -> None:
        self.web_pid, self.postmaster = web_pid, postmaster

    def now(self) -> float:
        web = sum(cpu_ticks(p) for p in descendants(self.web_pid))
        backends = [p for p in descendants(self.postmaster) if p != self.postmaster]
        pg = cpu_ticks(self.postmaster, with_reaped=True) + sum(cpu_ticks(p) for p in backends)
        return (web + pg) / os.sysconf("SC_CLK_TCK")


def run(args, base: str, script: Path, cpu: Cpu) -> dict:
    """One wrk run, then a settle of two writer intervals: its clicks are written (and
    their CPU counted) before the next run starts."""
    start = cpu.now()
    result = wrk(base, script, args.seconds, args.connections)
    time.sleep(max(2.0, 2 * args.flush_seconds))
    result["cpu_us"] = (cpu.now() - start) / max(result["requests"], 1) * 1e6
    return result


def measure(args, base: str, lua: dict[str, Path], conninfo: str, cpu: Cpu) -> dict:
    for name in ("bare", "links", "raw", "preview"):  # warm-up: caches, connections, imports
        wrk(base, lua[name], 2, args.connections)
    time.sleep(2)
    before = clicks_written(conninfo)
    runs: dict[str, list[dict]] = {"bare": [], "links": [], "raw": [], "preview": []}
    for round_ in range(args.rounds):
        order = ("bare", "links") if round_ % 2 == 0 else ("links", "bare")
        for name in order:
            runs[name].append(run(args, base, lua[name], cpu))
            print(name, json.dumps(runs[name][-1]), flush=True)
    served = sum(r["requests"] - r["bad"] for r in runs["links"])
    clicks = clicks_written(conninfo) - before
    for name in ("raw", "preview"):  # context, once each
        runs[name].append(run(args, base, lua[name], cpu))
    return {"runs": runs, "served": served, "clicks": clicks, "load": os.getloadavg()[1]}


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def report(args, result: dict) -> str:
    runs = result["runs"]
    rows, rps = [], {}
    labels = (
        ("links", "`/l/<code>`, click counted"),
        ("bare", "bare 302 (same Flask app)"),
        ("preview", "`/l/<code>`, preview bot (no click)"),
        ("raw", "raw WSGI 302 (no Flask)"),
    )
    for name, label in labels:
        rps[name] = _median([r["rps"] for r in runs[name]])
        p50 = _median([r["p50_us"] for r in runs[name]]) / 1000
        p99 = _median([r["p99_us"] for r in runs[name]]) / 1000
        bad = sum(r["bad"] for r in runs[name])
        cpu_us = _median([r["cpu_us"] for r in runs[name]])
        row = [label, f"{rps[name]:,.0f}", f"{p50:.2f}", f"{p99:.2f}", f"{cpu_us:,.0f}", bad]
        rows.append(row)
    pairs = [
        link["rps"] / bare["rps"] for link, bare in zip(runs["links"], runs["bare"], strict=True)
    ]
    ratio = _median(pairs)
    cpu_ratio = _median([r["cpu_us"] for r in runs["bare"]]) / _median(
        [r["cpu_us"] for r in runs["links"]]
    )
    verdict = "meets" if ratio >= RATIO_TARGET else "misses"
    command = (
        f"python bench/links.py --seconds {args.seconds} --rounds {args.rounds} "
        f"--connections {args.connections} --messages {args.messages} --codes {args.codes} "
        f"--flush-seconds {args.flush_seconds:g}" + (f" --nice {args.nice}" if args.nice else "")
    )
    headers = ["endpoint", "requests/s", "p50 ms", "p99 ms", "CPU µs/request", "errors"]
    table = common.table(headers, rows)
    return f"""<!-- links-bench:start -->
Measured {time.strftime("%Y-%m-%d")} on {common.machine()}; `{command}`
(`make bench-links`). gunicorn as Procfile's `web` (gthread, 2 workers x 4 threads,
access log on), wrk on 127.0.0.1 (1 thread, {args.connections} keep-alive connections,
an iPhone Safari agent, {args.codes:,} codes over {args.messages:,} messages), PostgreSQL on the
same 2 cores (load average over the run, other work on the machine included:
{result["load"]:.1f}; the bench and all it starts at nice {args.nice}).
{args.rounds} pairs of {args.seconds} s runs, bare and links alternating; medians.
CPU is gunicorn's and PostgreSQL's, from /proc, over each run and the 2 s after it
(the buffered clicks of a run are written then).

{table}

**Ratio `/l/<code>` : bare = {ratio:.2f}x** in throughput, the median of the
{args.rounds} pairs' ratios, which ranged from {min(pairs):.2f}x to {max(pairs):.2f}x
(target >= {RATIO_TARGET}x: {verdict} it); in CPU per request
(bare / links, which other load on the machine disturbs less): {cpu_ratio:.2f}x.
Every redirect counted a click: {result["clicks"]:,} clicks written for the {result["served"]:,}
redirects wrk completed (a run's last requests in flight are served and counted, but not
in wrk's total).

The baseline is a route in the same Flask app answering the same 302 (a Location of
the same length, the same headers, the same hooks and access log line) and doing
nothing else, so the ratio is the price of the links code alone: verifying the code's
HMAC, the cached set, the UTM target, the bot check and appending the click to the
buffer, and the writer thread's share of the CPU. The two context lines are single
runs (noisier): a preview bot's redirect (the same work without a click to write) and
a raw WSGI 302 (no Flask): the framework's own share, which neither endpoint can avoid.
The redirect reads nothing from PostgreSQL once a set is cached (per process, 5
minutes); a thread per process writes the buffered clicks every second in one
transaction: the raw clicks, the per-message, per-campaign and daily report rollups.
<!-- links-bench:end -->"""


def main(argv=None) -> int:
    args = parse_args(argv)
    if not shutil.which("wrk"):
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    if args.nice:
        os.setpriority(os.PRIO_PROCESS, 0, args.nice)  # inherited by every child started
    workdir = Path(tempfile.mkdtemp(prefix="astronote-bench-links-"))
    server = start_postgres(workdir / "pg")
    children = Children(workdir)
    try:
        codes, location = seed(server.url, args.messages, args.codes)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ASTRONOTE_", "LINK_"))}
        env.update(
            ASTRONOTE_ENV="development",
            DATABASE_URL=server.url,
            SECRET_KEY=SECRET,
            BENCH_BARE_LOCATION=location,
            HUEY_SQLITE_PATH=str(workdir / "huey.db"),
            LINK_FLUSH_SECONDS=str(args.flush_seconds),
            PYTHONPATH=str(common.ROOT),
        )
        base = start_web(children, free_port(), env)
        postmaster = int((server.data_dir / "postmaster.pid").read_text().split()[0])
        cpu = Cpu(children.processes["web"].pid, postmaster)
        result = measure(args, base, scripts(workdir, codes), server.conninfo, cpu)
        text = report(args, result)
        print(text)
        if args.out:
            common.write_section("Short links", text)
    finally:
        children.stop()
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
