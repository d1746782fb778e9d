"""Automation fixtures: a funded shop with flows switched on, signed Shopify deliveries,
the Mitto simulator, and a clock the dispatcher can be run at."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
from sqlalchemy import select, update

from astronote.models import Automation, AutomationRun, Contact, Message
from astronote.services.automations import settings
from astronote.services.messaging import public_limits
from astronote.tasks import automations as automation_tasks
from tests.conftest import TEST_API_SECRET
from tests.fakes.shopify_webhooks import Shopify
from tests.sending.conftest import funded, mitto_sim, sim  # noqa: F401

# A Tuesday afternoon in New York (the shop's zone): inside every quiet-hours window.
NOON = datetime(2026, 12, 8, 17, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _redis_with_postgres(request):
    """PostgreSQL runs go with Redis (rate limits, throttle, public limits), as deployed;
    SQLite runs with the embedded fallbacks. Each test starts from empty limits. (Only
    for tests on the in-process app: the cluster test brings its own processes.)"""
    automation_tasks._enqueued.clear()  # the sweeper's memory: ids start again per test
    if "app" not in request.fixturenames:
        return
    app = request.getfixturevalue("app")
    if request.getfixturevalue("database_url").startswith("postgresql"):
        redis = request.getfixturevalue("redis_server")
        redis.client().flushall()
        app.config["REDIS_URL"] = redis.url
    public_limits.reset()


@pytest.fixture
def flows(funded, db):  # noqa: F811
    """Switch flows on (and tune them) for the funded shop."""

    def switch(*keys: str, **changes) -> None:
        settings.ensure(funded.id)
        db.session.execute(
            update(Automation)
            .where(Automation.shop_id == funded.id, Automation.flow.in_(keys))
            .values(enabled=True, **changes)
        )
        db.session.commit()

    return switch


@pytest.fixture
def shopify(client, funded):  # noqa: F811
    return Shopify(client, TEST_API_SECRET, funded.shop_domain)


@pytest.fixture
def person(funded, db):  # noqa: F811
    """A contact of the funded shop (a Shopify customer)."""

    def make(phone="+12125550123", consent="subscribed", customer_id=None, **fields) -> Contact:
        contact = Contact(
            shop_id=funded.id,
            phone=phone,
            first_name=fields.pop("first_name", "Ann"),
            consent_state=consent,
            shopify_customer_id=customer_id,
            **fields,
        )
        db.session.add(contact)
        db.session.commit()
        return contact

    return make


@pytest.fixture
def quiet(funded, db):  # noqa: F811
    """The shop's real quiet hours: 08:00-21:00 in the recipient's zone."""
    funded.quiet_start, funded.quiet_end = time(8, 0), time(21, 0)
    db.session.commit()
    return funded


@pytest.fixture
def asleep(monkeypatch):
    """No wake-up after a trigger's commit: runs wait for the every-minute dispatcher, as
    when the worker is busy or down."""
    from astronote.services.automations import waking

    monkeypatch.setattr(waking, "wake", lambda shop_ids: None)


class Read:
    def __init__(self, db):
        self.db = db

    def runs(self, flow=None) -> list[AutomationRun]:
        self.db.session.expire_all()
        query = select(AutomationRun).order_by(AutomationRun.id)
        if flow:
            query = query.filter_by(flow=flow)
        return list(self.db.session.execute(query).scalars())

    def message(self, message_id) -> Message:
        self.db.session.expire_all()
        return self.db.session.get(Message, message_id)

    def messages(self) -> list[Message]:
        self.db.session.expire_all()
        return list(self.db.session.execute(select(Message).order_by(Message.id)).scalars())


@pytest.fixture
def read(db):
    return Read(db)


def texts_to(sim, phone) -> list[str]:  # noqa: F811
    return [m["text"] for m in sim.accepted if m["destination"] == phone]


def tick(at) -> None:
    """A minute of the worker at `at`: the dispatcher, then the one-off sweeper."""
    import time_machine

    from astronote.tasks.automations import dispatch_due_runs, sweep_waiting_messages

    with time_machine.travel(at, tick=False):
        dispatch_due_runs()
        sweep_waiting_messages()


def opt_out(db, contact_id: int) -> None:
    """The contact unsubscribes (as a STOP would), between a trigger and its send."""
    db.session.execute(
        update(Contact).where(Contact.id == contact_id).values(consent_state="unsubscribed")
    )
    db.session.commit()


def race(app, workers: int, body) -> list:
    """Run `body()` in `workers` threads at once, each with its own app context and
    session (as separate worker processes would); returns their results, raises theirs."""
    import threading

    from astronote.extensions import db

    barrier, results, errors = threading.Barrier(workers), [], []

    def run():
        with app.app_context():
            try:
                barrier.wait()
                results.append(body())
            except Exception as exc:  # pragma: no cover - re-raised below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results
