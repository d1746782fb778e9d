"""Revenue attribution at 1,000,000 contacts and 1,000,000 messages (PostgreSQL).

    python bench/attribution.py [--contacts 1000000] [--messages 1000000] [--repeat 300]

Loads one shop's contacts (COPY), a million messages over 60 days (campaigns and flow
messages, mostly delivered), a tenth of them clicked (message_clicks) and a campaign
code, then times what one orders/create costs attribution (services/attribution):
`touches.best` for a contact with a click, with only a delivery, and with nothing
(the worst case: every lookup runs and finds nothing), and the full `attribute_order`
(lookups + the insert + the rollup bump) rolled back each time. Prints p50/p95 and the
PostgreSQL plans of the three lookups (EXPLAIN ANALYZE), which must be index scans.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import automations_support as support  # noqa: E402
from bench import common  # noqa: E402
from bench.campaign_support import phone_for  # noqa: E402

SHOP = "bench-attribution.myshopify.com"
CAMPAIGNS, FLOW_SHARE, CLICKED_SHARE = 60, 0.25, 0.1


def load(conninfo: str, shop_id: int, campaign_ids, contacts: int, messages: int, now) -> dict:
    """Campaigns, then COPY messages (campaign and flow) and their clicks."""
    rng = random.Random(7)
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        first_contact = cur.execute(
            "SELECT min(id) FROM contacts WHERE shop_id = %s", (shop_id,)
        ).fetchone()[0]
        flow = cur.execute(
            "SELECT id, flow FROM automations WHERE shop_id = %s LIMIT 1", (shop_id,)
        ).fetchone()
        cols = "shop_id, campaign_id, contact_id, kind, phone, segments, credits, status,"
        cols += " attempts, sent_at, delivered_at, created_at"
        with cur.copy(f"COPY messages ({cols}) FROM STDIN") as copy:
            for i in range(messages):
                # One message per campaign and contact (its unique key), spread over all.
                k, campaign = divmod(i, CAMPAIGNS)
                index = (k * 7919 + campaign * 104729) % contacts
                sent = now - timedelta(seconds=rng.randrange(60 * 86400))
                flow_message = rng.random() < FLOW_SHARE
                status = "delivered" if rng.random() < 0.95 else "failed"
                copy.write_row((
                    shop_id, None if flow_message else campaign_ids[campaign],
                    first_contact + (rng.randrange(contacts) if flow_message else index),
                    "automation" if flow_message else "campaign",
                    phone_for(index), 1, 1, status, 1, sent,
                    sent + timedelta(seconds=4) if status == "delivered" else None, sent,
                ))  # fmt: skip
        cur.execute(
            "INSERT INTO automation_runs (shop_id, flow, trigger_key, step, contact_id, due_at,"
            " status, message_id, context, created_at)"
            " SELECT shop_id, %s, 'm:' || id, 0, contact_id, sent_at, 'queued', id, '{}', sent_at"
            " FROM messages WHERE shop_id = %s AND campaign_id IS NULL",
            (flow[1], shop_id),
        )
        cur.execute(
            "INSERT INTO message_clicks (message_id, shop_id, contact_id, source_kind, source_id,"
            " clicks, first_clicked_at, last_clicked_at)"
            " SELECT id, shop_id, contact_id, CASE WHEN campaign_id IS NULL THEN 'automation'"
            " ELSE 'campaign' END, coalesce(campaign_id, %s), 1, sent_at + interval '5 minutes',"
            " sent_at + interval '5 minutes' FROM messages WHERE shop_id = %s"
            " AND status = 'delivered' ORDER BY random() LIMIT %s",
            (flow[0], shop_id, int(messages * CLICKED_SHARE)),
        )
        clicked = cur.execute(
            "SELECT contact_id, last_clicked_at FROM message_clicks WHERE shop_id = %s"
            " ORDER BY last_clicked_at DESC LIMIT 500",
            (shop_id,),
        ).fetchall()
        delivered = cur.execute(
            "SELECT m.contact_id, m.sent_at FROM messages m WHERE m.shop_id = %s"
            " AND m.status = 'delivered' AND NOT EXISTS (SELECT 1 FROM message_clicks c"
            " WHERE c.shop_id = m.shop_id AND c.contact_id = m.contact_id)"
            " ORDER BY m.sent_at DESC LIMIT 500",
            (shop_id,),
        ).fetchall()
    support.analyze(conninfo, "contacts", "messages", "message_clicks", "automation_runs")
    return {"clicked": clicked, "delivered": delivered, "first_contact": first_contact}


def make_campaigns(app, shop_id: int) -> list[int]:
    from astronote.extensions import db
    from astronote.models import Campaign

    with app.app_context():
        rows = [
            Campaign(
                shop_id=shop_id,
                name=f"Campaign {i}",
                body="Sale!",
                status="sent",
                discount_code=f"SALE{i}",
            )  # fmt: skip
            for i in range(CAMPAIGNS)
        ]
        db.session.add_all(rows)
        db.session.commit()
        ids = [row.id for row in rows]
        db.session.remove()
    return ids


def plans(conninfo: str, shop_id: int, sample) -> dict[str, str]:
    """EXPLAIN ANALYZE of each lookup, compiled from the service's own statements."""
    from sqlalchemy.dialects import postgresql

    from astronote.services.attribution import touches

    captured: list = []
    real = touches.db.session.execute

    def capture(statement, *args, **kwargs):
        captured.append(statement)
        return real(statement, *args, **kwargs)

    touches.db.session.execute = capture
    try:
        shop, (contact_id, at) = sample["shop"], sample["delivered"][0]
        touches.click(shop, contact_id, at + timedelta(minutes=1))
        touches.delivery(shop, contact_id, at + timedelta(minutes=1))
        touches.shared_code(shop, contact_id, ["SALE3"], at + timedelta(minutes=1))
    finally:
        touches.db.session.execute = real
    out = {}
    with psycopg.connect(conninfo) as conn:
        for name, statement in zip(("click", "delivery", "shared code"), captured, strict=True):
            sql = str(
                statement.compile(
                    dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
                )
            )
            rows = conn.execute(f"EXPLAIN (ANALYZE, COSTS OFF, SUMMARY OFF) {sql}").fetchall()
            out[name] = "\n".join(r[0] for r in rows)
    return out


