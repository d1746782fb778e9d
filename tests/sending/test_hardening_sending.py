"""Issue #10, items 17 and 23: sends keep moving when the provider throttles; "Starting"."""

from __future__ import annotations

import io
import json
import threading
import time
from collections import Counter, deque

import pytest

from astronote.integrations.mitto.client import MittoClient, MittoRetryableError
from astronote.services.campaigns import lifecycle as campaigns
from astronote.services.sending import batches, throttle
from astronote.tasks import campaigns as campaign_tasks
from tests.sending.test_campaign_views import create, hx, started, text

ACCOUNT = "simulator-account"


class CappedProvider:
    """WSGI wrapper around the simulator: at most `cap` messages in any 1 s, else 429.

    A bulk request that would go over the cap is refused whole, as a provider does.
    """

    def __init__(self, inner, cap: int):
        self.inner, self.sim, self.cap = inner, inner.sim, cap
        self.log: deque[tuple[float, int]] = deque()
        self.refused = 0
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        if environ["PATH_INFO"].endswith("sendmessagesbulk"):
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            environ["wsgi.input"] = io.BytesIO(body)
            count = len(json.loads(body)["messages"])
            with self.lock:
                now = time.monotonic()
                while self.log and self.log[0][0] <= now - 1.0:
                    self.log.popleft()
                if sum(n for _, n in self.log) + count > self.cap:
                    self.refused += 1
                    start_response("429 Too Many Requests", [("Retry-After", "1")])
                    return [b'{"error":"Too many requests"}']
                self.log.append((now, count))
        return self.inner(environ, start_response)


@pytest.fixture
def capped(sim, app):
    server = sim._server
    wrapper = CappedProvider(server.app, cap=30)
    server.app = wrapper
    app.config.update(RATE_LIMIT_TRAFFIC_ACCOUNT_MAX=100)  # the app's default: above the cap
    yield wrapper
    server.app = wrapper.inner


def _work(campaign_id: int, batch_size: int = 200, limit: float = 60.0):
    """What a Huey worker does: run the batch, come back after `retry_in`."""
    attempt, deadline = 0, time.monotonic() + limit
    while time.monotonic() < deadline:
        outcome = batches.process(campaign_id, batch_size, attempt)
        if outcome.finished:
            return
        if outcome.retry_in is not None:
            time.sleep(outcome.retry_in)
            attempt = outcome.next_attempt
    raise AssertionError("the campaign did not finish")


def test_campaign_finishes_close_to_a_30_per_second_provider_cap(
    capped, funded, subscribers, db, read, client
):
    phones = subscribers(150)
    campaign = started(db, funded)
    # Without adaptation every 100-message chunk gets 429, forever.
    _work(campaign.id)
    assert read.campaign(campaign.id).status == "completed"
    assert Counter(m.status for m in read.messages(campaign.id)) == Counter({"accepted": 150})
    assert capped.sim.sends_per_phone() == Counter({p: 1 for p in phones})
    accepted = sorted(r["received_at"] for r in capped.sim.accepted)
    elapsed = (accepted[-1] - accepted[0]).total_seconds()
    assert capped.refused >= 1  # it was throttled, and adapted
    print(f"{150 / elapsed:.1f} msg/s against a 30 msg/s cap")
    assert 150 / elapsed >= 18, f"{150 / elapsed:.1f} msg/s against a 30 msg/s cap"
    assert throttle.rate(ACCOUNT, 100) <= 40  # learnt the cap, did not jump back to 100


