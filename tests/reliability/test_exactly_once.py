"""Acceptance tests of the sending core: 0 duplicates and 0 lost, with real processes.

Every scenario runs the real app (gunicorn + huey_consumer processes) on PostgreSQL
and a RedisHuey queue, against the Mitto simulator, and ends with `Harness.verify`:

* the campaign is completed and its credits settled; no row is queued/claimed/submitting;
* 0 duplicates: the simulator accepted every phone (and every row reference) at most once;
* 0 lost: a row the simulator accepted is accepted/delivered/failed/unknown with the
  simulator's id and exactly the text it received; a row it never accepted is failed
  or unknown with an error, or skipped with a reason;
* counts match the simulator: the rows carrying a provider id are exactly the
  simulator's acceptances (minus `unknown` rows whose answer was lost);
* credits: consumed == the segments of every row the provider took or may have taken
  (`unknown`), reserved back to 0, ledger == balance.

Delivery reports: on (the simulator reports every message: 80% delivered, 10% failed,
10% expired) except in the provider-faults scenario, where they are off so the
`unknown` rows stay visibly unknown. With reports on, `accepted` is not a resting
state: every message must end in the final state the simulator chose for it.

The periodic `reconcile_sending` runs every minute with a 10-minute stale limit; the
tests play it with compressed limits (see `Harness.drive`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import requests
from sqlalchemy import text

from tests.conftest import make_app
from tests.reliability.conftest import REDIS_DB, WEBHOOK_SECRET, Harness, _empty_tables


def _report(name: str, verdict, **extra) -> None:
    """One line per scenario (shown with -s): what happened, for the record."""
    details = " ".join(f"{k}={v}" for k, v in extra.items())
    print(
        f"\n[{name}] {dict(verdict.counts)} sim_accepted={verdict.sim_accepted} "
        f"unknown(in sim/not)={verdict.unknown_in_sim}/{verdict.unknown_not_in_sim} "
        f"consumed={verdict.consumed} {details}"
    )


def _explain(verdict) -> str:
    return (
        f"counts={dict(verdict.counts)} sim_accepted={verdict.sim_accepted} "
        f"unknown(in sim/not)={verdict.unknown_in_sim}/{verdict.unknown_not_in_sim}\n  "
        + "\n  ".join(verdict.problems)
    )


@pytest.mark.parametrize("reports", [False, True], ids=["without-dlr", "with-dlr"])
def test_worker_killed_mid_batch(make_cluster, reports):
    """kill -9 of a consumer with batches in flight; a fresh consumer takes over."""
    h = make_cluster(workers=2, threads=4, batch_size=200, latency_ms=1000, reports=reports)
    seeded = h.launch(2000)
    cid = seeded.campaign_id
    # >= 5 batches in flight at once, each consumer runs at most 4: both hold some.
    h.wait_for(lambda: h.counts(cid).get("submitting", 0) >= 1000, 20, "5 batches in flight")
    in_flight = {
        row.id
        for row in h.query(
            "SELECT id FROM messages WHERE campaign_id = :c AND status = 'submitting'", c=cid
        )
    }
    h.cluster.kill_worker("worker2")
    h.cluster.start_worker(threads=4)

    repairs = h.drive(cid, timeout=60)
    if reports:
        h.wait_for_reports(cid)
    verdict = h.verify(seeded, reports=reports)

    # The kill really orphaned rows: sent (or not), and no worker ever recorded the answer.
    rows = h.messages(cid)
    orphans = [r for r in rows if r.id in in_flight and r.sent_at is None]
    _report("kill-9", verdict, orphans=len(orphans), repairs=repairs)
    assert orphans, "the killed worker held no batch in flight: the scenario proved nothing"
    assert repairs, "nothing had to be repaired after the kill"
    assert not verdict.problems, _explain(verdict) + f"\n  orphans: {len(orphans)}"
    if not reports:
        # In flight at the kill, answer lost with the worker: unknown, never resent. Whether
        # the simulator had taken each request depends on where the kill landed in its
        # 1 s latency, which is exactly why these rows are `unknown` and not retried.
        assert {r.status for r in orphans} == {"unknown"}
        assert verdict.unknown_in_sim <= len(orphans)


def test_provider_5xx_timeouts_and_429_bursts(make_cluster):
    """5% 5xx, 2% timeouts (accepted, then the connection drops), 1% per-message
    rejects and two 429 bursts. Reports are off, so `unknown` stays visible."""
    h = make_cluster(
        workers=2,
        threads=2,
        batch_size=25,
        reports=False,
        latency_ms=10,
        error_5xx_rate=0.05,
        timeout_rate=0.02,
        reject_rate=0.01,
        throttle_burst=4,
        retry_after_s=1,
    )
    # Never pass without the faults: if chance alone gave none by the 10th request,
    # the 10th gets one.
    h.sim.guarantee("error_5xx_rate", 10)
    h.sim.guarantee("timeout_rate", 10)
    seeded = h.launch(2000)
    cid = seeded.campaign_id
    # Mid-send, not a speed check: the 429 bursts slow the adaptive rate on purpose.
    h.wait_for(lambda: h.counts(cid).get("accepted", 0) >= 600, 60, "600 accepted")
    h.sim.update_config({"throttle_burst": 6})  # a second burst mid-send

    repairs = h.drive(cid, timeout=90, stall=10)  # stall > the longest retry backoff here
    verdict = h.verify(seeded, reports=False)

    faults = h.sim.faults
    _report("faults", verdict, faults=dict(faults), repairs=repairs)
    assert faults["error_5xx_rate"] >= 1 and faults["timeout_rate"] >= 1, faults
    assert faults["429"] == 10 and faults["reject_rate"] >= 1, faults
    assert not verdict.problems, _explain(verdict)
    # The rows of each timed-out bulk are unknown; the provider took each of them exactly
    # once (checked by verify), except those it rejected inside that same lost answer.
    assert 0 < verdict.unknown_in_sim + verdict.unknown_not_in_sim <= 25 * faults["timeout_rate"]
    assert verdict.unknown_in_sim > 0, _explain(verdict)
    assert verdict.unknown_not_in_sim <= faults["reject_rate"], _explain(verdict)
    rejected = [r for r in h.messages(cid) if r.status == "failed"]
    assert rejected and all(r.error == "Rejected by simulator" for r in rejected)


def test_redis_restart_during_send(make_cluster):
    """Redis goes away mid-send and comes back empty (no persistence): the queued
    tasks are gone; the sweeper's fan-out finishes the campaign."""
    h = make_cluster(workers=2, threads=2, batch_size=100, latency_ms=300)
    seeded = h.launch(2000)
    cid = seeded.campaign_id
    h.wait_for(lambda: h.counts(cid).get("accepted", 0) >= 300, 30, "300 accepted")
    queue = h.redis_server.client(db=REDIS_DB)
    waiting = queue.llen("huey.redis.astronote")
    queue.close()
    with h.redis_server.outage():
        time.sleep(2.0)

    repairs = h.drive(cid, timeout=90)
    h.wait_for_reports(cid)
    verdict = h.verify(seeded, reports=True)

    errors = h.cluster.log_text("worker").count("Error reading from queue")
    _report("redis", verdict, waiting=waiting, queue_errors=errors, repairs=repairs)
    assert waiting > 0, "no task was waiting in Redis when it went down"
    assert repairs, "the campaign finished without the sweeper: no task was lost?"
    assert not verdict.problems, _explain(verdict)


