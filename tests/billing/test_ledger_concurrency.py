"""The ledger still sums to the balance while campaigns and pack purchases run in parallel
(PostgreSQL, one connection per thread): every pack is granted exactly once although its
return page and its webhooks race, and no campaign overdraws."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from astronote.models import Campaign, Contact, CreditLedgerEntry, Shop
from astronote.services import credits
from astronote.services.billing import packs
from astronote.services.campaigns import lifecycle as campaigns
from astronote.services.campaigns.audience import Audience
from astronote.services.credits import InsufficientCredits
from tests.billing.conftest import ledger_matches_balance

CAMPAIGNS, PACKS_PER_THREAD, PURCHASE_THREADS = 8, 3, 4


def _together(workers) -> list:
    gate = threading.Barrier(len(workers))
    results: list = [None] * len(workers)

    def run(i):
        gate.wait(timeout=30)
        try:
            results[i] = workers[i]()
        except BaseException as exc:  # noqa: BLE001 (the test reports it)
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(workers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    return results


def _campaigns(db, shop_id: int, prefix: str) -> list[int]:
    """CAMPAIGNS drafts to everyone subscribed, committed; their ids."""
    rows = [
        Campaign(
            shop_id=shop_id,
            name=f"{prefix}{n}",
            body="Hi {{first_name}}!",
            audience=Audience().to_json(),
        )  # fmt: skip
        for n in range(CAMPAIGNS)
    ]
    db.session.add_all(rows)
    db.session.commit()
    return [c.id for c in rows]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_ledger_sums_to_the_balance_under_parallel_campaigns_and_purchases(
    app, merchant, sim, client, post_delivery, db
):
    shop_id = merchant.shop.id
    for i in range(30):  # US and GB recipients: 1 and 3 credits a segment
        phone = f"+1415555{2000 + i:04d}" if i % 3 else f"+44770090{2000 + i:04d}"
        db.session.add(Contact(shop_id=shop_id, phone=phone, first_name="Al",
                               consent_state="subscribed"))  # fmt: skip
    credits.grant(shop_id, 150, "seed", "seed")
    ids = _campaigns(db, shop_id, "c")

    def campaign_worker(campaign_id):
        def work():
            with app.app_context():
                shop = db.session.get(Shop, shop_id)
                try:
                    people = campaigns.start(shop, db.session.get(Campaign, campaign_id))
                    db.session.commit()
                except InsufficientCredits:
                    db.session.rollback()
                    return "refused"
                campaign = db.session.get(Campaign, campaign_id)
                spent = campaign.reserved_credits // 2  # half sent, the rest released
                credits.consume(shop_id, spent, f"c:{campaign_id}:consume", campaign_id)
                credits.release(shop_id, campaign.reserved_credits - spent,
                                f"c:{campaign_id}:release", campaign_id)  # fmt: skip
                db.session.commit()
                return people

        return work

    def purchase_worker():
        gids = []
        with app.test_request_context("/billing/"):
            shop = db.session.get(Shop, shop_id)
            for _ in range(PACKS_PER_THREAD):
                url = packs.buy(shop, "starter")
                db.session.commit()
                gids.append("gid://shopify/AppPurchaseOneTime/" + url.split("/")[-2])
        return gids

    results = _together([campaign_worker(i) for i in ids] + [purchase_worker] * PURCHASE_THREADS)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors
    started = [r for r in results[:CAMPAIGNS] if r != "refused"]
    assert started and len(started) < CAMPAIGNS  # 150 credits: some fit (50 each), not all
    gids = [gid for r in results[CAMPAIGNS:] for gid in r]
    returns = [sim.decide(gid, approve=True) for gid in gids]
    deliveries = list(sim.outbox)

    def returning(url):
        return lambda: merchant.come_back(url).status_code

    def delivering(delivery):
        return lambda: post_delivery(delivery).status_code

    # Each approved pack: its return page and its webhook (twice), all at once, while
    # the next round of campaigns starts.
    more = _campaigns(db, shop_id, "d")
    results = _together(
        [returning(u) for u in returns]
        + [delivering(d) for d in deliveries] * 2
        + [campaign_worker(i) for i in more]
    )
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors
    assert all(r == 200 for r in results[: len(returns) + 2 * len(deliveries)])
    # Racing the grants: a campaign starts (30 recipients) or is refused, never overdraws.
    assert set(results[-CAMPAIGNS:]) <= {30, "refused"}
    db.session.expire_all()
    grants = db.session.execute(
        select(CreditLedgerEntry.idempotency_key).filter_by(shop_id=shop_id, kind="grant")
    ).scalars()
    assert sorted(grants) == sorted(gids + ["seed"])  # each pack once
    assert ledger_matches_balance(shop_id)
    balance = credits.balance(shop_id)
    consumed = credits.ledger_totals(shop_id)
    assert balance.reserved == 0 and consumed == balance
    spent = sum(
        -e for e in db.session.execute(
            select(CreditLedgerEntry.reserved_delta).filter_by(shop_id=shop_id, kind="consume")
        ).scalars()
    )  # fmt: skip
    assert balance.available == 150 + 1000 * len(gids) - spent
