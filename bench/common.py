"""Shared benchmark helpers: timing, percentiles, memory, Markdown output."""

from __future__ import annotations

import os
import platform
import re
import resource
import statistics
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PERFORMANCE_MD = ROOT / "docs" / "PERFORMANCE.md"
INTRO = """# Performance

Every number here comes from a benchmark script in `bench/`, run on the machine
named in its section. Absolute numbers depend on the hardware, so each result is
also given as a **ratio against a baseline measured in the same run, on the same
server and the same data**: a bare `COPY` for bulk writes, a bare indexed
`SELECT ... ORDER BY id DESC LIMIT 50` for pages. A ratio travels between
machines much better than a rows/s figure does.

The reference machine has 2 CPU cores; the database server and the Python
process share them. The PostgreSQL server is a private, throwaway one started
by the benchmark (`tests/servers.py`, `fsync=off` like the test suite, default
memory settings otherwise).
"""


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, round(pct / 100 * len(ordered) + 0.4999))
    return ordered[min(rank, len(ordered)) - 1]


def sample_ms(call: Callable[[], object], repeat: int, warmup: int = 5) -> list[float]:
    """Wall time of `repeat` calls, in milliseconds, after `warmup` untimed calls."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return times


def summary(times: list[float]) -> dict[str, float]:
    return {
        "p50": percentile(times, 50),
        "p95": percentile(times, 95),
        "mean": statistics.fmean(times),
    }


@contextmanager
def stopwatch(results: dict, key: str):
    start = time.perf_counter()
    try:
        yield
    finally:
        results[key] = results.get(key, 0.0) + time.perf_counter() - start


def _status_kb(field: str) -> int | None:
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    match = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) if match else None


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (Linux >= 4.0); False when unsupported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def rss_mb() -> float:
    kb = _status_kb("VmRSS")
    return (kb or 0) / 1024


def peak_rss_mb() -> float:
    """Peak RSS since the last reset (VmHWM), else since process start."""
    kb = _status_kb("VmHWM")
    if kb is None:
        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024


class CpuMeter:
    """CPU seconds used by this process, by a PostgreSQL cluster, and by everything else.

    "Everything else" flags a run disturbed by other work on the machine; the
    cluster is found from its postmaster pid (exited backends are included
    through the postmaster's reaped-children counters).
    """

    def __init__(self, postmaster_pid: int | None = None) -> None:
        self.postmaster_pid = postmaster_pid
        self._start = self._sample()

    def _cluster(self) -> float:
        if self.postmaster_pid is None:
            return 0.0
        total = 0.0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            pid, parent = int(entry.name), int(fields[1])
            if pid == self.postmaster_pid:
                total += sum(int(v) for v in fields[11:15])  # own and reaped children
            elif parent == self.postmaster_pid:
                total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _busy() -> float:
        try:
            values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:8]]
        except OSError:
            return 0.0
        return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")  # not idle/iowait

    def _sample(self) -> tuple[float, float, float, float]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return time.perf_counter(), usage.ru_utime + usage.ru_stime, self._cluster(), self._busy()

    def read(self) -> dict[str, float]:
        end = self._sample()
        wall, own, cluster, busy = (b - a for a, b in zip(self._start, end, strict=True))
        return {"wall": wall, "python": own, "postgres": cluster,
                "others": max(busy - own - cluster, 0.0)}  # fmt: skip


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / (1 << 30)
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GB RAM, Python {platform.python_version()}"


def table(headers: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def write_section(title: str, body: str, path: Path = PERFORMANCE_MD) -> None:
    """Create or replace the `## title` section of docs/PERFORMANCE.md."""
    text = path.read_text() if path.exists() else INTRO
    section = f"## {title}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1).rstrip() + "\n"
    else:
        text = text.rstrip() + "\n\n" + section
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def rate(rows: int, seconds: float) -> str:
    return f"{rows / seconds:,.0f}" if seconds > 0 else "n/a"
