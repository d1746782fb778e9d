"""The real thing: gunicorn + two huey_consumer processes on PostgreSQL and Redis. Signed
orders/create webhooks, each delivered more than once, wake racing dispatchers in two
processes; every order gets exactly one confirmation in the simulator."""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import time as dt_time

import requests
from sqlalchemy import func, select, update

from astronote.config import DEV_SECRET
from tests.fakes import shopify_webhooks as payloads
from tests.fakes.shopify_server import signed_webhook
from tests.reliability.conftest import (  # noqa: F401  (fixtures)
    make_cluster,
    rel_database_url,
    rel_postgres,
    rel_redis,
)

SHOP = "cluster.myshopify.com"
ORDERS = 120


def _seed(app) -> int:
    from astronote.extensions import db
    from astronote.models import Automation, Contact, Shop
    from astronote.services import credits
    from astronote.services.automations import settings

    with app.app_context():
        shop = Shop(
            shop_domain=SHOP,
            name="Cluster",
            sender_id="+14155550100",
            quiet_start=dt_time(0, 0),
            quiet_end=dt_time(0, 0),
            frequency_cap_hours=0,
        )
        db.session.add(shop)
        db.session.flush()
        credits.grant(shop.id, 10_000, "grant", "cluster test")
        settings.ensure(shop.id)
        db.session.execute(
            update(Automation)
            .filter_by(shop_id=shop.id, flow="order_confirmation")
            .values(enabled=True)
        )
        db.session.add_all(
            Contact(
                shop_id=shop.id,
                phone=f"+1212555{5000 + i:04d}",
                consent_state="subscribed",
                shopify_customer_id=1000 + i,
            )
            for i in range(ORDERS)
        )
        db.session.commit()
        return shop.id


def test_orders_confirmed_exactly_once_by_racing_worker_processes(make_cluster, monkeypatch):  # noqa: F811
    from tests.reliability.cluster import Cluster

    ready = Cluster._wait_ready  # a loaded CI machine may take longer than 30 s to boot it
    monkeypatch.setattr(Cluster, "_wait_ready", lambda self, timeout=0: ready(self, 180.0))
    harness = make_cluster(workers=2, threads=4, reports=False)
    _seed(harness.app)
    url = harness.cluster.url + "/webhooks/shopify"

    def deliver(i: int) -> list[int]:
        phone = f"+1212555{5000 + i:04d}"
        payload = payloads.order(80_000 + i, phone, 1000 + i, number=2000 + i, shop=SHOP)
        body, headers = signed_webhook(DEV_SECRET, "orders/create", SHOP, payload)
        again, new_headers = signed_webhook(DEV_SECRET, "orders/create", SHOP, body)
        codes = []
        for b, h in ((body, headers), (body, headers), (again, new_headers)):  # retry, re-emit
            codes.append(requests.post(url, data=b, headers=h, timeout=30).status_code)
        return codes

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = [c for result in pool.map(deliver, range(ORDERS)) for c in result]
    assert set(codes) == {200}
    deadline = time.monotonic() + 90
    while len(harness.sim.accepted) < ORDERS and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(2)  # anything extra would arrive now
    per_phone = Counter(m["destination"] for m in harness.sim.accepted)
    assert len(per_phone) == ORDERS, harness.cluster.logs()
    assert set(per_phone.values()) == {1}
    rows = harness.query("SELECT status, count(*) FROM automation_runs GROUP BY status")
    assert [tuple(r) for r in rows] == [("queued", ORDERS)]
    from astronote.extensions import db
    from astronote.models import Message

    with harness.app.app_context():
        sent = db.session.execute(
            select(func.count()).select_from(Message).filter_by(status="accepted")
        ).scalar_one()
    assert sent == ORDERS
