"""The set-based path writes exactly the text the per-run path would: placeholders
filled, then stripped (an empty name at either end leaves no stray space)."""

from datetime import timedelta

import time_machine

from astronote.extensions import db as _db
from astronote.services.automations import bulk, scans
from astronote.services.sending import single
from tests.automations.conftest import NOON, tick

BODY = "{{first_name}} we miss you at {{shop_name}} {{last_name}}"
DAY = timedelta(days=1)


def test_set_based_text_is_the_per_run_text(sim, flows, funded, person, read):
    assert bulk.eligible(funded)  # this shop's win-back goes set-based
    flows("win_back", body=BODY)
    people = [
        person("+12125550101", first_name="", last_order_at=NOON - 91 * DAY),
        person("+12125550102", first_name=None, last_order_at=NOON - 91 * DAY),
        person("+12125550103", first_name="Ann", last_name="Lee", last_order_at=NOON - 91 * DAY),
    ]
    with time_machine.travel(NOON, tick=False):
        assert scans.run_daily(funded.id) == {"win_back": 3}
        _db.session.commit()
    tick(NOON + timedelta(minutes=1))
    bodies = {m.phone: m.body for m in read.messages()}
    expected = {p.phone: single.text_for(funded, p, BODY, "automation") for p in people}
    assert bodies == expected
    assert bodies["+12125550101"].startswith("we miss you at Alpha\n")
    assert bodies["+12125550103"].startswith("Ann we miss you at Alpha Lee\n")
