"""Send rate limits against a real Redis: never over the limit in any 1-second window,
close to it in throughput, shared by threads and processes, and safe when Redis dies.

Grant times are only known to lie between a call's start and its return, so the
window check counts grants that certainly fell inside one second (started at or
after the window opened, returned before it closed): any count over the limit
is a real violation, never an artefact of timing.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from astronote.services.sending import rate_limits
from astronote.services.sending.rate_limits import KEY_PREFIX, SendRateLimiter

Event = tuple[float, float, int]  # (call started, call returned, messages granted)


# ---------------------------------------------------------------- helpers


def flat_out(limiter, account, shop, until, count=1, stop=None) -> list[Event]:
    """Acquire as fast as the limiter allows until `until` (wall clock) or `stop`."""
    events = []
    while time.time() < until and not (stop and stop.is_set()):
        started = time.time()
        if limiter.acquire(account, shop, count, timeout=min(0.2, until - started)):
            events.append((started, time.time(), count))
    return events


def max_per_window(events: list[Event], window: float = 1.0) -> int:
    """Most messages certainly granted within any `window` seconds."""
    events = sorted(events)
    worst = 0
    for opened, _, _ in events:
        inside = sum(n for s, r, n in events if s >= opened and r < opened + window)
        worst = max(worst, inside)
    return worst


def wave_rate(events: list[Event], limit: int, waves: int) -> float:
    """Rate over `waves` full windows of single-message grants.

    The (waves*limit)-th grant after the first can only happen once `waves`
    windows have passed, so how soon it comes shows how well the wait hints
    track the window: polling or slack would stretch it.
    """
    returned = sorted(r for _, r, _ in events)
    return waves * limit / (returned[waves * limit] - returned[0])


def run_threads(jobs) -> list[list[Event]]:
    results = [None] * len(jobs)

    def run(i, job):
        results[i] = job()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _child(url, limits, barrier, duration, queue):
    """A separate worker process sending flat out on the shared limits."""
    limiter = SendRateLimiter(url, *limits)
    barrier.wait(timeout=60)
    queue.put(flat_out(limiter, "shared-account", 7, time.time() + duration))


class FakeTime:
    def __init__(self):
        self.now = 1_000_000.0

    def time(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


@pytest.fixture
def redis_url(redis_server):
    """The session Redis, without limiter keys left over from another test."""
    client = redis_server.client()
    keys = list(client.scan_iter(match=f"{KEY_PREFIX}*"))
    if keys:
        client.delete(*keys)
    return redis_server.url


def global_log(redis_server) -> list[bytes]:
    return redis_server.client().zrange(f"{KEY_PREFIX}global", 0, -1)


# ---------------------------------------------------------------- through Redis


def test_flat_out_stays_under_and_close_to_the_limit(redis_url):
    limiter = SendRateLimiter(redis_url, 100, 50, 200)
    events = flat_out(limiter, "acct", 1, time.time() + 3.05)

    assert max_per_window(events) <= 50
    rate = wave_rate(events, 50, waves=3)
    assert 0.98 * 50 <= rate <= 50, rate


def test_lower_tenant_limit_binds(redis_url):
    limiter = SendRateLimiter(redis_url, 30, 12, 45)
    events = flat_out(limiter, "acct", 1, time.time() + 2.05)

    assert max_per_window(events) <= 12
    assert wave_rate(events, 12, waves=2) >= 0.98 * 12


def test_shops_share_account_and_global_limits(redis_url):
    # Shops 1 and 2 share account A (30/s); shop 3 is alone on account B. Each
    # shop may send 20/s, but A's shops together only 30 and everyone 45.
    limiter = SendRateLimiter(redis_url, 30, 20, 45)
    until = time.time() + 2.5
    shop1, shop2, shop3 = run_threads(
        [
            lambda: flat_out(limiter, "A", 1, until),
            lambda: flat_out(limiter, "A", 2, until),
            lambda: flat_out(limiter, "B", 3, until),
        ]
    )

    assert all(max_per_window(shop) <= 20 for shop in (shop1, shop2, shop3))
    assert max_per_window(shop1 + shop2) <= 30
    assert max_per_window(shop1 + shop2 + shop3) <= 45
    # Three windows fit in 2.5 s; the global limit should be nearly used up.
    assert sum(n for *_, n in shop1 + shop2 + shop3) >= 0.9 * 3 * 45
    assert min(len(shop1), len(shop2), len(shop3)) > 0


def test_two_processes_share_the_limit(redis_url):
    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(3), ctx.Queue()
    procs = [
        ctx.Process(target=_child, args=(redis_url, (100, 40, 200), barrier, 2.5, queue))
        for _ in range(2)
    ]
    for proc in procs:
        proc.start()
    try:
        barrier.wait(timeout=60)
        first, second = queue.get(timeout=30), queue.get(timeout=30)
    finally:
        for proc in procs:
            proc.join(timeout=10)

    assert max_per_window(first + second) <= 40
    total = sum(n for *_, n in first + second)
    assert total >= 0.95 * 3 * 40  # three windows fit in 2.5 s
    assert min(len(first), len(second)) >= 0.1 * total  # both really competed


def test_timeout_returns_false_and_records_nothing(redis_url, redis_server):
    someone_else = SendRateLimiter(redis_url, 10, 10, 10)
    limiter = SendRateLimiter(redis_url, 10, 10, 10)
    assert someone_else.acquire("acct", 1, 10)
    saturated_at = time.monotonic()

    assert limiter.acquire("acct", 1, 1, timeout=0.3) is False
    assert 0.3 <= time.monotonic() - saturated_at < 0.8
    assert limiter.acquire("acct", 1, 1, timeout=0) is False
    assert len(global_log(redis_server)) == 1  # only the saturating grant

    assert limiter.acquire("acct", 1, 1, timeout=2.0)
    assert time.monotonic() - saturated_at >= 1.0


def test_redis_outage_falls_back_to_reduced_local_limits(
    redis_url, redis_server, monkeypatch, caplog
):
    monkeypatch.setattr(rate_limits, "REDIS_RETRY_SECONDS", 0.3)
    caplog.set_level(logging.WARNING, logger="astronote.rate_limits")
    limiter = SendRateLimiter(redis_url, 40, 40, 40, fallback_divisor=4)
    stop, results = threading.Event(), []
    worker = threading.Thread(
        target=lambda: results.append(flat_out(limiter, "acct", 1, time.time() + 30, stop=stop))
    )
    worker.start()
    try:
        time.sleep(1.0)
        with redis_server.outage():
            down = time.time()  # after the halt: grants before it went through Redis
            time.sleep(2.5)
        up = time.time()
        time.sleep(2.0)
    finally:
        stop.set()
        worker.join()
    assert results, "acquire raised instead of falling back"
    events = results[0]

    assert max_per_window(events) <= 40
    during = [e for e in events if e[0] >= down and e[1] < up]
    assert max_per_window(during) <= 10  # 40 / fallback_divisor
    assert sum(n for *_, n in during) >= 10  # kept sending, at least one window's worth
    after = [e for e in events if up + 1.0 <= e[0] and e[1] < up + 2.0]
    assert sum(n for *_, n in after) >= 30  # full speed again, beyond any fallback
    assert global_log(redis_server)  # and the grants are shared through Redis again
    messages = caplog.text
    assert "falling back to process-local limits of 10/10/10" in messages
    assert "Redis is back" in messages


# ---------------------------------------------------------------- process-local


def test_without_redis_the_local_limiter_uses_full_limits():
    limiter = SendRateLimiter(None, 100, 20, 200)
    until = time.time() + 1.1
    events = sum(run_threads([lambda: flat_out(limiter, "acct", 1, until)] * 2), [])

    assert max_per_window(events) <= 20
    assert wave_rate(events, 20, waves=1) >= 0.98 * 20  # not divided by 4


def test_fallback_grants_an_oversized_chunk_alone_then_pays_it_back(caplog):
    # A closed port: every Redis call fails at once. Fake time makes it instant.
    dead = redis.Redis(port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    clock = FakeTime()
    limiter = SendRateLimiter(
        None, 40, 40, 40, redis_client=dead, clock=clock.time, sleep=clock.sleep
    )
    caplog.set_level(logging.WARNING, logger="astronote.rate_limits")

    # The window in which Redis failed counts as full (other workers' grants in it are
    # unseen); after it, 40 is over the fallback limit of 10/s but must not wait forever.
    assert limiter.acquire("acct", 1, 40, timeout=2)
    assert clock.now - 1_000_000.0 == pytest.approx(rate_limits.WINDOW)
    started = clock.now
    assert limiter.acquire("acct", 1, 1, timeout=10)
    assert clock.now - started >= 4.0  # 40 messages at 10/s
    assert caplog.text.count("falling back") == 1  # once per 30 s, not per call
    clock.sleep(31)
    assert limiter.acquire("acct", 1, 1, timeout=0)
    assert caplog.text.count("falling back") == 2


def test_counts_are_validated_and_config_is_read():
    limiter = SendRateLimiter.from_config(
        {
            "REDIS_URL": None,
            "RATE_LIMIT_TRAFFIC_ACCOUNT_MAX": 100,
            "RATE_LIMIT_TENANT_MAX": 50,
            "RATE_LIMIT_GLOBAL_MAX": 30,
        }
    )
    assert limiter.max_chunk() == 30
    assert limiter.acquire("acct", 1, 30, timeout=0)
    assert limiter.acquire("acct", 2, 1, timeout=0) is False  # global 30 reached
    for bad in (0, 31):
        with pytest.raises(ValueError):
            limiter.acquire("acct", 1, bad)