def test_429_shrinks_the_rate_and_success_grows_it_back(app, monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(throttle, "clock", lambda: now[0])
    throttle.reset(ACCOUNT)
    assert throttle.rate(ACCOUNT, 100) == 100
    throttle.throttled(ACCOUNT, sent=100, ceiling=100, retry_after=None)
    assert throttle.rate(ACCOUNT, 100) == 50 and throttle.is_throttling(ACCOUNT)
    assert throttle.wait_seconds(ACCOUNT) == 1.0  # no Retry-After: a second
    for _ in range(3):
        throttle.succeeded(ACCOUNT, 100)
    assert throttle.rate(ACCOUNT, 100) == 66  # 50, 55, 60.5, 66.55
    throttle.throttled(ACCOUNT, sent=66, ceiling=100, retry_after=5)  # in flight: no halving
    assert throttle.rate(ACCOUNT, 100) == 66 and throttle.wait_seconds(ACCOUNT) == 5
    now[0] += 5  # the wait is over: a 429 now is about our rate
    throttle.throttled(ACCOUNT, sent=66, ceiling=100, retry_after=2.5)
    assert throttle.rate(ACCOUNT, 100) == 60  # back to the last rate that went through
    assert throttle.wait_seconds(ACCOUNT) == 2.5
    for _ in range(20):
        throttle.succeeded(ACCOUNT, 100)
    assert throttle.rate(ACCOUNT, 100) == 65  # grows, but stays under the rate that failed
    now[0] += throttle.PROBE_AFTER + throttle.SHOWN_FOR
    assert not throttle.is_throttling(ACCOUNT)
    for _ in range(20):
        throttle.succeeded(ACCOUNT, 100)
    assert throttle.rate(ACCOUNT, 100) == 100  # quiet for long enough: full speed again


def test_retry_after_is_honoured_exactly_and_by_every_chunk(sim, funded, subscribers, db, read):
    subscribers(20)
    sim.update_config({"throttle_burst": 1, "retry_after_s": 3})
    campaign = started(db, funded)
    outcome = batches.process(campaign.id, 200, attempt=6)
    assert outcome.retry_in == pytest.approx(3.0)  # not 2**6 s of backoff
    assert Counter(m.status for m in read.messages(campaign.id)) == Counter({"queued": 20})
    # Another batch within those 3 seconds waits too, sending nothing.
    again = batches.process(campaign.id, 200)
    assert 0 < again.retry_in <= 3.0
    assert sim.accepted == []


def test_backoff_attempt_resets_after_a_success(sim, funded, subscribers, db, app, monkeypatch):
    subscribers(20)
    app.config.update(RATE_LIMIT_TRAFFIC_ACCOUNT_MAX=10)  # chunks of 10
    campaign = started(db, funded)
    real, calls = MittoClient.send_bulk, []

    def first_then_outage(self, prepared):
        calls.append(1)
        if len(calls) > 1:
            raise MittoRetryableError("HTTP 503", status=503)
        return real(self, prepared)

    monkeypatch.setattr(MittoClient, "send_bulk", first_then_outage)
    outcome = batches.process(campaign.id, 200, attempt=7)
    assert outcome.sent_chunks == 1
    assert outcome.next_attempt == 1  # was 8: the backoff kept growing after successes
    assert outcome.retry_in <= 2.0  # backoff(0), not backoff(7) (about a minute or more)

    scheduled = []
    monkeypatch.setattr(
        campaign_tasks.batches,
        "process",
        lambda *a: batches.BatchOutcome(retry_in=1.0, next_attempt=0),
    )
    monkeypatch.setattr(
        campaign_tasks.send_batch, "schedule", lambda args, delay: scheduled.append(args)
    )
    campaign_tasks.send_batch.call_local(campaign.id, 5)
    assert scheduled == [(campaign.id, 0)]


def test_campaign_page_says_the_provider_is_throttling(client, db, funded, subscribers, sim):
    subscribers(3)
    campaign = started(db, funded)
    page = text(client.get(f"/campaigns/{campaign.id}/progress", headers=hx(funded)))
    assert "provider-throttling" not in page
    throttle.throttled(ACCOUNT, sent=3, ceiling=100, retry_after=1.0)
    page = text(client.get(f"/campaigns/{campaign.id}/progress", headers=hx(funded)))
    assert 'id="provider-throttling"' in page and "provider is throttling" in page


def test_send_now_shows_starting_not_scheduled(client, db, funded, subscribers, sim, monkeypatch):
    from astronote.views import campaigns as campaign_views

    subscribers(2)
    monkeypatch.setattr(campaign_views, "enqueue_safely", lambda *a: None)  # worker not there yet
    campaign_id = create(client, funded)
    client.post(f"/campaigns/{campaign_id}/send", data={"confirm": "yes"}, headers=hx(funded))
    page = text(client.get(f"/campaigns/{campaign_id}", headers=hx(funded)))
    assert '<span class="badge badge-attention" id="campaign-status">Starting</span>' in page
    assert ">Scheduled</span>" not in page
    listing = text(client.get("/campaigns", headers=hx(funded)))
    assert ">Starting</span>" in listing and ">Scheduled</span>" not in listing
    campaign = db.session.get(campaigns.Campaign, campaign_id)
    assert campaigns.is_starting(campaign)
