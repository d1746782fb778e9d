"""`make run` as a newcomer meets it: the seeded demo shop, gunicorn and a huey consumer
(not immediate mode), the Mitto simulator. An opt-in on the storefront endpoint brings a
welcome SMS to the simulator; the same opt-in again brings nothing more."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from datetime import time as dt_time

import requests

from astronote.devtools.demo import DEMO_DOMAIN
from astronote.devtools.mitto_sim import MittoSimulator, SimConfig
from astronote.services.sending import quiet_hours
from tests.e2e.live_app import LiveApp

# The demo shop keeps quiet hours (08:00-21:00 where the recipient is): whenever the suite
# runs, one of these numbers is awake (New York, London, Athens, Tokyo, Sydney).
AWAKE_SOMEWHERE = ("+12125550166", "+447911123456", "+306912345678", "+819012345678")
AWAKE_SOMEWHERE += ("+61412345678",)


def _awake_phone() -> str:
    now = datetime.now(UTC)
    for phone in AWAKE_SOMEWHERE:
        zones = quiet_hours.zones_for(phone, "America/New_York")
        if quiet_hours.next_allowed(now, zones, dt_time(8, 0), dt_time(21, 0)) is None:
            return phone
    raise AssertionError("no candidate number is inside its waking hours")


def _welcomes(sim, phone) -> list[str]:
    return [m["text"] for m in sim.accepted if m["destination"] == phone]


def test_a_storefront_opt_in_brings_a_welcome_sms_under_make_run(tmp_path, monkeypatch):
    ready = LiveApp._wait_ready  # a loaded CI machine may take longer than 30 s to boot it
    monkeypatch.setattr(LiveApp, "_wait_ready", lambda self, timeout=0: ready(self, 180.0))
    live = LiveApp(tmp_path)
    sim = MittoSimulator(SimConfig(port=live.sim_port, dlr_url=None)).start()
    try:
        live.start()
        phone = _awake_phone()
        form = {"shop": DEMO_DOMAIN, "phone": phone, "consent": True, "first_name": "Nia"}
        for _ in range(2):  # a double submit of the storefront form
            response = requests.post(live.url + "/api/opt-in", json=form, timeout=30)
            assert response.status_code == 200, response.text
        deadline = time.monotonic() + 60
        while not _welcomes(sim, phone) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(2)  # a second welcome would arrive now
        texts = _welcomes(sim, phone)
        assert len(texts) == 1, live.logs()
        assert texts[0].startswith("Welcome to Astronote Demo Store, Nia!")
    finally:
        live.stop()
        sim.stop()
