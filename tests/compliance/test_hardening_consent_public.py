"""Issue #10 items 7 and 10: double opt-in cannot text a number over and over, per-shop
limits shared by every process, and storefront bodies of the wrong shape get a 400."""

import subprocess
import sys
from datetime import timedelta

import pytest
from limits import parse
from sqlalchemy import func, select

from astronote.models import Contact, Message, StorefrontSubmission, now_utc
from astronote.services.messaging import public_limits
from astronote.views import public

PHONE = "+14155550199"


def _opt_in(client, shop, ip="198.51.100.20", phone=PHONE):
    return client.post(
        "/api/opt-in",
        json={"shop": shop.shop_domain, "phone": phone, "consent": True},
        environ_base={"REMOTE_ADDR": ip},
    )


def _confirmations(db) -> int:
    db.session.expire_all()
    query = select(func.count()).select_from(Message).where(Message.kind == "kw:CONFIRM")
    return db.session.execute(query).scalar_one()


def test_repeated_opt_ins_send_one_confirmation_per_pending_period(client, sim, funded, db):
    funded.double_opt_in = True
    db.session.commit()
    for i in range(4):  # from different addresses, so no per-IP limit stands in the way
        response = _opt_in(client, funded, ip=f"198.51.100.{30 + i}")
        assert response.status_code == 200 and response.json["status"] == "pending"
    assert _confirmations(db) == 1
    assert [r["destination"] for r in sim.accepted] == [PHONE]

    contact = db.session.execute(select(Contact).filter_by(phone=PHONE)).scalar_one()
    contact.consent_updated_at = now_utc() - timedelta(hours=25)  # the period ran out
    db.session.commit()
    assert _opt_in(client, funded).json["status"] == "pending"
    assert _opt_in(client, funded).json["status"] == "pending"
    assert _confirmations(db) == 2
    assert len(sim.accepted) == 2


def test_opt_in_has_a_per_shop_limit(client, funded, db, make_shop):
    limit = int(public.OPT_IN_SHOP_RULES[0].split("/")[0])
    statuses = [
        _opt_in(client, funded, ip=f"10.0.{i // 250}.{i % 250}").status_code
        for i in range(limit + 2)
    ]
    assert statuses[:limit] == [200] * limit and statuses[limit:] == [429, 429]
    other = make_shop("beta.myshopify.com")
    assert _opt_in(client, other, ip="10.9.9.9").status_code == 200  # per shop, not global


def test_limits_without_redis_are_shared_across_processes(app, tmp_path):
    """Another process sees this one's hits: the counter is not per-process memory."""
    app.config["PUBLIC_LIMITS_PATH"] = str(tmp_path / "limits.db")
    for _ in range(3):
        assert public_limits.allow("probe", "3/minute", "shared-key")
    assert not public_limits.allow("probe", "3/minute", "shared-key")
    other_process = (
        "import sys\n"
        "from limits import parse\n"
        "from astronote.services.messaging.public_limits import _FileWindows\n"
        "store = _FileWindows(sys.argv[1])\n"
        "print(store.hit(parse('3/minute'), 'public/probe/shared-key'),"
        " store.hit(parse('3/minute'), 'public/probe/fresh-key'))\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", other_process, str(tmp_path / "limits.db")],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.split()
    assert output == ["False", "True"]


def test_redis_down_falls_back_to_the_shared_file(app, tmp_path):
    app.config.update(
        REDIS_URL="redis://127.0.0.1:9/0", PUBLIC_LIMITS_PATH=str(tmp_path / "limits.db")
    )
    assert [public_limits.allow("probe", "2/minute", "k") for _ in range(3)] == [
        True,
        True,
        False,
    ]
    store = public_limits._FileWindows(str(tmp_path / "limits.db"))
    assert not store.hit(parse("2/minute"), "public/probe/k")


BAD_BODIES = [
    ("x", None),
    (["a"], None),
    (5, None),
    ({"shop": {"a": 1}, "phone": PHONE, "consent": True}, "shop"),
    ({"phone": 5, "consent": True}, "phone"),
    ({"phone": PHONE, "first_name": ["x"], "consent": True}, "first_name"),
    ({"phone": PHONE, "email": 5, "consent": True}, "email"),
    ({"phone": PHONE, "consent": {"yes": 1}}, "consent"),
    ({"phone": PHONE, "source": 7, "consent": True}, "source"),
]


@pytest.mark.parametrize("body, field", BAD_BODIES)
def test_opt_in_wrong_shapes_are_a_clear_400(client, funded, db, body, field):
    if isinstance(body, dict) and "shop" not in body:
        body = {"shop": funded.shop_domain, **body}
    response = client.post("/api/opt-in", json=body, environ_base={"REMOTE_ADDR": "198.51.100.40"})
    assert response.status_code == 400
    if field is None:
        assert response.json["error"] == "invalid_payload"
        assert "JSON object" in response.json["message"]
    else:
        assert response.json["error"] == "invalid" and field in response.json["fields"]
    assert db.session.execute(select(func.count()).select_from(Contact)).scalar_one() == 0


@pytest.mark.parametrize(
    "body, field",
    [
        ("x", None),
        (None, None),
        ({"shop": {"a": 1}, "email": "a@example.com", "message": "hi"}, "shop"),
        ({"phone": 5, "message": "hi"}, "phone"),
        ({"email": 5, "message": "hi"}, "email"),
        ({"email": "a@example.com", "message": ["hi"]}, "message"),
        ({"email": "a@example.com", "name": ["x"], "message": "hi"}, "name"),
    ],
)
def test_contact_form_wrong_shapes_are_a_clear_400(client, funded, db, body, field):
    if isinstance(body, dict) and "shop" not in body:
        body = {"shop": funded.shop_domain, **body}
    response = client.post(
        "/api/contact",
        data="null" if body is None else None,
        json=body if body is not None else None,
        content_type="application/json",
        environ_base={"REMOTE_ADDR": "198.51.100.41"},
    )
    assert response.status_code == 400
    assert response.json["error"] == ("invalid_payload" if field is None else "invalid")
    if field is not None:
        assert field in response.json["fields"]
    count = select(func.count()).select_from(StorefrontSubmission)
    assert db.session.execute(count).scalar_one() == 0


def test_form_encoded_and_boolean_consent_still_work(client, funded, db):
    form = client.post(
        "/api/opt-in",
        data={"shop": funded.shop_domain, "phone": "+14155550177", "consent": "on"},
        environ_base={"REMOTE_ADDR": "198.51.100.42"},
    )
    assert form.status_code == 200 and form.json["status"] == "subscribed"
    contact = client.post(
        "/api/contact",
        json={"shop": funded.shop_domain, "email": "a@example.com", "message": "Hello"},
        environ_base={"REMOTE_ADDR": "198.51.100.42"},
    )
    assert contact.status_code == 200
