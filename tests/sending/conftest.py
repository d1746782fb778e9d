"""Sending fixtures: the Mitto simulator on loopback, a funded shop, subscribed contacts."""

from datetime import time

import pytest
from sqlalchemy import select

from astronote.devtools.mitto_sim import MittoSimulator, SimConfig
from astronote.models import Campaign, Message
from astronote.services import credits
from astronote.services.contacts.csv_rows import ContactRecord
from astronote.services.contacts.upsert import write_batch
from astronote.services.sending import throttle


@pytest.fixture(scope="session")
def mitto_sim():
    sim = MittoSimulator(SimConfig(dlr_url=None, dlr_delivered=0, dlr_failed=0, dlr_expired=0))
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
def sim(app, mitto_sim):
    """A clean simulator wired into the test app, with unthrottled limits."""
    mitto_sim.reset()
    throttle.reset(app.config["MITTO_TRAFFIC_ACCOUNT_ID"])  # the queue's store outlives a test
    mitto_sim.update_config(
        {
            "error_5xx_rate": 0,
            "timeout_rate": 0,
            "throttle_burst": 0,
            "reject_rate": 0,
            "latency_ms": 0,
        }
    )
    app.config.update(
        MITTO_API_BASE=mitto_sim.base_url,
        MITTO_READ_TIMEOUT=2.0,
        RATE_LIMIT_TRAFFIC_ACCOUNT_MAX=100_000,
        RATE_LIMIT_TENANT_MAX=100_000,
        RATE_LIMIT_GLOBAL_MAX=100_000,
        SMS_BATCH_SIZE=200,
    )
    return mitto_sim


@pytest.fixture
def funded(shop, db):
    """A shop with credits whose rules never get in the way of a test about something else:
    quiet hours open all day (start == end) and no frequency cap. Tests of those rules
    set them explicitly."""
    credits.grant(shop.id, 1_000_000, "test-grant", "test credits")
    shop.quiet_start = shop.quiet_end = time(0, 0)
    shop.frequency_cap_hours = 0
    shop.sender_id = "+14155550100"  # US carriers refuse alphanumeric senders
    db.session.commit()
    return shop


@pytest.fixture
def subscribers(funded, db):
    """Create n subscribed contacts (set-based) and return their phones."""

    def make(n: int, start: int = 1000, consent: str = "subscribed", shop=None) -> list[str]:
        target = shop or funded
        records = [
            ContactRecord(
                line=i, phone=f"+1415555{start + i:04d}", first_name=f"Ann{i % 7}", consent=consent
            )
            for i in range(n)
        ]
        write_batch(target.id, 0, {"first_name", "consent"}, records, evidence="test")
        db.session.commit()
        return [r.phone for r in records]

    return make


@pytest.fixture
def read(db):
    class Read:
        @staticmethod
        def messages(campaign_id):
            db.session.expire_all()
            query = select(Message).filter_by(campaign_id=campaign_id).order_by(Message.id)
            return list(db.session.execute(query).scalars())

        @staticmethod
        def campaign(campaign_id):
            db.session.expire_all()
            return db.session.get(Campaign, campaign_id)

    return Read
