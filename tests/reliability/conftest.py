"""Reliability fixtures: PostgreSQL + Redis + the Mitto simulator + the real app processes.

Each test module gets a fresh PostgreSQL database (migrated once); each test gets
empty tables, a flushed Redis database, its own simulator and its own cluster
(gunicorn + huey consumers, see `cluster.py`), all stopped in teardown.

Without PostgreSQL or Redis these tests skip, unless ASTRONOTE_TEST_POSTGRES /
ASTRONOTE_TEST_REDIS is `required` (CI): then they fail.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import time as dt_time
from pathlib import Path

import pytest
from sqlalchemy import text

from astronote.devtools.mitto_sim import MittoSimulator, SimConfig
from tests import servers
from tests.conftest import make_app, required
from tests.reliability.cluster import Cluster, free_port

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
REDIS_DB = 7  # not 0: other tests use the session Redis too
WEBHOOK_SECRET = "reliability-dlr-secret"
# Mixed lengths: the rendered text is 1 or 2 segments depending on the first name.
BODY = (
    "Hi {{first_name}}, our spring sale starts now: 20% off everything in store and online, "
    "today only. Show this text at the till. See you! Cheers x."
)
NAMES = ("Al", "Ann", "Nina", "Oscar", "Beatrice", "Maximiliana")
PENDING = ("queued", "claimed", "submitting")
SIM_FINAL = {"Delivered": "delivered", "Failed": "failed", "Expired": "failed"}


# -- servers -------------------------------------------------------------------------


def _installed_server(request, kind: str, find_binary, fixture: str):
    """The session's server, if its binary is here. Missing: a failure when CI requires
    it (ASTRONOTE_TEST_<KIND>=required), else a skip for a developer without it."""
    try:
        find_binary()
    except RuntimeError as exc:
        if required(kind):
            raise
        pytest.skip(f"{kind} not installed: {exc}")
    return request.getfixturevalue(fixture)


@pytest.fixture(scope="session")
def rel_postgres(request):
    return _installed_server(request, "postgres", servers.postgres_bindir, "postgres_server")


@pytest.fixture(scope="session")
def rel_redis(request):
    return _installed_server(request, "redis", servers.redis_binary, "redis_server")


def pg_url(server, name: str) -> str:
    return f"postgresql+psycopg://postgres@127.0.0.1:{server.port}/{name}"


@pytest.fixture(scope="module")
def rel_database_url(request, rel_postgres):
    """A fresh, migrated PostgreSQL database for this test module."""
    from flask_migrate import upgrade

    module = request.module.__name__.rsplit(".", 1)[-1]
    name = f"rel_{module}_{uuid.uuid4().hex[:8]}"
    rel_postgres.create_database(name)
    url = pg_url(rel_postgres, name)
    app = make_app(url)
    with app.app_context():
        upgrade(directory=str(MIGRATIONS))
        from astronote.extensions import db

        db.engine.dispose()
    return url


def _empty_tables(app) -> None:
    from astronote.extensions import db

    with app.app_context():
        tables = ", ".join(t.name for t in reversed(db.metadata.sorted_tables))
        db.session.execute(text("SET lock_timeout = '10s'"))
        db.session.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        db.session.commit()
        db.session.remove()


# -- the simulator, with a fault tally -----------------------------------------------


class ChaosSim(MittoSimulator):
    """The Mitto simulator, counting every fault it injects.

    `guarantee(kind, nth)`: if no fault of that kind happened naturally in the first
    `nth` checks, the nth check injects one, so a scenario can never pass without
    exercising its faults. Kinds: error_5xx_rate, timeout_rate, reject_rate (the
    rates must differ from each other to be told apart), and 429 (throttle bursts).
    """

    KINDS = ("error_5xx_rate", "timeout_rate", "reject_rate")

    def __init__(self, config: SimConfig):
        super().__init__(config)
        self.faults: Counter = Counter()
        self._checks: Counter = Counter()
        self._guarantees: dict[str, int] = {}
        self._tally = threading.Lock()

    def guarantee(self, kind: str, nth: int) -> None:
        self._guarantees[kind] = nth

    def chance(self, rate: float) -> bool:
        hit = super().chance(rate)
        cfg = self.config
        kind = next((k for k in self.KINDS if rate > 0 and getattr(cfg, k) == rate), None)
        if kind is None:
            return hit
        with self._tally:
            self._checks[kind] += 1
            forced_at = self._guarantees.get(kind)
            if not hit and not self.faults[kind] and forced_at and self._checks[kind] >= forced_at:
                hit = True
            if hit:
                self.faults[kind] += 1
        return hit

    def take_throttle(self) -> bool:
        hit = super().take_throttle()
        if hit:
            with self._tally:
                self.faults["429"] += 1
        return hit


# -- the harness -----------------------------------------------------------------------


@dataclass
class Seeded:
    shop_id: int
    campaign_id: int
    phones: list[str]
    granted: int


@dataclass
class Verdict:
    counts: Counter
    sim_accepted: int
    unknown_in_sim: int
    unknown_not_in_sim: int
    consumed: int
    problems: list[str] = field(default_factory=list)


class Harness:
    """Seeds through the services in this process; sends through the real cluster."""

    def __init__(self, app, sim: ChaosSim, cluster: Cluster, redis_server):
        self.app, self.sim, self.cluster, self.redis_server = app, sim, cluster, redis_server

    # -- seeding -------------------------------------------------------------------
    def seed(
        self, recipients: int, *, unsubscribed: int = 0, grant: int = 1_000_000, analyze=False
    ) -> Seeded:
        """A shop with credits, `recipients` subscribed contacts (+ some unsubscribed) and
        a started campaign (snapshot + reservation committed), not yet fanned out.

        Quiet hours are off (start == end: "any time"), or the outcome would depend on
        the time of day. `analyze` refreshes the planner statistics after the snapshot.
        With statistics that predate the snapshot (production's normal state right
        after a start), a claim written as one UPDATE of a LIMIT subquery could take
        every queued row of the campaign (test_take_respects_its_limit_on_a_fresh_
        snapshot), and the scenarios would run one giant batch instead of real ones."""
        from astronote.extensions import db
        from astronote.models import Campaign, Shop
        from astronote.services import credits
        from astronote.services.campaigns import lifecycle as campaigns
        from astronote.services.campaigns.audience import Audience
        from astronote.services.contacts.csv_rows import ContactRecord
        from astronote.services.contacts.upsert import write_batch

        tag = uuid.uuid4().hex[:8]
        with self.app.app_context():
            shop = Shop(
                shop_domain=f"rel-{tag}.myshopify.com",
                name="Reliability",
                timezone="UTC",
                sender_id="+14155550100",  # US carriers refuse alphanumeric senders
                quiet_start=dt_time(0, 0),
                quiet_end=dt_time(0, 0),
            )
            db.session.add(shop)
            db.session.commit()
            credits.grant(shop.id, grant, f"grant:{tag}", "reliability suite")
            db.session.commit()
            records = [
                ContactRecord(
                    line=i,
                    phone=f"+1415{2_000_000 + i:07d}",
                    first_name=NAMES[i % len(NAMES)],
                    consent="subscribed" if i < recipients else "unsubscribed",
                )
                for i in range(recipients + unsubscribed)
            ]
            for start in range(0, len(records), 1000):
                chunk = records[start : start + 1000]
                write_batch(shop.id, 0, {"first_name", "consent"}, chunk, evidence="test")
                db.session.commit()
            campaign = Campaign(
                shop_id=shop.id, name=f"Spring {tag}", body=BODY, audience=Audience().to_json()
            )
            db.session.add(campaign)
            db.session.commit()
            assert campaigns.start(shop, campaign) == recipients
            db.session.commit()
            if analyze:
                db.session.execute(text("ANALYZE messages"))
                db.session.commit()
            seeded = Seeded(shop.id, campaign.id, [r.phone for r in records[:recipients]], grant)
            db.session.remove()
        return seeded

    def launch(self, recipients: int, **kwargs) -> Seeded:
        seeded = self.seed(recipients, **kwargs)
        assert self.cluster.fan_out(seeded.campaign_id) > 0
        return seeded

    # -- reading -------------------------------------------------------------------
    def query(self, sql: str, **params) -> list:
        from astronote.extensions import db

        with self.app.app_context():
            rows = db.session.execute(text(sql), params).all()
            db.session.remove()
        return rows

    def counts(self, campaign_id: int) -> Counter:
        rows = self.query(
            "SELECT status, count(*) FROM messages WHERE campaign_id = :c GROUP BY status",
            c=campaign_id,
        )
        return Counter(dict(rows))

    def campaign(self, campaign_id: int):
        return self.query(
            "SELECT status, credits_settled, failure_reason, recipient_count, reserved_credits "
            "FROM campaigns WHERE id = :c",
            c=campaign_id,
        )[0]

    def messages(self, campaign_id: int) -> list:
        return self.query(
            "SELECT id, phone, status, provider_message_id, body, segments, error, skip_reason, "
            "sent_at, attempts FROM messages WHERE campaign_id = :c ORDER BY id",
            c=campaign_id,
        )

    def wait_for(self, predicate, timeout: float, what: str, interval: float = 0.1):
        try:
            return servers.wait_for(predicate, timeout, what, interval)
        except TimeoutError as exc:
            raise AssertionError(f"{exc}\n{self.cluster.logs()}") from None

    # -- driving ---------------------------------------------------------------------
    def drive(self, campaign_id: int, timeout: float, stall: float = 3.0) -> list[dict]:
        """Wait for the campaign to complete, playing the periodic sweeper meanwhile.

        `reconcile_sending` runs every minute with a 10-minute stale-claim and a
        3-minute idle limit; a test cannot wait that long. Whenever the pending rows
        (queued/claimed/submitting) have not moved for `stall` seconds, we run that
        same task body (in the cluster's control process, so fan-out really goes to
        Redis) with both limits set to `stall`. `stall` is kept well above the
        longest simulator call, so no live worker's in-flight row is ever taken as
        stale. Returns the repair reports.
        """
        deadline = time.monotonic() + timeout
        repairs: list[dict] = []
        last, since = None, time.monotonic()
        while True:
            counts = self.counts(campaign_id)
            pending = tuple(counts.get(s, 0) for s in PENDING)
            campaign = self.campaign(campaign_id)
            done = campaign.status in ("completed", "failed", "cancelled")
            if done and campaign.credits_settled and not any(pending):
                return repairs
            now = time.monotonic()
            if now > deadline:
                raise AssertionError(
                    f"campaign {campaign_id} not done after {timeout}s: {campaign.status}, "
                    f"{dict(counts)}, repairs={repairs}\n{self.cluster.logs()}"
                )
            if pending != last:
                last, since = pending, now
            elif now - since >= stall:
                repairs.append(self.cluster.repair(stall, stall))
                since = now
            time.sleep(0.25)

    def wait_for_reports(self, campaign_id: int, timeout: float = 30.0) -> None:
        """Every report planned by the simulator posted, and every sent row final."""

        last_sweep = [time.monotonic()]

        def drained():
            if self.sim.dlr.pending():
                return False
            if not self.counts(campaign_id).get("accepted"):
                return True
            # Play the scheduler's minute sweep: a report that raced the worker's own
            # bookkeeping is held, then applied by the next `reconcile_sending`.
            if time.monotonic() - last_sweep[0] > 2.0:
                self.cluster.repair(3.0, 3.0)
                last_sweep[0] = time.monotonic()
            return False

        self.wait_for(drained, timeout, "delivery reports to drain", interval=0.25)

    # -- the verdict ------------------------------------------------------------------
    def verify(self, seeded: Seeded, *, reports: bool) -> Verdict:
        """0 duplicates, 0 lost, counts equal to the simulator's log, credits that add up.

        With `reports` (the simulator posts DLRs for every message), every message the
        simulator accepted must end in the final state the simulator chose for it.
        Without, `accepted` is a legitimate resting state (awaiting a report).
        """
        from astronote.extensions import db
        from astronote.services import credits

        rows = self.messages(seeded.campaign_id)
        campaign = self.campaign(seeded.campaign_id)
        by_id = {row.id: row for row in rows}
        phones = set(seeded.phones)
        accepted = [r for r in self.sim.accepted if r["destination"] in phones]
        per_phone = Counter(r["destination"] for r in accepted)
        per_reference = Counter(r["reference"] for r in accepted)
        problems: list[str] = []

        def problem(message: str, items: list) -> None:
            if items:
                problems.append(f"{message}: {len(items)}, e.g. {items[:5]}")

        # The campaign closed, nothing left in flight.
        if campaign.status != "completed" or not campaign.credits_settled:
            problems.append(f"campaign ended {campaign.status}, settled={campaign.credits_settled}")
        problem("rows still pending", [(r.id, r.status) for r in rows if r.status in PENDING])
        # Everyone in the audience has exactly one row; nobody else has one.
        if sorted(r.phone for r in rows) != sorted(phones):
            problems.append(f"{len(rows)} rows for {len(phones)} subscribed recipients")
        # 0 duplicates.
        problem("phones sent more than once", [(p, n) for p, n in per_phone.items() if n > 1])
        problem(
            "references sent more than once", [(p, n) for p, n in per_reference.items() if n > 1]
        )
        # Every simulator acceptance belongs to the row it says, with the text it got.
        in_sim: dict[int, dict] = {}
        for record in accepted:
            ref = record["reference"]
            row = by_id.get(int(ref)) if (ref or "").isdigit() else None
            if row is None or row.phone != record["destination"]:
                problems.append(f"accepted message {record['message_id']} maps to no row ({ref})")
                continue
            in_sim[row.id] = record
        problem(
            "rows whose text differs from what the provider got",
            [r.id for r in rows if r.id in in_sim and r.body != in_sim[r.id]["text"]],
        )
        problem(
            "rows whose provider id differs from the provider's",
            [
                (r.id, r.provider_message_id)
                for r in rows
                if r.provider_message_id
                and (r.id not in in_sim or in_sim[r.id]["message_id"] != r.provider_message_id)
            ],
        )
        # 0 lost: a row the provider took is accepted/delivered/failed-by-report/unknown;
        # a row it never took failed (with the reason), was skipped (with one) or is unknown.
        sent_states = {"delivered", "failed", "unknown"} | (set() if reports else {"accepted"})
        problem(
            "accepted by the provider but in a wrong state",
            [(r.id, r.status) for r in rows if r.id in in_sim and r.status not in sent_states],
        )
        problem(
            "never accepted, yet not failed/skipped/unknown with a reason",
            [
                (r.id, r.status, r.error, r.skip_reason)
                for r in rows
                if r.id not in in_sim
                and not (
                    (r.status in ("failed", "unknown") and r.error and not r.provider_message_id)
                    or (r.status == "skipped" and r.skip_reason)
                )
            ],
        )
        if reports:
            expected = {}
            for row_id, record in in_sim.items():
                status = self.sim.lookup(record["message_id"])["deliveryStatus"]
                expected[row_id] = SIM_FINAL.get(status, status)
            problem(
                "final state differs from the provider's report",
                [
                    (r.id, r.status, expected[r.id])
                    for r in rows
                    if r.id in expected and r.status != expected[r.id]
                ],
            )
            if self.sim.dlr.dropped:
                problems.append(f"the app refused {self.sim.dlr.dropped} delivery reports")
        # Credits: pay for what the provider took (or may have), never more, never less.
        maybe_sent = [r for r in rows if r.id in in_sim or r.status == "unknown"]
        charged_for = sum(r.segments for r in maybe_sent)
        with self.app.app_context():
            balance = credits.balance(seeded.shop_id)
            ledger = credits.ledger_totals(seeded.shop_id)
            consumed = credits.consumed_for(seeded.shop_id, seeded.campaign_id)
            db.session.remove()
        if balance.reserved != 0:
            problems.append(f"{balance.reserved} credits still reserved")
        if ledger != balance:
            problems.append(f"ledger sums to {ledger}, balance is {balance}")
        if consumed != charged_for:
            problems.append(
                f"consumed {consumed} credits, but the rows the provider took (or may have "
                f"taken) are {charged_for} segments"
            )
        if balance.available != seeded.granted - consumed:
            problems.append(f"available {balance.available} != {seeded.granted} - {consumed}")
        return Verdict(
            counts=Counter(r.status for r in rows),
            sim_accepted=len(accepted),
            unknown_in_sim=sum(1 for r in rows if r.status == "unknown" and r.id in in_sim),
            unknown_not_in_sim=sum(1 for r in rows if r.status == "unknown" and r.id not in in_sim),
            consumed=consumed,
            problems=problems,
        )


@pytest.fixture
def make_cluster(rel_database_url, rel_redis, tmp_path):
    """Build a simulator + cluster + in-process app; everything stopped at teardown."""
    started: list = []

    def build(
        *,
        workers: int = 2,
        threads: int = 2,
        batch_size: int = 200,
        rate_limit: int = 100_000,
        reports: bool = True,
        **sim_settings,
    ) -> Harness:
        redis_url = f"redis://127.0.0.1:{rel_redis.port}/{REDIS_DB}"
        rel_redis.client(db=REDIS_DB).flushdb()
        web_port = free_port()
        config = {
            "dlr_url": f"http://127.0.0.1:{web_port}/webhooks/mitto/dlr" if reports else None,
            "dlr_secret": WEBHOOK_SECRET,
            "dlr_delivered": 0.8,
            "dlr_failed": 0.1,
            "dlr_expired": 0.1,
            "dlr_delay_ms": (100, 600),
            "timeout_mode": "drop",  # the request is accepted, then the socket drops
            **sim_settings,
        }
        sim = ChaosSim(SimConfig(**config)).start()
        started.append(sim)
        app = make_app(
            rel_database_url,
            MITTO_API_BASE=sim.base_url,
            MITTO_WEBHOOK_SECRET=WEBHOOK_SECRET,
            MITTO_READ_TIMEOUT=5.0,
            REDIS_URL=redis_url,
            SMS_BATCH_SIZE=batch_size,
            RATE_LIMIT_TRAFFIC_ACCOUNT_MAX=rate_limit,
            RATE_LIMIT_TENANT_MAX=rate_limit,
            RATE_LIMIT_GLOBAL_MAX=rate_limit,
        )
        started.append(app)
        _empty_tables(app)
        workdir = tmp_path / f"cluster{len(started)}"
        workdir.mkdir()
        cluster = Cluster(
            workdir,
            database_url=rel_database_url,
            redis_url=redis_url,
            mitto_base=sim.base_url,
            web_port=web_port,
            webhook_secret=WEBHOOK_SECRET,
            batch_size=batch_size,
            rate_limit=rate_limit,
        )
        started.append(cluster)
        cluster.start(workers=workers, threads=threads)
        return Harness(app, sim, cluster, rel_redis)

    yield build
    for thing in reversed(started):
        if isinstance(thing, Cluster | MittoSimulator):
            thing.stop()
        else:
            from astronote.extensions import db

            with thing.app_context():
                db.session.remove()
                db.engine.dispose()