def _signed_post(url: str, payload) -> requests.Response:
    body = json.dumps(payload).encode()
    signature = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "X-Mitto-Signature": signature}
    return requests.post(url, data=body, headers=headers, timeout=30)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_duplicated_and_out_of_order_reports(make_cluster):
    """Half the reports duplicated, half followed by a stale 'Sent'/'Enroute'; then a
    replay of conflicting older finals and newer in-flight words changes nothing."""
    h = make_cluster(
        workers=2,
        threads=2,
        batch_size=200,
        dlr_duplicate_rate=0.5,
        dlr_out_of_order_rate=0.5,
        dlr_object_rate=0.3,
        dlr_auth="signature",
        dlr_delay_ms=(50, 1500),
    )
    seeded = h.launch(1500)
    cid = seeded.campaign_id
    h.drive(cid, timeout=60)
    h.wait_for_reports(cid)
    verdict = h.verify(seeded, reports=True)
    _report("dlr", verdict, dlr=h.sim.dlr_stats())
    assert not verdict.problems, _explain(verdict)
    assert h.sim.dlr.posted >= 1.6 * verdict.sim_accepted, h.sim.dlr_stats()

    # Sticky: an older conflicting final, a newer in-flight word, an exact duplicate.
    url = h.cluster.url + "/webhooks/mitto/dlr"
    before = [tuple(r) for r in h.messages(cid)]
    replay = []
    for record in h.sim.accepted:
        status = h.sim.lookup(record["message_id"])
        final_at = datetime.fromisoformat(status["updatedAt"].replace("Z", "+00:00"))
        opposite = "Failed" if status["deliveryStatus"] == "Delivered" else "Delivered"
        base = {"messageId": record["message_id"], "reference": record["reference"]}
        replay += [
            {
                **base,
                "deliveryStatus": opposite,
                "updatedAt": _iso(final_at - timedelta(minutes=1)),
            },
            {**base, "deliveryStatus": "Enroute", "updatedAt": _iso(datetime.now(UTC))},
            {**base, "deliveryStatus": status["deliveryStatus"], "updatedAt": status["updatedAt"]},
        ]
    for start in range(0, len(replay), 500):
        response = _signed_post(url, replay[start : start + 500])
        assert response.status_code == 200, response.text
        assert response.json()["applied"] == 0, response.json()
    assert [tuple(r) for r in h.messages(cid)] == before
    unsigned = requests.post(url, json=replay[:1], timeout=10)
    assert unsigned.status_code == 401


