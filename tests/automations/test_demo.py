"""The demo shop under `make run`: Welcome and Order confirmation on, so a storefront
opt-in brings a welcome SMS to the simulator."""

import time_machine
from sqlalchemy import select, update

from astronote.devtools.demo import DEMO_DOMAIN, seed_demo_shop
from astronote.models import Automation
from tests.automations.conftest import NOON, texts_to


def _switches(db, shop_id):
    query = select(Automation.flow, Automation.enabled).filter_by(shop_id=shop_id)
    return dict(db.session.execute(query).all())


def test_the_demo_shop_welcomes_a_storefront_opt_in(client, sim, db):
    shop, created = seed_demo_shop(contacts=5)
    assert created
    switches = _switches(db, shop.id)
    assert len(switches) == 8
    assert {flow for flow, on in switches.items() if on} == {"welcome", "order_confirmation"}
    with time_machine.travel(NOON, tick=False):  # noon in New York: inside quiet hours' window
        form = {"shop": DEMO_DOMAIN, "phone": "+12125550188", "consent": True, "first_name": "Lea"}
        assert client.post("/api/opt-in", json=form).status_code == 200
    [text] = texts_to(sim, "+12125550188")
    assert text.startswith("Welcome to Astronote Demo Store, Lea!")
    assert sim.accepted[-1]["sender"] == "+12125550199"


def test_reseeding_keeps_the_merchants_switches(db):
    shop, _ = seed_demo_shop(contacts=5)
    db.session.execute(update(Automation).filter_by(shop_id=shop.id).values(enabled=False))
    db.session.commit()
    seed_demo_shop()
    assert not any(_switches(db, shop.id).values())
