"""Parallel campaigns for one shop on PostgreSQL: the balance never goes negative.

Ten threads (ten connections) start ten campaigns of the same shop at the
same instant; the balance covers four. Exactly four win, six get
InsufficientCredits and leave nothing behind, the ledger replays to the balance at
every step, and settling the winners concurrently releases each reservation once.
"""

from __future__ import annotations

import threading
import uuid

from sqlalchemy import select

from tests.conftest import make_app
from tests.reliability.conftest import BODY, NAMES, Harness, _empty_tables

CAMPAIGNS = 10
AFFORDABLE = 4


def _run_together(count: int, work) -> list:
    """Run work(i) in `count` threads released at once; return results or exceptions."""
    gate = threading.Barrier(count)
    results: list = [None] * count

    def run(index: int) -> None:
        gate.wait(timeout=30)
        try:
            results[index] = work(index)
        except BaseException as exc:  # noqa: BLE001 (reported by the caller)
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    return results


def _ledger_replays(db, shop_id: int) -> None:
    """Every entry's balances-after equal the running sums; none is ever negative."""
    from astronote.models import CreditLedgerEntry

    entries = db.session.execute(
        select(CreditLedgerEntry).filter_by(shop_id=shop_id).order_by(CreditLedgerEntry.id)
    ).scalars()
    available = reserved = 0
    for entry in entries:
        available += entry.available_delta
        reserved += entry.reserved_delta
        assert (entry.available_after, entry.reserved_after) == (available, reserved), entry.id
        assert available >= 0 and reserved >= 0, entry.id


def test_parallel_campaigns_never_overdraw(rel_database_url):
    from astronote.extensions import db
    from astronote.models import Campaign, LedgerKind, Message, Shop
    from astronote.services import credits
    from astronote.services.campaigns import lifecycle as campaigns
    from astronote.services.campaigns.audience import Audience
    from astronote.services.credits import InsufficientCredits
    from astronote.services.messaging.rendering import segments_for

    app = make_app(rel_database_url)  # a pool of 10 connections: one per thread
    _empty_tables(app)
    seeded = Harness(app, None, None, None).seed(60)  # one started campaign: 60 recipients
    with app.app_context():
        shop = db.session.get(Shop, seeded.shop_id)
        cost = sum(segments_for(shop, BODY, NAMES[i % len(NAMES)], None, None) for i in range(60))
        assert cost > 60  # some recipients cost two segments
        # Top the balance up so it covers exactly AFFORDABLE more campaigns, and a bit.
        available = credits.balance(shop.id).available
        top_up = AFFORDABLE * cost + cost // 2 - available
        credits.grant(shop.id, top_up, f"top-up:{uuid.uuid4().hex}", "reliability")
        ids = []
        for n in range(CAMPAIGNS):
            campaign = Campaign(
                shop_id=shop.id, name=f"Race {n}", body=BODY, audience=Audience().to_json()
            )
            db.session.add(campaign)
            db.session.flush()
            ids.append(campaign.id)
        db.session.commit()
        before = credits.balance(shop.id)
        db.session.remove()

    def start(index: int) -> str:
        with app.app_context():
            try:
                campaign = db.session.get(Campaign, ids[index])
                campaigns.start(db.session.get(Shop, seeded.shop_id), campaign)
                db.session.commit()
                return "won"
            except InsufficientCredits:
                db.session.rollback()
                return "lost"
            finally:
                db.session.remove()

    results = _run_together(CAMPAIGNS, start)
    assert sorted(results, key=str) == ["lost"] * (CAMPAIGNS - AFFORDABLE) + ["won"] * AFFORDABLE
    winners = [ids[i] for i, r in enumerate(results) if r == "won"]
    losers = [ids[i] for i, r in enumerate(results) if r == "lost"]
    with app.app_context():
        balance = credits.balance(seeded.shop_id)
        assert balance.available == before.available - AFFORDABLE * cost >= 0
        assert balance.reserved == before.reserved + AFFORDABLE * cost
        assert credits.ledger_totals(seeded.shop_id) == balance
        _ledger_replays(db, seeded.shop_id)
        for campaign_id in losers:  # rolled back whole: still a draft, no recipients
            campaign = db.session.get(Campaign, campaign_id)
            assert campaign.status == "draft" and campaign.reserved_credits == 0
            assert not db.session.execute(
                select(Message.id).filter_by(campaign_id=campaign_id)
            ).first()
        for campaign_id in winners:
            campaign = db.session.get(Campaign, campaign_id)
            assert campaign.status == "sending" and campaign.reserved_credits == cost
            campaigns.cancel(campaign)
        db.session.commit()
        db.session.remove()

    # Settle every winner from two threads at once: each reservation comes back once.
    def settle(index: int) -> bool:
        with app.app_context():
            try:
                finished = campaigns.finish_if_done(winners[index // 2])
                db.session.commit()
                return finished
            finally:
                db.session.remove()

    settled = _run_together(2 * AFFORDABLE, settle)
    assert all(isinstance(r, bool) for r in settled), settled
    with app.app_context():
        balance = credits.balance(seeded.shop_id)
        assert balance.reserved == before.reserved  # only the seeded campaign's reservation
        assert balance.available == before.available
        assert credits.ledger_totals(seeded.shop_id) == balance
        _ledger_replays(db, seeded.shop_id)
        for campaign_id in winners:
            assert credits.total_for(seeded.shop_id, campaign_id, LedgerKind.RELEASE) == cost
        db.session.remove()
        db.engine.dispose()
