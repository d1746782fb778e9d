"""Issue 10, items 19 and 25: the simulator signs with the app's secret, and simulates
replies (STOP, START) through `POST /_sim/inbound` and the `mitto_sim_inbound` CLI.

Both run against the real app on a loopback port, with MITTO_WEBHOOK_SECRET set.
"""

from __future__ import annotations

import threading
import time

import pytest
import requests
from sqlalchemy import func, select
from werkzeug.serving import make_server

from astronote.devtools import mitto_sim_inbound
from astronote.devtools.mitto_sim import MittoSimulator
from astronote.devtools.mitto_sim_config import config_from_args
from astronote.integrations.mitto.client import MittoClient
from astronote.models import Contact, InboundMessage, ShopSenderNumber, UnmatchedDeliveryReport
from astronote.services.contacts.csv_rows import ContactRecord
from astronote.services.contacts.upsert import write_batch

SECRET = "sim-secret-for-hardening"
PHONE = "+14155551234"
OUR_NUMBER = "+14155550000"


def wait_for(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


@pytest.fixture
def live_app(app):
    """The test app on a loopback port, refusing unsigned Mitto callbacks."""
    app.config["MITTO_WEBHOOK_SECRET"] = SECRET
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    yield f"http://127.0.0.1:{server.port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def make_sim():
    started: list[MittoSimulator] = []

    def start(argv: list[str], environ: dict) -> MittoSimulator:
        sim = MittoSimulator(config_from_args(["--port", "0", *argv], environ)).start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()


def _count(db, model) -> int:
    db.session.expire_all()
    return db.session.execute(select(func.count()).select_from(model)).scalar_one()


def test_the_cli_takes_the_apps_secret_and_signs_by_default():
    cfg = config_from_args([], {"MITTO_WEBHOOK_SECRET": SECRET})
    assert (cfg.dlr_secret, cfg.dlr_auth) == (SECRET, "signature")
    flagged = config_from_args(["--dlr-secret", "other"], {"MITTO_WEBHOOK_SECRET": SECRET})
    assert flagged.dlr_secret == "other"
    assert config_from_args([], {}).dlr_secret is None


def test_simulated_reports_pass_the_apps_signature_check(live_app, make_sim, db):
    """`make run`'s command line (Procfile.dev) with the secret in the environment."""
    sim = make_sim(
        ["--dlr-url", f"{live_app}/webhooks/mitto/dlr", "--dlr-delay-ms", "0,20"],
        {"MITTO_WEBHOOK_SECRET": SECRET},
    )
    sim.update_config({"dlr_delivered": 1.0, "dlr_failed": 0, "dlr_expired": 0})
    client = MittoClient(sim.base_url, sim.config.api_key, "sim-account")
    for n in range(3):
        assert client.send(f"+30690000000{n}", "Hi", "Shop").accepted
    assert wait_for(lambda: sim.dlr.pending() == 0 and sim.dlr.posted + sim.dlr.dropped == 3)
    assert (sim.dlr.posted, sim.dlr.dropped) == (3, 0)
    assert _count(db, UnmatchedDeliveryReport) == 3  # accepted; kept until their ids are known


@pytest.fixture
def subscriber(shop, db):
    db.session.add(ShopSenderNumber(number=OUR_NUMBER, shop_id=shop.id))
    record = ContactRecord(line=0, phone=PHONE, first_name="Ann", consent="subscribed")
    write_batch(shop.id, 0, {"first_name", "consent"}, [record], evidence="test")
    db.session.commit()
    return PHONE


def _consent(db) -> str:
    db.session.expire_all()
    return db.session.execute(select(Contact.consent_state).filter_by(phone=PHONE)).scalar_one()


def test_sim_inbound_endpoint_delivers_a_signed_stop(live_app, make_sim, subscriber, db):
    sim = make_sim(
        ["--dlr-url", f"{live_app}/webhooks/mitto/dlr"], {"MITTO_WEBHOOK_SECRET": SECRET}
    )
    url = f"{sim.base_url}/_sim/inbound"
    answer = requests.post(url, json={"from": PHONE, "to": OUR_NUMBER, "text": "STOP"}, timeout=10)
    assert answer.status_code == 200
    body = answer.json()
    assert body["app_status"] == 200 and body["app_response"]["keyword"] == "STOP"
    assert _consent(db) == "unsubscribed"
    assert requests.post(url, json={"from": PHONE}, timeout=5).status_code == 400


def test_sim_inbound_without_the_secret_is_refused_by_the_app(live_app, make_sim, subscriber, db):
    sim = make_sim(["--dlr-url", f"{live_app}/webhooks/mitto/dlr"], {})
    answer = requests.post(
        f"{sim.base_url}/_sim/inbound", json={"from": PHONE, "text": "STOP"}, timeout=10
    ).json()
    assert answer["app_status"] == 401 and _consent(db) == "subscribed"


def test_inbound_cli_posts_a_signed_reply(live_app, subscriber, db, capsys):
    url = f"{live_app}/webhooks/mitto/inbound"
    environ = {"MITTO_WEBHOOK_SECRET": SECRET}
    argv = ["--from", PHONE, "--to", OUR_NUMBER, "--url", url]
    assert mitto_sim_inbound.main([*argv, "--text", "STOP"], environ) == 0
    assert _consent(db) == "unsubscribed"
    assert mitto_sim_inbound.main([*argv, "--text", "START"], environ) == 0
    assert _consent(db) == "subscribed"
    assert mitto_sim_inbound.main([*argv, "--text", "hello there"], {}) == 1  # unsigned: 401
    assert '"status": "stored"' in capsys.readouterr().out
    assert _count(db, InboundMessage) == 2


def test_inbound_cli_refuses_a_url_off_this_machine(capsys):
    argv = ["--from", PHONE, "--text", "STOP", "--url", "http://example.com/webhooks/mitto/inbound"]
    assert mitto_sim_inbound.main(argv, {}) == 2
    assert "loopback" in capsys.readouterr().err
