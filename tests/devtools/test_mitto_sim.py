"""The real Mitto simulator on a free port, driven by the real MittoClient."""

import hashlib
import hmac
import json
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import requests
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

# Runs with --noconftest: make the repository root importable on its own.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from astronote.devtools.mitto_sim import MittoSimulator, SimConfig  # noqa: E402
from astronote.devtools.mitto_sim_config import config_from_args  # noqa: E402
from astronote.integrations.mitto.client import (  # noqa: E402
    MittoAuthError,
    MittoClient,
    MittoRetryableError,
    MittoUnknownOutcomeError,
    OutboundSms,
    parse_delivery_reports,
)

KEY = SimConfig().api_key


def wait_for(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


class Receiver:
    """A tiny DLR webhook: records every request; the first `fail_first` get a 500."""

    def __init__(self, fail_first: int = 0):
        self.hits: list[dict] = []
        self.fail_first = fail_first
        self._lock = threading.Lock()
        self.server = make_server("127.0.0.1", 0, self, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.port}/webhooks/mitto/dlr"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __call__(self, environ, start_response):
        request = Request(environ)
        with self._lock:
            failing = self.fail_first > 0
            self.fail_first -= 1
            if not failing:
                self.hits.append(
                    {
                        "body": request.get_data(),
                        "args": request.args.to_dict(),
                        "headers": dict(request.headers),
                    }
                )
        return Response("", status=500 if failing else 202)(environ, start_response)

    def reports(self):
        with self._lock:
            return [r for hit in self.hits for r in parse_delivery_reports(json.loads(hit["body"]))]


@pytest.fixture
def start_sim():
    started = []

    def start(**settings) -> MittoSimulator:
        sim = MittoSimulator(SimConfig(port=0, **settings)).start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()


@pytest.fixture
def receiver():
    made = []

    def make(**kwargs) -> Receiver:
        rec = Receiver(**kwargs)
        rec.thread.start()
        made.append(rec)
        return rec

    yield make
    for rec in made:
        rec.server.shutdown()
        rec.server.server_close()


def client_for(sim: MittoSimulator, key: str = KEY, read_timeout: float = 5.0) -> MittoClient:
    return MittoClient(sim.base_url, key, "sim-account", read_timeout=read_timeout)


def batch(count: int, prefix: str = "r") -> list[OutboundSms]:
    return [
        OutboundSms(f"{prefix}{n}", f"+30690{n:07d}", f"Hello {n}", "Shop") for n in range(count)
    ]


def test_bulk_of_100_is_accepted_and_logged(start_sim):
    sim = start_sim()
    result = client_for(sim).send_bulk(batch(100))
    assert len(result.accepted) == 100
    log = {record["reference"]: record for record in sim.accepted}
    assert len(log) == 100 and all(r["bulk_id"] == result.bulk_id for r in log.values())
    assert all(log[r.reference]["message_id"] == r.message_id for r in result.results)
    assert set(sim.sends_per_phone().values()) == {1}
    served = requests.get(sim.base_url + "/_sim/log", timeout=5).json()
    assert len(served["accepted"]) == 100


def test_shuffled_results_map_back_by_reference(start_sim):
    sim = start_sim(shuffle_results=True, reject_rate=0.3, seed=7)
    result = client_for(sim).send_bulk(batch(40))
    log = {record["reference"]: record["message_id"] for record in sim.accepted}
    assert 0 < len(result.rejected) < 40
    assert {r.reference: r.message_id for r in result.accepted} == log


def test_same_seed_replays_the_same_faults(start_sim):
    outcomes = []
    for _ in range(2):
        sim = start_sim(reject_rate=0.5, seed=3)
        outcomes.append([r.accepted for r in client_for(sim).send_bulk(batch(30)).results])
    assert outcomes[0] == outcomes[1] and 0 < sum(outcomes[0]) < 30


@pytest.mark.parametrize("shape", ["nested", "flat"])
def test_single_send_shapes_and_status_lookup(start_sim, shape):
    sim = start_sim(single_shape=shape)
    client = client_for(sim)
    sent = client.send("+306900000001", "Hi", "Shop", reference="one")
    assert sent.accepted and sent.status == "Queued"
    status = client.get_status(sent.message_id)
    assert (status["messageId"], status["reference"]) == (sent.message_id, "one")


def test_wrong_api_key_is_401(start_sim):
    with pytest.raises(MittoAuthError):
        client_for(start_sim(), key="wrong").send_bulk(batch(1))


def test_throttle_burst_then_success(start_sim):
    sim = start_sim(throttle_burst=2, retry_after_s=3)
    client = client_for(sim)
    for _ in range(2):
        with pytest.raises(MittoRetryableError) as info:
            client.send_bulk(batch(1))
        assert (info.value.status, info.value.retry_after) == (429, 3.0)
    assert client.send_bulk(batch(1)).results[0].accepted
    # Re-armed at runtime through the admin endpoint.
    requests.post(sim.base_url + "/_sim/config", json={"throttle_burst": 1}, timeout=5)
    with pytest.raises(MittoRetryableError):
        client.send_bulk(batch(1))


def test_5xx_accepts_nothing(start_sim):
    sim = start_sim(error_5xx_rate=1.0)
    with pytest.raises(MittoRetryableError) as info:
        client_for(sim).send_bulk(batch(3))
    assert info.value.status == 503 and sim.accepted == []
    sim.update_config({"error_5xx_rate": 0})
    assert len(client_for(sim).send_bulk(batch(3)).accepted) == 3


@pytest.mark.parametrize(("mode", "read_timeout"), [("sleep", 0.3), ("drop", 5.0)])
def test_timeout_is_unknown_outcome_but_message_was_accepted(start_sim, mode, read_timeout):
    sim = start_sim(timeout_rate=1.0, timeout_mode=mode, timeout_sleep_s=3)
    started = time.monotonic()
    with pytest.raises(MittoUnknownOutcomeError):
        client_for(sim, read_timeout=read_timeout).send_bulk(batch(2))
    assert time.monotonic() - started < 2
    assert [r["reference"] for r in sim.accepted] == ["r0", "r1"]


def test_dlr_callbacks_with_duplicates_stale_reports_and_signature(start_sim, receiver):
    rec = receiver()
    sim = start_sim(
        dlr_url=rec.url,
        dlr_secret="s3cret",
        dlr_auth="both",
        dlr_delay_ms=(0, 30),
        dlr_delivered=0.6,
        dlr_failed=0.2,
        dlr_expired=0.2,
        dlr_duplicate_rate=0.5,
        dlr_out_of_order_rate=0.5,
        dlr_object_rate=0.3,
        seed=11,
    )
    result = client_for(sim).send_bulk(batch(20))
    assert wait_for(lambda: sim.dlr.pending() == 0 and sim.dlr.posted == len(rec.reports()))
    for hit in rec.hits:
        expected = hmac.new(b"s3cret", hit["body"], hashlib.sha256).hexdigest()
        assert hit["headers"]["X-Mitto-Signature"] == expected
        assert hit["args"] == {"token": "s3cret"}
    shapes = {type(json.loads(hit["body"])) for hit in rec.hits}
    assert shapes == {list, dict}
    reports = rec.reports()
    finals = [r for r in reports if r.is_final]
    assert {r.message_id for r in finals} == {r.message_id for r in result.results}
    assert max(Counter(r.message_id for r in finals).values()) == 2  # duplicates arrived
    assert {r.raw_status for r in finals} == {"Delivered", "Failed", "Expired"}
    stale = [i for i, r in enumerate(reports) if not r.is_final]
    assert stale and all(
        any(f.message_id == reports[i].message_id and f.is_final for f in reports[:i])
        and reports[i].occurred_at
        < next(
            f.occurred_at for f in reports if f.is_final and f.message_id == reports[i].message_id
        )
        for i in stale
    )
    status = client_for(sim).get_status(result.results[0].message_id)
    assert status["deliveryStatus"] in ("Delivered", "Failed", "Expired")


def test_dlr_post_failures_are_retried_then_dropped(start_sim, receiver):
    rec = receiver(fail_first=1)
    sim = start_sim(
        dlr_url=rec.url, dlr_delay_ms=(0, 0), dlr_delivered=1.0, dlr_failed=0, dlr_expired=0
    )
    client_for(sim).send("+306900000001", "Hi", "Shop")
    assert wait_for(lambda: sim.dlr.posted == 1) and len(rec.reports()) == 1
    sim.update_config({"dlr_url": "http://127.0.0.1:9/nothing", "dlr_max_attempts": 2})
    client_for(sim).send("+306900000002", "Hi", "Shop")
    assert wait_for(lambda: sim.dlr.dropped == 1)
    assert client_for(sim).send("+306900000003", "Hi", "Shop").accepted  # still serving


def test_admin_endpoints(start_sim):
    sim = start_sim()
    url = sim.base_url + "/_sim/config"
    assert requests.post(url, json={"bogus": 1}, timeout=5).status_code == 400
    offsite = {"dlr_url": "http://example.com/x"}
    assert requests.post(url, json=offsite, timeout=5).status_code == 400
    assert requests.post(url, json={"port": 1}, timeout=5).status_code == 400
    shown = requests.post(url, json={"latency_ms": "5", "echo_reference": False}, timeout=5).json()
    assert (shown["latency_ms"], shown["echo_reference"], shown["api_key"]) == (5, False, "***")
    client_for(sim).send_bulk(batch(2))
    assert requests.post(sim.base_url + "/_sim/reset", timeout=5).json() == {"ok": True}
    assert sim.accepted == [] and sim.sends_per_phone() == {}


def test_config_validation_and_cli_flags():
    with pytest.raises(ValueError, match="loopback"):
        SimConfig(host="0.0.0.0")
    with pytest.raises(ValueError, match="must not exceed 1"):
        SimConfig(dlr_delivered=0.8, dlr_failed=0.3)
    cfg = config_from_args(
        [
            "--dlr-url",
            "http://localhost:8000/webhooks/mitto/dlr",
            "--dlr-delay-ms",
            "5,10",
            "--no-echo-reference",
            "--reject-rate",
            "0.25",
        ]
    )
    assert (cfg.port, cfg.dlr_delay_ms, cfg.echo_reference, cfg.reject_rate) == (
        8025,
        (5, 10),
        False,
        0.25,
    )
