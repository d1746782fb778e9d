"""Adapt to a provider that throttles: shrink on 429, grow back on success.

A provider whose per-second cap is below our chunk size answers 429 to every
request of that size, so a fixed chunk never gets through (the campaign
stalled). Per traffic account (the provider's unit of throttling) we keep:

- ``rate``: messages per second we allow ourselves, used both as the chunk size
  and as the traffic-account limit given to the shared rate limiter;
- ``good``: the last rate that went through, and ``cap``: the rate of the last
  429. A 429 falls back to ``good`` when there is one below the failing rate,
  else halves; success grows the rate by ``INCREASE`` of itself, but only to just
  under ``cap`` until ``PROBE_AFTER`` seconds pass without a 429. So the rate
  settles just below the provider's cap instead of hitting it (and losing a
  whole Retry-After) every few seconds;
- ``until``: the end of the provider's ``Retry-After``; no worker sends before it;
- ``at``: the last 429, which the campaign page shows as "provider is throttling".

Where the state lives: in the task queue's key-value store. That is Redis when
REDIS_URL is set, so every worker on every machine adapts together; otherwise
the queue's SQLite file, shared by the one embedded worker and the web process.
Plain process memory would do for the embedded worker's own rate, but then the
web process, which draws the campaign page, could never see the throttling.
If the store fails, the state falls back to process memory: adapting alone is
still far better than not adapting, and the rate limiter's limits still hold.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from contextlib import suppress

from huey.constants import EmptyData

log = logging.getLogger("astronote.sending")

DECREASE = 0.5
INCREASE = 0.1
PROBE_AFTER = 5.0  # seconds without a 429 before growing past the rate that failed
SHOWN_FOR = 60.0  # seconds after the last 429 that the page still says "throttling"
DEFAULT_RETRY = 1.0  # a 429 without Retry-After
clock = time.time

_memory: dict[str, dict] = {}
_lock = threading.Lock()


def _key(account: str) -> str:
    return f"astronote:throttle:{account}"


def _storage():
    from astronote.tasks import huey

    return huey.storage


def _load(account: str) -> dict:
    try:
        raw = _storage().peek_data(_key(account))
    except Exception as exc:  # noqa: BLE001 - any store failure: use process memory
        log.warning("throttle state unavailable (%s); adapting in process", exc)
        return dict(_memory.get(account, {}))
    if raw is EmptyData or raw is None:
        return {}
    try:
        return json.loads(raw)
    except (TypeError, ValueError):
        return {}


def _save(account: str, state: dict) -> None:
    with _lock:
        _memory[account] = dict(state)
    try:
        _storage().put_data(_key(account), json.dumps(state).encode())
    except Exception as exc:  # noqa: BLE001
        log.warning("throttle state not shared (%s); adapting in process", exc)


def rate(account: str, ceiling: int) -> int:
    """Messages per second (and per chunk) to use now, 1..ceiling."""
    current = _load(account).get("rate") or ceiling
    return max(1, min(ceiling, int(current)))


def wait_seconds(account: str) -> float:
    """Seconds left of the provider's last Retry-After."""
    return max(0.0, float(_load(account).get("until", 0.0)) - clock())


def throttled(account: str, sent: int, ceiling: int, retry_after: float | None) -> None:
    """The provider answered 429 to `sent` messages: slow down and wait as it asks."""
    state, now = _load(account), clock()
    # The rate we were sending at failed; a chunk's size is a count, not a rate, so it
    # bounds the rate only when the chunk alone exceeded what the provider allows.
    failed = float(state.get("rate") or ceiling)
    wait = retry_after if retry_after is not None else DEFAULT_RETRY
    if now < float(state.get("until", 0.0)):
        # Still inside the last 429's wait: this request left before it (another worker's,
        # in flight), so it says nothing new about our rate. Extend the wait, don't compound.
        state.update(until=max(float(state["until"]), now + wait), at=now)
        _save(account, state)
        return
    good = state.pop("good", None)  # used once: a second 429 at it halves
    state["rate"] = good if good is not None and good < failed else max(1.0, failed * DECREASE)
    state.update(cap=failed, until=now + wait, at=now)
    _save(account, state)
    log.warning("provider throttling %s: rate now %.0f msg/s", account, state["rate"])


def succeeded(account: str, ceiling: int) -> None:
    """A chunk went through: remember the rate, grow back towards the configured limit."""
    state = _load(account)
    current = state.get("rate")
    if current is None or current >= ceiling:
        return  # at full speed: nothing to write
    target = float(ceiling)
    if state.get("cap") and clock() - float(state.get("at", 0.0)) < PROBE_AFTER:
        target = min(target, max(current, float(state["cap"]) - 1.0))
    grown = min(target, current + max(1.0, current * INCREASE))
    if grown == current and state.get("good") == current:
        return  # settled just under the cap: nothing changes
    state["good"], state["rate"] = current, grown
    _save(account, state)


def is_throttling(account: str) -> bool:
    """Did the provider throttle us within the last minute?"""
    return clock() - float(_load(account).get("at", float("-inf"))) < SHOWN_FOR


def reset(account: str) -> None:
    """Forget the adaptation (tests, or an operator after raising the provider's cap)."""
    with _lock:
        _memory.pop(account, None)
    with suppress(Exception):  # a store that is down has nothing to forget
        _storage().pop_data(_key(account))
