"""Send rate limits in messages per second: per Mitto traffic account, per shop, global.

All three hold at once, for every worker process on every machine, through one
atomic Redis script (see ``rate_limit_lua``). A throttled caller waits; when the
timeout passes first it gets False and puts its batch back, never drops it.

Redis down must not mean "unlimited" (the original failed open), nor "each
worker at a fixed share" (with more workers than the share assumed, 1,500
messages went out in one second against a limit of 500). On the fallback:

- every limit is divided by the number of live workers: the most recent
  heartbeat count (each process notes itself in Redis while Redis works) or the
  configured RATE_LIMIT_FALLBACK_WORKERS, whichever is larger;
- the grants other workers took through Redis in the current window are unknown,
  so the window in which Redis failed counts as full: nothing more goes in it;
- this process's own grants, logged locally whichever way they were made, still
  count against the next second.

So the workers together stay within every limit. Redis is retried every few
seconds and full speed returns with it.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Mapping, Sequence

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from astronote.services.sending.rate_limit_lua import SLIDING_WINDOW_LUA

log = logging.getLogger("astronote.rate_limits")

# Slightly over a second: the provider sees our sends a little after we grant
# them, with jitter (measured 3-6 ms when the grant is taken right before the
# HTTP call, more under load), so 12 ms of slack keeps the provider's view of any
# sliding second within the limit too, for a 1.2% cost in throughput.
WINDOW = 1.012
REDIS_RETRY_SECONDS = 2.0
HEARTBEAT_SECONDS = 5.0
LIVE_FOR_SECONDS = 30.0  # a worker that has not asked for this long is not counted
WARN_EVERY_SECONDS = 30.0
# One hash tag for every key, so the script's keys share a Redis Cluster slot.
KEY_PREFIX = "astronote:send-rate:{send}:"


def _connect(url: str) -> redis.Redis:
    # Fail fast: redis-py's default of ten retries with backoff would stall a
    # worker for seconds per call. One immediate retry heals a pooled connection
    # left stale by a Redis restart.
    return redis.Redis.from_url(
        url, socket_connect_timeout=0.5, socket_timeout=1.0, retry=Retry(NoBackoff(), 1)
    )


class _LocalWindows:
    """Sliding-window logs in process memory, one per key. Callers hold the lock.

    Entries are (expires_at, count). A request larger than a limit, possible
    only with the divided fallback limits, is granted alone in an empty window
    and then occupies it proportionally longer, so the long-run rate still holds.
    """

    def __init__(self) -> None:
        self._logs: dict[str, deque[tuple[float, int]]] = {}
        self._used: dict[str, int] = {}
        self._next_sweep = 0.0

    def wait_time(
        self, keys: Sequence[str], limits: Sequence[int], count: int, now: float
    ) -> float:
        """Seconds until `count` fits under every limit; 0.0 when it fits now."""
        return max(
            self._wait_one(k, limit, count, now) for k, limit in zip(keys, limits, strict=True)
        )

    def record(self, keys: Sequence[str], limits: Sequence[int], count: int, now: float) -> None:
        for key, limit in zip(keys, limits, strict=True):
            expires_at = now + WINDOW * max(1.0, count / limit)
            self._logs.setdefault(key, deque()).append((expires_at, count))
            self._used[key] = self._used.get(key, 0) + count
        if now >= self._next_sweep:  # forget shops that stopped sending
            self._next_sweep = now + 60.0
            for key in list(self._logs):
                self._prune(key, now)

    def fill(self, keys: Sequence[str], limits: Sequence[int], now: float) -> None:
        """Count the current window as used up to every limit (grants we cannot see)."""
        for key, limit in zip(keys, limits, strict=True):
            self._prune(key, now)
            missing = limit - self._used.get(key, 0)
            if missing > 0:
                self._logs.setdefault(key, deque()).append((now + WINDOW, missing))
                self._used[key] = self._used.get(key, 0) + missing

    def _wait_one(self, key: str, limit: int, count: int, now: float) -> float:
        entries = self._prune(key, now)
        used, wait = self._used.get(key, 0), 0.0
        for expires_at, weight in entries:
            if used == 0 or used + count <= limit:
                break
            used, wait = used - weight, expires_at - now
        return wait

    def _prune(self, key: str, now: float) -> deque[tuple[float, int]]:
        entries = self._logs.get(key, deque())
        while entries and entries[0][0] <= now:
            self._used[key] -= entries.popleft()[1]
        if not entries:
            self._logs.pop(key, None)
            self._used.pop(key, None)
        return entries


class SendRateLimiter:
    """Blocks senders until a chunk of messages fits under all three limits."""

    def __init__(
        self,
        redis_url: str | None,
        traffic_account_max: int,
        tenant_max: int,
        global_max: int,
        *,
        fallback_divisor: int = 4,
        clock=time.time,
        sleep=time.sleep,
        redis_client=None,
    ) -> None:
        self._limits = (int(traffic_account_max), int(tenant_max), int(global_max))
        if min(self._limits) < 1 or fallback_divisor < 1:
            raise ValueError("rate limits and fallback_divisor must be positive")
        self._clock, self._sleep = clock, sleep
        if redis_client is None and redis_url:
            redis_client = _connect(redis_url)
        self._redis = redis_client
        self._script = redis_client.register_script(SLIDING_WINDOW_LUA) if redis_client else None
        # Without Redis (the embedded single-machine setup) there is one worker
        # process, so its local limiter is the whole truth and dividing the limits
        # would only throw away three quarters of the throughput. (A test send from
        # the web process is a lone message on top, not a stream.)
        self._min_divisor = fallback_divisor if redis_client is not None else 1
        self._peers = 0  # live workers seen through the heartbeat
        self._worker_id = uuid.uuid4().hex
        self._beat_at = clock() - HEARTBEAT_SECONDS  # the first refusal beats at once
        self._local = _LocalWindows()
        # One attempt at a time per process keeps check-then-record atomic locally;
        # an attempt is a single round trip, far shorter than any send.
        self._lock = threading.Lock()
        self._retry_redis_at: float | None = None  # set while on the fallback
        self._warned_at = float("-inf")

    @classmethod
    def from_config(cls, config: Mapping) -> SendRateLimiter:
        return cls(
            config.get("REDIS_URL") or None,
            int(config.get("RATE_LIMIT_TRAFFIC_ACCOUNT_MAX", 100)),
            int(config.get("RATE_LIMIT_TENANT_MAX", 50)),
            int(config.get("RATE_LIMIT_GLOBAL_MAX", 200)),
            fallback_divisor=int(config.get("RATE_LIMIT_FALLBACK_WORKERS", 4)),
        )

    @property
    def _divisor(self) -> int:
        return max(self._min_divisor, self._peers)

    def _fallback(self, limits: Sequence[int]) -> tuple[int, ...]:
        return tuple(max(1, n // self._divisor) for n in limits)

    @property
    def _fallback_limits(self) -> tuple[int, ...]:
        return self._fallback(self._limits)

    def max_chunk(self) -> int:
        """The largest count one acquire() may ask for."""
        return min(self._limits)

    def acquire(
        self,
        traffic_account: str,
        shop_id: int,
        count: int,
        timeout: float = 30.0,
        account_limit: int | None = None,
    ) -> bool:
        """Wait until `count` messages may go now, record them and return True.

        Returns False, recording nothing, once `timeout` seconds have passed; the
        caller puts its batch back. `count` must be 1..max_chunk(). `account_limit`
        lowers the traffic account's limit (a provider that throttles, see
        services/sending/throttle.py); it never raises it.
        """
        limits = self._limits
        if account_limit is not None:
            limits = (max(1, min(limits[0], int(account_limit))), *limits[1:])
        if not 1 <= count <= min(self.max_chunk(), max(limits[0], count)):
            raise ValueError(f"count must be between 1 and {self.max_chunk()}, got {count}")
        keys = (
            f"{KEY_PREFIX}account:{traffic_account}",
            f"{KEY_PREFIX}shop:{shop_id}",
            f"{KEY_PREFIX}global",
        )
        deadline = self._clock() + timeout
        while True:
            wait = self._attempt(keys, count, limits)
            if wait <= 0:
                return True
            remaining = deadline - self._clock()
            if remaining <= 0:
                return False
            self._sleep(min(wait, remaining))

    def _attempt(self, keys: Sequence[str], count: int, limits: Sequence[int]) -> float:
        """One try: 0.0 when granted and recorded, else seconds worth waiting."""
        with self._lock:
            now = self._clock()
            if self._redis is not None and now >= (self._retry_redis_at or 0.0):
                wait = self._local.wait_time(keys, limits, count, now)
                if wait == 0.0:
                    wait = self._redis_attempt(keys, count, now, limits)
                if wait is not None:
                    if wait == 0.0:
                        self._local.record(keys, limits, count, now)
                    return wait
            fallback = self._fallback(limits)
            wait = self._local.wait_time(keys, fallback, count, now)
            if wait == 0.0:
                self._local.record(keys, fallback, count, now)
            return wait

    def _redis_attempt(
        self, keys: Sequence[str], count: int, now: float, limits: Sequence[int]
    ) -> float | None:
        """Run the script; None (and fall back for a while) when Redis fails."""
        args = [count, int(WINDOW * 1_000_000), uuid.uuid4().hex, *limits]
        try:
            wait_us = self._script(keys=keys, args=args)
            # While refused (the caller sleeps anyway), or at least twice per liveness
            # horizon: the extra round trip never delays a grant that was due.
            self._heartbeat(now, due=HEARTBEAT_SECONDS if wait_us else LIVE_FOR_SECONDS / 2)
        except (redis.RedisError, OSError) as exc:
            if self._retry_redis_at is None:  # Redis just failed: others' grants are unseen
                self._local.fill(keys, self._fallback(limits), now)
            self._retry_redis_at = now + REDIS_RETRY_SECONDS
            self._warn_fallback(exc, now)
            return None
        if self._retry_redis_at is not None:
            self._retry_redis_at = None
            log.warning("Redis is back: send rate limits are shared again")
        return int(wait_us) / 1_000_000

    def _heartbeat(self, now: float, due: float) -> None:
        """Note this worker as live and count the live ones, every `due` seconds."""
        if now - self._beat_at < due:
            return
        key = f"{KEY_PREFIX}workers"
        pipe = self._redis.pipeline()
        pipe.zadd(key, {self._worker_id: now})
        pipe.zremrangebyscore(key, "-inf", now - LIVE_FOR_SECONDS)
        pipe.zcard(key)
        pipe.expire(key, int(LIVE_FOR_SECONDS * 2))
        self._peers = int(pipe.execute()[2])
        self._beat_at = now

    def _warn_fallback(self, exc: Exception, now: float) -> None:
        if now - self._warned_at < WARN_EVERY_SECONDS:
            return
        self._warned_at = now
        log.warning(
            "Redis unreachable for send rate limits (%s); falling back to process-local "
            "limits of %s msg/s (traffic account/shop/global, 1/%d of configured), "
            "retrying Redis every %g s",
            exc,
            "/".join(map(str, self._fallback_limits)),
            self._divisor,
            REDIS_RETRY_SECONDS,
        )