def test_two_workers_racing_on_one_campaign(make_cluster):
    """Two consumers (fan-out enqueued twice, so every batch has a rival task) and
    four threads of this process running batches.process on the same campaign."""
    from astronote.extensions import db
    from astronote.services.sending import batches

    h = make_cluster(workers=2, threads=4, batch_size=100, latency_ms=100)
    seeded = h.seed(2000)
    cid = seeded.campaign_id
    gate = threading.Barrier(5)
    chunks: list[int] = []
    errors: list[BaseException] = []

    def racer():
        sent = 0
        with h.app.app_context():
            try:
                gate.wait(timeout=10)
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    outcome = batches.process(cid, 100)
                    sent += outcome.sent_chunks
                    if outcome.finished or not outcome.sent_chunks:
                        break
            except BaseException as exc:
                errors.append(exc)
            finally:
                db.session.remove()
                chunks.append(sent)

    threads = [threading.Thread(target=racer) for _ in range(4)]
    for thread in threads:
        thread.start()
    gate.wait(timeout=10)
    h.cluster.fan_out(cid)
    h.cluster.fan_out(cid)
    for thread in threads:
        thread.join(timeout=90)
    assert not errors, errors

    h.drive(cid, timeout=60)
    h.wait_for_reports(cid)
    verdict = h.verify(seeded, reports=True)
    bulks = h.cluster.log_text("worker").count("mitto bulk")
    _report("race", verdict, in_process_chunks=sum(chunks), cluster_bulks=bulks)
    assert not verdict.problems, _explain(verdict)
    assert sum(chunks) > 0, "this process sent nothing: no race"
    assert bulks > 0, "the consumers sent nothing: no race"


def test_concurrent_takes_never_overlap(rel_database_url):
    """Eight threads taking and fencing chunks of one campaign on PostgreSQL: disjoint,
    complete, and no chunk larger than asked."""
    from astronote.extensions import db
    from astronote.services.sending import chunks as sending

    app = make_app(rel_database_url)
    _empty_tables(app)
    seeded = Harness(app, None, None, None).seed(3000)
    gate = threading.Barrier(8)
    claims: list[tuple[str, list[int]]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def claimer():
        with app.app_context():
            try:
                gate.wait(timeout=10)
                while True:
                    rows = sending.take(seeded.campaign_id, 37)
                    if not rows:
                        return
                    token = uuid.uuid4().hex
                    fenced = sending.fence(token, {r.id: ("text", 1, 1) for r in rows})
                    assert fenced == {r.id for r in rows}  # locked: nobody else moved them
                    with lock:
                        claims.append((token, [r.id for r in rows]))
            except BaseException as exc:
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=claimer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    claimed = [i for _, ids in claims for i in ids]
    assert len(claimed) == len(set(claimed)) == 3000
    assert max(len(ids) for _, ids in claims) <= 37
    assert len(claims) >= 3000 // 37
    assert len({token for token, _ in claims}) == len(claims)
    rows = Harness(app, None, None, None).query(
        "SELECT claim_token, count(*) FROM messages WHERE campaign_id = :c "
        "AND status = 'submitting' GROUP BY claim_token",
        c=seeded.campaign_id,
    )
    assert dict(rows) == {token: len(ids) for token, ids in claims}
    with app.app_context():
        db.engine.dispose()


def test_take_respects_its_limit_on_a_fresh_snapshot(rel_database_url):
    """`take(campaign, n)` right after `campaigns.start`, as `send_batch` does it.

    Production's normal state: the planner statistics of `messages` were gathered
    before the campaign started (earlier campaigns, all delivered), so they know
    nothing of the rows the snapshot just inserted. A take must still lock at most
    `n` rows: one chunk.
    """
    from astronote.extensions import db
    from astronote.models import Campaign, Shop
    from astronote.services.campaigns import lifecycle as campaigns
    from astronote.services.campaigns.audience import Audience
    from astronote.services.sending import chunks as sending
    from tests.reliability.conftest import BODY

    app = make_app(rel_database_url)
    _empty_tables(app)
    harness = Harness(app, None, None, None)
    earlier = harness.seed(3000)
    with app.app_context():
        db.session.execute(text("UPDATE messages SET status = 'delivered'"))
        db.session.commit()
        db.session.execute(text("ANALYZE messages"))  # statistics of the history
        db.session.commit()
        shop = db.session.get(Shop, earlier.shop_id)
        shop.frequency_cap_hours = 0
        campaign = Campaign(shop_id=shop.id, name="Next", body=BODY, audience=Audience().to_json())
        db.session.add(campaign)
        db.session.commit()
        assert campaigns.start(shop, campaign) == 3000
        db.session.commit()
        started = time.monotonic()
        rows = sending.take(campaign.id, 37)
        elapsed = time.monotonic() - started
        db.session.rollback()
        db.session.remove()
        db.engine.dispose()
    assert len(rows) == 37, (
        f"one take of 37 locked {len(rows)} rows in {elapsed:.2f}s: PostgreSQL rescans the "
        "LIMIT ... FOR UPDATE SKIP LOCKED subquery of the nested-loop semi-join once per "
        "outer row, and skips the rows this UPDATE already changed, so the window slides "
        "over the whole campaign"
    )
