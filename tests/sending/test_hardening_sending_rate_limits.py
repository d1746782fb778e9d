"""Issue #10, item 18: when Redis dies, the workers together never exceed the limit."""

from __future__ import annotations

import redis

from astronote.services.sending.rate_limits import KEY_PREFIX, SendRateLimiter


class FakeTime:
    def __init__(self):
        self.now = 2_000_000.0

    def time(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def _dead(*args, **kwargs):
    raise redis.ConnectionError("Redis was killed")


def _worst_window(grants: list[tuple[float, int]], window: float = 1.0) -> int:
    return max(sum(n for s, n in grants if opened <= s < opened + window) for opened, _ in grants)


def test_six_workers_on_the_fallback_stay_within_the_shared_limit(redis_server):
    client = redis_server.client()
    for key in client.scan_iter(match=f"{KEY_PREFIX}*"):
        client.delete(key)
    clock = FakeTime()
    workers = [
        SendRateLimiter(redis_server.url, 60, 60, 60, clock=clock.time, sleep=clock.sleep)
        for _ in range(6)
    ]
    for _ in range(2):  # every worker notes itself; the second round sees all six
        for worker in workers:
            worker._heartbeat(clock.now, due=0)
    # Through Redis, one worker takes the whole second's limit just before Redis dies.
    grants = [(clock.now, 60)]
    assert workers[0].acquire("acct", 1, 60, timeout=0)
    for worker in workers:
        worker._script = _dead
    # Flat out on the fallback for five seconds, every worker in turn.
    for _ in range(500):
        for worker in workers:
            if worker.acquire("acct", 1, 1, timeout=0):
                grants.append((clock.now, 1))
        clock.now += 0.01
    assert _worst_window(grants) <= 60  # was 90/s: a fixed 1/4 each, and 50 more at once
    steady = sum(n for s, n in grants if s >= clock.now - 3.0)
    assert steady >= 0.9 * 60 * 3  # the limit is shared out, not thrown away


def test_configured_worker_count_is_a_floor_for_the_share():
    limiter = SendRateLimiter.from_config(
        {
            "REDIS_URL": None,
            "RATE_LIMIT_TRAFFIC_ACCOUNT_MAX": 100,
            "RATE_LIMIT_TENANT_MAX": 100,
            "RATE_LIMIT_GLOBAL_MAX": 100,
            "RATE_LIMIT_FALLBACK_WORKERS": 8,
        }
    )
    assert limiter._fallback_limits == (100, 100, 100)  # embedded: one worker, no division
    dead = redis.Redis(port=1, socket_connect_timeout=0.2)
    clock = FakeTime()
    limiter = SendRateLimiter(
        None, 100, 100, 100, fallback_divisor=8, redis_client=dead, clock=clock.time
    )
    assert limiter._fallback_limits == (12, 12, 12)
    limiter._peers = 10  # seen through the heartbeat: more than configured
    assert limiter._fallback_limits == (10, 10, 10)


def test_a_lowered_account_limit_binds_and_never_raises(redis_server):
    client = redis_server.client()
    for key in client.scan_iter(match=f"{KEY_PREFIX}*"):
        client.delete(key)
    clock = FakeTime()
    limiter = SendRateLimiter(None, 50, 50, 50, clock=clock.time, sleep=clock.sleep)
    assert limiter.acquire("acct", 1, 20, timeout=0, account_limit=20)
    assert not limiter.acquire("acct", 1, 1, timeout=0, account_limit=20)
    assert limiter.acquire("acct", 1, 30, timeout=0, account_limit=500)  # capped at 50
    assert not limiter.acquire("acct", 1, 1, timeout=0, account_limit=500)
