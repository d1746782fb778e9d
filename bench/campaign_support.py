"""Helpers for bench/campaign.py: data, baseline, child processes, /proc, simulator log.

Nothing here imports astronote; bench/campaign.py configures the app it builds.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import requests

from tests.servers import wait_for

ROOT = Path(__file__).resolve().parent.parent
START_MARK = "<!-- campaign-bench:start -->"
END_MARK = "<!-- campaign-bench:end -->"
SECTION_TITLE = "Campaign sending"
TICKS = os.sysconf("SC_CLK_TCK")

# ---------------------------------------------------------------- data

# Big NANP area codes (all valid in libphonenumber). Numbers are area + exchange
# (200-999, minus N11 and 555) + line (0000-9999): 7.8 million per area code.
AREA_CODES = ("212", "415", "646", "312", "617", "213", "305", "404", "702", "718")
EXCHANGES = tuple(x for x in range(200, 1000) if x % 100 != 11 and x != 555)
FIRST_NAMES = [
    "Maria",
    "James",
    "Anna",
    "John",
    "Sofia",
    "David",
    "Emma",
    "Michael",
    "Olivia",
    "Daniel",
    "Mia",
    "Chris",
    "Ava",
    "Peter",
    "Lena",
    "Lucas",
    "Zoe",
    "Adam",
    "Chloe",
    "Noah",
    "Grace",
    "Leo",
    "Ella",
    "Sam",
    "Nora",
    "Ben",
    "Ivy",
    "Max",
    "Ruby",
    "Eli",
]
LAST_NAMES = [
    "Smith",
    "Johnson",
    "Brown",
    "Garcia",
    "Miller",
    "Davis",
    "Lopez",
    "Wilson",
    "Moore",
    "Taylor",
    "Thomas",
    "Lee",
    "Harris",
    "Clark",
    "Lewis",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Green",
    "Baker",
    "Adams",
    "Nelson",
    "Hill",
    "Campbell",
    "Mitchell",
    "Roberts",
    "Carter",
    "Phillips",
    "Evans",
    "Turner",
    "Parker",
    "Collins",
    "Edwards",
    "Stewart",
    "Morris",
]


def phone_for(index: int) -> str:
    """The index-th benchmark number: deterministic, unique, valid E.164 (US)."""
    area = AREA_CODES[index % len(AREA_CODES)]
    rest = index // len(AREA_CODES)
    line = rest % 10_000
    exchange = EXCHANGES[(rest // 10_000) % len(EXCHANGES)]
    if rest >= 10_000 * len(EXCHANGES):
        raise ValueError("more numbers than the generator holds")
    return f"+1{area}{exchange:03d}{line:04d}"


def check_phones(count: int, sample: int = 2000) -> int:
    """Validate a random sample (plus both ends) with phonenumbers; return how many."""
    import phonenumbers

    rng = random.Random(42)
    picks = {0, count - 1, *(rng.randrange(count) for _ in range(min(sample, count)))}
    for index in picks:
        number = phonenumbers.parse(phone_for(index))
        if not phonenumbers.is_valid_number(number):
            raise RuntimeError(f"generated an invalid number: {phone_for(index)}")
    return len(picks)


def copy_contacts(conninfo: str, shop_id: int, count: int, offset: int = 0) -> float:
    """COPY `count` subscribed contacts into a shop; returns seconds."""
    started = time.perf_counter()
    at = datetime(2024, 1, 1, tzinfo=UTC)
    columns = "shop_id, phone, first_name, last_name, consent_state, consent_source, "
    columns += "consent_updated_at"
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        with cur.copy(f"COPY contacts ({columns}) FROM STDIN") as copy:
            for i in range(offset, offset + count):
                copy.write_row(
                    (
                        shop_id,
                        phone_for(i),
                        FIRST_NAMES[i % len(FIRST_NAMES)],
                        LAST_NAMES[(i // 7) % len(LAST_NAMES)],
                        "subscribed",
                        "import",
                        at,
                    )
                )
        cur.execute(
            "INSERT INTO shop_contact_counts (shop_id, consent_state, total) "
            "VALUES (%s, 'subscribed', %s)",
            (shop_id, count),
        )
    return time.perf_counter() - started


def analyze(conninfo: str, *tables: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for table in tables:
            conn.execute(f"VACUUM ANALYZE {table}")


# ---------------------------------------------------------------- baseline


def baseline(conninfo: str, shop_id: int, batch: int = 5000) -> dict:
    """The database work a send cannot avoid, bare: snapshot rows, then record outcomes.

    A scratch copy of `messages` (same columns, defaults, indexes and unique
    constraint) gets one INSERT ... SELECT of the shop's subscribed contacts,
    then a per-row UPDATE (distinct provider id + status) through psycopg's
    executemany, `batch` rows per transaction.
    """
    with psycopg.connect(conninfo) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_messages")
        conn.execute("CREATE TABLE bench_messages (LIKE messages INCLUDING ALL)")
        conn.commit()
        started = time.perf_counter()
        inserted = conn.execute(
            "INSERT INTO bench_messages (shop_id, campaign_id, contact_id, kind, phone, "
            "first_name, last_name, status, segments, attempts) "
            "SELECT shop_id, 0, id, 'campaign', phone, first_name, last_name, 'queued', 0, 0 "
            "FROM contacts WHERE shop_id = %s AND consent_state = 'subscribed'",
            (shop_id,),
        ).rowcount
        conn.commit()
        insert_s = time.perf_counter() - started
        started = time.perf_counter()
        ids = [row[0] for row in conn.execute("SELECT id FROM bench_messages ORDER BY id")]
        updated = 0
        with conn.cursor() as cur:
            for start in range(0, len(ids), batch):
                chunk = ids[start : start + batch]
                cur.executemany(
                    "UPDATE bench_messages SET status = 'accepted', provider_message_id = %s "
                    "WHERE id = %s",
                    [(str(uuid.uuid4()), i) for i in chunk],
                )
                conn.commit()
                updated += len(chunk)
        update_s = time.perf_counter() - started
        accepted = conn.execute(
            "SELECT count(*), count(DISTINCT provider_message_id) FROM bench_messages "
            "WHERE status = 'accepted'"
        ).fetchone()
        conn.execute("DROP TABLE bench_messages")
        conn.commit()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("CHECKPOINT")
    if not inserted == updated == accepted[0] == accepted[1]:
        raise RuntimeError(f"baseline miscounted: {inserted=} {updated=} {accepted=}")
    return {
        "rows": inserted,
        "insert_s": insert_s,
        "update_s": update_s,
        "total_s": insert_s + update_s,
    }


# ---------------------------------------------------------------- processes


class Children:
    """Child processes with a log file each; `stop()` ends exactly these, by pid."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.processes: dict[str, subprocess.Popen] = {}

    def spawn(self, name: str, args: list[str], env: dict) -> subprocess.Popen:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 (the child keeps a copy)
        try:
            process = subprocess.Popen(
                args,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        finally:
            log.close()
        self.processes[name] = process
        return process

    def log_text(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def check_alive(self, *names: str) -> None:
        for name in names or list(self.processes):
            process = self.processes[name]
            if process.poll() is not None:
                tail = self.log_text(name)[-3000:]
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{tail}")

    def stop(self, *names: str, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
        chosen = names or tuple(self.processes)
        for name in chosen:
            process = self.processes.get(name)
            if process is not None and process.poll() is None:
                process.send_signal(sig)
        for name in chosen:
            process = self.processes.pop(name, None)
            if process is None:
                continue
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=timeout)


def start_simulator(children: Children, port: int, env: dict) -> str:
    """The Mitto simulator CLI, DLR reports off (no web app to receive them)."""
    args = [sys.executable, "-m", "astronote.devtools.mitto_sim"]
    args += ["--host", "127.0.0.1", "--port", str(port)]
    # No dlr_url, and no outcomes planned either: the simulator keeps no report heap.
    args += ["--dlr-delivered", "0", "--dlr-failed", "0", "--dlr-expired", "0"]
    children.spawn("simulator", args, env)
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        children.check_alive("simulator")
        try:
            return requests.get(base + "/_sim/config", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    wait_for(ready, 30, "the Mitto simulator")
    return base


def start_workers(children: Children, count: int, threads: int, env: dict, tag: str) -> list:
    """`count` huey_consumer processes; returns once each logged that it started.

    Retried twice: in a shared working tree a file may be caught mid-edit.
    """
    for attempt in range(3):
        try:
            return _start_workers(children, count, threads, env, tag)
        except RuntimeError as exc:
            children.stop(*[n for n in list(children.processes) if n.startswith(f"{tag}-")])
            if attempt == 2:
                raise
            print(f"  workers failed to start, retrying in 10 s: {str(exc)[-300:]}", flush=True)
            time.sleep(10)
    raise AssertionError("unreachable")


def _start_workers(children: Children, count: int, threads: int, env: dict, tag: str) -> list:
    names = []
    for index in range(1, count + 1):
        name = f"{tag}-worker{index}"
        args = [sys.executable, "-m", "huey.bin.huey_consumer", "astronote.worker.huey"]
        args += ["-k", "thread", "-w", str(threads), "-n"]
        children.spawn(name, args, env)
        names.append(name)

    def started() -> bool:
        children.check_alive(*names)
        return all("consumer started" in children.log_text(n).lower() for n in names)

    wait_for(started, 60, "the huey consumers to start", interval=0.2)
    return names


def code_version() -> str:
    """HEAD, and which files of the sending path differ from it (a shared tree moves)."""

    def git(*args: str) -> str:
        result = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False
        )
        return result.stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    services = "sending batches campaigns credits rate_limits rate_limit_lua provider frequency"
    paths = [f"astronote/services/{name}.py" for name in services.split()]
    paths += ["astronote/tasks", "astronote/integrations", "astronote/models", "migrations"]
    dirty = git("diff", "--name-only", "HEAD", "--", *paths).split()
    return f"`{head}`" + (f" plus uncommitted changes to {', '.join(dirty)}" if dirty else "")


# ---------------------------------------------------------------- /proc


def descendants(pid: int) -> list[int]:
    """pid and every process below it (thread workers have none; kept for safety)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            with contextlib.suppress(OSError):
                todo += [int(c) for c in (task / "children").read_text().split()]
    return found


def status_kb(pid: int, field: str) -> int:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    match = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) if match else 0


def cpu_ticks(pid: int, with_reaped: bool = False) -> int:
    """utime + stime (+ cutime + cstime of reaped children) of one process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    ticks = int(fields[11]) + int(fields[12])  # fields 14 and 15 of stat(5)
    if with_reaped:
        ticks += int(fields[13]) + int(fields[14])
    return ticks


def cpu_snapshot(groups: dict[str, list[int]], postmaster: int | None) -> dict[str, float]:
    """CPU seconds used so far per component (PostgreSQL: postmaster and all backends)."""
    snap = {
        name: sum(cpu_ticks(p) for pid in pids for p in descendants(pid)) / TICKS
        for name, pids in groups.items()
    }
    if postmaster:
        backends = [p for p in descendants(postmaster) if p != postmaster]
        total = cpu_ticks(postmaster, with_reaped=True) + sum(cpu_ticks(p) for p in backends)
        snap["PostgreSQL"] = total / TICKS
    times = os.times()
    snap["bench process"] = times.user + times.system
    return snap


class MemorySampler(threading.Thread):
    """Samples the RSS of the worker processes twice a second while a send runs."""

    def __init__(self, pids: dict[str, int], interval: float = 0.5):
        super().__init__(daemon=True)
        self.pids, self.interval = pids, interval
        self.samples: dict[str, list[tuple[float, int]]] = defaultdict(list)
        self._halt = threading.Event()
        self._t0 = time.monotonic()

    def run(self) -> None:
        while True:
            now = time.monotonic() - self._t0
            for name, pid in self.pids.items():
                kb = sum(status_kb(p, "VmRSS") for p in descendants(pid))
                self.samples[name].append((now, kb))
            if self._halt.wait(self.interval):
                return

    def stop(self) -> dict:
        self._halt.set()
        self.join(timeout=5)
        summary = {}
        for name, series in self.samples.items():
            values = [kb for _, kb in series] or [0]
            half = len(values) // 2 or 1
            summary[name] = {
                "first_kb": values[0],
                "max_kb": max(values),
                "first_half_max_kb": max(values[:half]),
                "second_half_max_kb": max(values[half:] or values),
                "samples": len(values),
            }
        return summary


def peak_memory(pids: dict[str, int]) -> dict[str, dict]:
    """VmHWM (kernel high-water mark of RSS) of each worker, children included."""
    result = {}
    for name, pid in pids.items():
        tree = descendants(pid)
        result[name] = {
            "hwm_kb": sum(status_kb(p, "VmHWM") for p in tree),
            "rss_kb": sum(status_kb(p, "VmRSS") for p in tree),
            "processes": len(tree),
        }
    return result


class GrantWatcher(threading.Thread):
    """Reads (never writes) the limiter's global sliding-window log in Redis.

    Every grant stays in the sorted set for the window (~1 s), scored by the
    Redis clock in microseconds; polling five times a second sees all of them.
    Comparing grant times with the simulator's accept times shows how far the
    time between "allowed to send" and "the provider has it" varies.
    """

    KEY = "astronote:send-rate:{send}:global"

    def __init__(self, client, interval: float = 0.2):
        super().__init__(daemon=True)
        self.client, self.interval = client, interval
        self.grants: dict[str, tuple[float, int]] = {}
        self._halt = threading.Event()
        self._since = time.time()  # grants of an earlier run may still sit in the window

    def run(self) -> None:
        while not self._halt.is_set():
            for member, score in self.client.zrange(self.KEY, 0, -1, withscores=True):
                name, at = member.decode(), score / 1_000_000
                if at >= self._since:
                    self.grants.setdefault(name, (at, int(name.rsplit(":", 1)[1])))
            self._halt.wait(self.interval)

    def stop(self) -> list[tuple[float, int]]:
        self._halt.set()
        self.join(timeout=5)
        return sorted(self.grants.values())


# ---------------------------------------------------------------- py-spy


def start_profilers(children: Children, targets: dict[str, int], outdir: Path, tag: str):
    names = []
    for name, pid in targets.items():
        out = outdir / f"{tag}-{name}.txt"
        args = ["py-spy", "record", "--pid", str(pid), "--rate", "50", "--format", "raw"]
        args += ["--nonblocking", "--output", str(out)]
        exe = Path(sys.executable).parent / "py-spy"
        args[0] = str(exe) if exe.exists() else "py-spy"
        children.spawn(f"pyspy-{tag}-{name}", args, dict(os.environ))
        names.append(f"pyspy-{tag}-{name}")
    return names


def summarize_profile(path: Path, top: int = 25) -> str:
    """Self and inclusive sample shares per function from py-spy's raw (collapsed) output."""
    self_counts, incl_counts, total = Counter(), Counter(), 0
    if not path.exists():
        return f"(no profile at {path})"
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_frame(f) for f in stack.split(";")[1:]]  # drop the thread name
        if frames:
            self_counts[frames[-1]] += n
        for frame in set(frames):
            incl_counts[frame] += n
    if not total:
        return f"(empty profile at {path})"
    lines = [f"{path.name}: {total} samples", "  self%  incl%  function"]
    for frame, n in self_counts.most_common(top):
        lines.append(f"  {100 * n / total:5.1f}  {100 * incl_counts[frame] / total:5.1f}  {frame}")
    lines.append("  -- inclusive, app functions --")
    app = [(f, n) for f, n in incl_counts.most_common() if "(astronote/" in f]
    for frame, n in app[:top]:
        lines.append(f"         {100 * n / total:5.1f}  {frame}")
    return "\n".join(lines)


def _frame(frame: str) -> str:
    # "function (path/to/file.py:123)" -> "function (file.py)"; lines are too noisy.
    match = re.match(r"(.*) \((.*?):\d+\)$", frame)
    if not match:
        return frame
    name, path = match.groups()
    parts = Path(path).parts
    if "astronote" in parts:  # app code: keep the package path, e.g. astronote/services/x.py
        last = len(parts) - 1 - parts[::-1].index("astronote")
        return f"{name} ({'/'.join(parts[last:])})"
    short = "/".join(parts[-2:]) if len(parts) > 1 else path
    return f"{name} ({short})"


def enable_statement_stats(server) -> None:
    """Profiling only: load pg_stat_statements (needs a restart of the private server)."""
    with psycopg.connect(server.dsn("postgres"), autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
    server.restart()
    with psycopg.connect(server.conninfo, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")


def reset_statement_stats(conninfo: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_statements_reset()")


def statement_stats(conninfo: str, top: int = 20) -> str:
    """The statements PostgreSQL spent its time on, biggest first."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT total_exec_time, calls, rows, mean_exec_time, "
            "regexp_replace(query, '\\s+', ' ', 'g') FROM pg_stat_statements "
            "ORDER BY total_exec_time DESC LIMIT %s",
            (top,),
        ).fetchall()
        total = conn.execute("SELECT sum(total_exec_time) FROM pg_stat_statements").fetchone()[0]
    lines = [f"pg_stat_statements: {total / 1000:.1f} s of statement time in all"]
    lines.append("  total_s  share  calls      rows  mean_ms  query")
    for total_ms, calls, nrows, mean_ms, query in rows:
        lines.append(
            f"  {total_ms / 1000:7.1f}  {100 * total_ms / total:4.0f}%  {calls:5d}  {nrows:8d}"
            f"  {mean_ms:7.1f}  {query[:160]}"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------- simulator log


def fetch_sim_log(base: str, dest: Path, timeout: float) -> list[dict]:
    """GET /_sim/log to a file (it is hundreds of MB at a million), then parse it."""
    with requests.get(base + "/_sim/log", stream=True, timeout=timeout) as response:
        response.raise_for_status()
        with dest.open("wb") as out:
            for block in response.iter_content(1 << 20):
                out.write(block)
    with dest.open("rb") as source:
        data = json.load(source)
    dest.unlink()
    return data["accepted"]


def reset_sim(base: str) -> None:
    requests.post(base + "/_sim/reset", timeout=30).raise_for_status()


def arrival(record: dict) -> float:
    """When the message's request reached the provider (older logs: when it was accepted)."""
    return datetime.fromisoformat(record.get("received_at") or record["accepted_at"]).timestamp()


def accepted_times(records: list[dict]) -> list[float]:
    return sorted(map(arrival, records))


def _spread(values: list[float]) -> dict:
    if not values:
        return {}
    ordered = sorted(values)
    return {
        "min": ordered[0],
        "p50": ordered[len(ordered) // 2],
        "max": ordered[-1],
        "n": len(ordered),
    }


def rate_analysis(records: list[dict], limit: int, grants: list | None = None) -> dict:
    """What the provider saw: per wall-clock second, sliding 1-s windows, steady rate.

    `grants` are the limiter's (time, count) grants from GrantWatcher, if watched.
    """
    grants = grants or []
    times = accepted_times(records)
    seconds = Counter(int(t) for t in times)
    first, last = min(seconds), max(seconds)
    full = [seconds.get(s, 0) for s in range(first + 1, last)]  # drop partial ends
    # Two pointers over sorted times: the most accepted within any [t, t + 1 s).
    sliding, j = 0, 0
    for i, start in enumerate(times):
        while j < len(times) and times[j] < start + 1.0:
            j += 1
        sliding = max(sliding, j - i)
    # Steady rate between requests: all but the last request's messages were paid
    # for by the time between the first and the last request.
    requests_by_bulk: dict[str, list[float]] = defaultdict(list)
    for record, t in zip(records, _times_in_order(records), strict=True):
        requests_by_bulk[record["bulk_id"]].append(t)
    starts = sorted((min(ts), len(ts)) for ts in requests_by_bulk.values())
    span = starts[-1][0] - starts[0][0]
    steady = (len(times) - starts[-1][1]) / span if span > 0 else float("nan")
    gaps = [b[0] - a[0] for a, b in zip(starts, starts[1:], strict=False)]
    spreads = [max(ts) - min(ts) for ts in requests_by_bulk.values()]
    latency = []
    if grants and len(grants) == len(starts):  # k-th grant <-> k-th request, both in order
        latency = [start - grant for (grant, _), (start, _) in zip(grants, starts, strict=True)]
    grant_gaps = [b[0] - a[0] for a, b in zip(grants, grants[1:], strict=False)]
    return {
        "request_gap_min_s": min(gaps) if gaps else float("nan"),
        "request_spread_max_s": max(spreads),
        "grants": len(grants),
        "grant_gap_min_s": min(grant_gaps) if grant_gaps else float("nan"),
        "grant_to_accept_s": _spread(latency),
        "messages": len(times),
        "requests": len(starts),
        "request_sizes": sorted(Counter(n for _, n in starts).items()),
        "span_s": times[-1] - times[0],
        "steady_rate": steady,
        "full_seconds": len(full),
        "per_second_mean": sum(full) / len(full) if full else float("nan"),
        "per_second_min": min(full) if full else 0,
        "per_second_max": max(seconds.values()),
        "sliding_max": sliding,
        "limit": limit,
        "over_limit_seconds": sum(1 for n in seconds.values() if n > limit),
    }


def _times_in_order(records: list[dict]) -> list[float]:
    return [arrival(r) for r in records]


def check_sim_log(records: list[dict], expected: int) -> dict:
    """Duplicates and losses as the provider saw them (counts only; phones are checked in SQL)."""
    per_phone = Counter(r["destination"] for r in records)
    per_reference = Counter(r["reference"] for r in records)
    return {
        "logged": len(records),
        "distinct_phones": len(per_phone),
        "phones_twice": sum(1 for n in per_phone.values() if n > 1),
        "distinct_references": len(per_reference),
        "references_twice": sum(1 for n in per_reference.values() if n > 1),
        "expected": expected,
    }


def check_database(conninfo: str, campaign_id: int, shop_id: int, records: list[dict]) -> dict:
    """Join the simulator's log to the messages table: right row, right phone, right id."""
    with psycopg.connect(conninfo) as conn:
        conn.execute(
            "CREATE TEMP TABLE sim_log (reference bigint, message_id text, destination text)"
        )
        with conn.cursor() as cur, cur.copy("COPY sim_log FROM STDIN") as copy:
            for r in records:
                copy.write_row((int(r["reference"]), r["message_id"], r["destination"]))
        statuses = dict(
            conn.execute(
                "SELECT status, count(*) FROM messages WHERE campaign_id = %s GROUP BY status",
                (campaign_id,),
            ).fetchall()
        )
        matched = conn.execute(
            "SELECT count(*) FROM sim_log s JOIN messages m ON m.id = s.reference "
            "WHERE m.campaign_id = %s AND m.provider_message_id = s.message_id "
            "AND m.phone = s.destination AND m.status = 'accepted'",
            (campaign_id,),
        ).fetchone()[0]
        subscribed_not_logged = conn.execute(
            "SELECT count(*) FROM contacts c WHERE c.shop_id = %s "
            "AND c.consent_state = 'subscribed' "
            "AND NOT EXISTS (SELECT 1 FROM sim_log s WHERE s.destination = c.phone)",
            (shop_id,),
        ).fetchone()[0]
        campaign = conn.execute(
            "SELECT status, recipient_count, reserved_credits, credits_settled, "
            "started_at, finished_at FROM campaigns WHERE id = %s",
            (campaign_id,),
        ).fetchone()
        balance = conn.execute(
            "SELECT available, reserved FROM credit_balances WHERE shop_id = %s", (shop_id,)
        ).fetchone()
        ledger = conn.execute(
            "SELECT coalesce(sum(available_delta), 0), coalesce(sum(reserved_delta), 0) "
            "FROM credit_ledger WHERE shop_id = %s",
            (shop_id,),
        ).fetchone()
        consumed = conn.execute(
            "SELECT coalesce(-sum(reserved_delta), 0) FROM credit_ledger "
            "WHERE shop_id = %s AND campaign_id = %s AND kind = 'consume'",
            (shop_id, campaign_id),
        ).fetchone()[0]
        segments = conn.execute(
            "SELECT coalesce(sum(segments), 0) FROM messages WHERE campaign_id = %s "
            "AND status = 'accepted'",
            (campaign_id,),
        ).fetchone()[0]
        conn.rollback()
    return {
        "statuses": statuses,
        "matched": matched,
        "subscribed_not_logged": subscribed_not_logged,
        "campaign_status": campaign[0],
        "recipient_count": campaign[1],
        "reserved_credits": campaign[2],
        "credits_settled": campaign[3],
        "balance": tuple(balance),
        "ledger": tuple(int(x) for x in ledger),
        "consumed": int(consumed),
        "segments": int(segments),
    }


# ---------------------------------------------------------------- docs/PERFORMANCE.md


def write_section(body: str, path: Path, intro: str) -> None:
    """Replace only our marked block (or append it); everything else stays byte for byte.

    The heading sits *above* the start marker: a `## Contacts` writer that
    replaces up to the next `## ` heading then never swallows our marker.
    """
    block = f"{START_MARK}\n{body.strip()}\n{END_MARK}"
    text = path.read_text() if path.exists() else intro.rstrip() + "\n"
    start, end = text.find(START_MARK), text.find(END_MARK)
    if start != -1 and end > start:
        text = text[:start] + block + text[end + len(END_MARK) :]
    else:
        heading = re.compile(
            rf"^## {re.escape(SECTION_TITLE)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL
        )
        section = f"## {SECTION_TITLE}\n\n{block}\n"
        if heading.search(text):
            text = heading.sub(lambda _: section + "\n", text, count=1)
        else:
            text = text.rstrip() + "\n\n" + section
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".campaign-{os.getpid()}.tmp")
    tmp.write_text(text.rstrip() + "\n")
    os.replace(tmp, path)