def run(args) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="astronote-attr-bench-"))
    stack = support.Stack(workdir)
    try:
        stack.start()
        shop_id = support.make_shop(stack.app, SHOP, ("winback",), 1000)
        now = support.utc_now()
        support.copy_contacts(stack.pg.conninfo, shop_id, args.contacts, now)
        campaign_ids = make_campaigns(stack.app, shop_id)
        data = load(stack.pg.conninfo, shop_id, campaign_ids, args.contacts, args.messages, now)
        with stack.app.app_context():
            measure(stack, shop_id, data, args.repeat)
    finally:
        stack.close()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def measure(stack, shop_id: int, data: dict, repeat: int) -> None:
    from astronote.extensions import db
    from astronote.models import Order, Shop
    from astronote.services.attribution import ledger, touches

    shop = db.session.get(Shop, shop_id)
    rng = random.Random(11)
    nobody = [data["first_contact"] + i for i in range(0, 10**9, 7919)][:500]

    def lookups(pool, shift):
        def call():
            contact_id, at = rng.choice(pool)
            return touches.best(shop, contact_id, [], at + shift)

        return call

    clicked = [(c, t) for c, t in data["clicked"]]
    delivered = [(c, t) for c, t in data["delivered"]]
    far = [(c, support.utc_now() + timedelta(days=400)) for c in nobody]
    cases = {
        "click (latest click, 1 min before)": lookups(clicked, timedelta(minutes=1)),
        "delivery (no click, delivered 1 h before)": lookups(delivered, timedelta(hours=1)),
        "nothing (every lookup runs, none finds)": lookups(far, timedelta(0)),
    }
    order_ids = iter(range(9_000_000_000, 10**12))

    def full():
        contact_id, at = rng.choice(clicked)
        order = Order(shop_id=shop_id, shopify_order_id=next(order_ids), contact_id=contact_id,
                      ordered_at=at + timedelta(minutes=1))  # fmt: skip
        db.session.add(order)
        db.session.flush()
        ledger.attribute_order(shop, order, {"total_price": "42.00", "currency": "USD"})
        db.session.rollback()

    cases["attribute_order (lookups + insert + rollup bump), rolled back"] = full
    rows = []
    for name, call in cases.items():
        stats = common.summary(common.sample_ms(call, repeat))
        rows.append([name, f"{stats['p50']:.2f}", f"{stats['p95']:.2f}"])
    print(common.table(["per order", "p50 ms", "p95 ms"], rows))
    for name, plan in plans(stack.pg.conninfo, shop_id, {"shop": shop, **data}).items():
        print(f"\n{name}:\n{plan}")
    print(f"\n{common.machine()}; {stack.versions()}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=300)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
