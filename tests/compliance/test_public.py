"""Unsubscribe links, the storefront opt-in API and the contact form."""

import pytest
from sqlalchemy import func, select

from astronote.models import ConsentEvent, Contact, Shop, StorefrontSubmission
from astronote.services.messaging import unsubscribe
from astronote.services.messaging.rendering import opt_out_text

ORIGIN = "https://alpha.myshopify.com"


def _contact(db, phone="+14155550123") -> Contact:
    db.session.expire_all()
    return db.session.execute(select(Contact).filter_by(phone=phone)).scalar_one()


def test_unsubscribe_get_never_unsubscribes_post_does(client, funded, subscribers, db):
    subscribers(1, start=123)
    contact = _contact(db)
    code = unsubscribe.code_for(funded.id, contact.id)
    page = client.get(f"/u/{code}", headers={"User-Agent": "Slackbot-LinkExpanding 1.0"})
    assert page.status_code == 200 and funded.display_name in page.get_data(as_text=True)
    assert _contact(db).consent_state == "subscribed"  # a link preview changes nothing
    done = client.post(f"/u/{code}", headers={"User-Agent": "Mozilla/5.0"})
    assert done.status_code == 200 and 'id="unsubscribed"' in done.get_data(as_text=True)
    contact = _contact(db)
    assert contact.consent_state == "unsubscribed" and contact.consent_source == "unsubscribe_page"
    event = (
        db.session.execute(select(ConsentEvent).order_by(ConsentEvent.id.desc())).scalars().first()
    )
    assert "Mozilla/5.0" in event.evidence and "127.0.0.1" in event.evidence


def test_codes_are_bound_to_contact_and_shop(client, funded, subscribers, db, make_shop):
    subscribers(2, start=123)
    first, second = db.session.execute(select(Contact).order_by(Contact.id)).scalars().all()
    code = unsubscribe.code_for(funded.id, first.id)
    assert unsubscribe.contact_for(code).id == first.id
    forged = unsubscribe.code_for(funded.id, second.id)[:8] + code[8:]  # id swapped, mac kept
    assert client.get(f"/u/{forged}").status_code == 404
    other = make_shop("beta.myshopify.com")
    assert client.get(f"/u/{unsubscribe.code_for(other.id, first.id)}").status_code == 404
    for junk in ("x", "0" * 20, code.upper()[:-1] + "?", "../../etc"):
        assert client.get(f"/u/{junk}").status_code in (404, 308)
    assert _contact(db, first.phone).consent_state == "subscribed"


def test_link_mode_opt_out_text_has_constant_length(app, funded, db):
    funded.opt_out_mode = "link"
    db.session.commit()
    lengths = {len(opt_out_text(funded, cid)) for cid in (1, 99, 123456, 10**9)}
    assert len(lengths) == 1
    assert opt_out_text(funded, 5).startswith("Opt out: http")


def test_opt_in_api_subscribes_with_evidence_and_cors(client, funded, db):
    response = client.post(
        "/api/opt-in",
        headers={"Origin": ORIGIN},
        json={
            "shop": funded.shop_domain,
            "phone": "(415) 555-0199",
            "consent": True,
            "first_name": "Lin",
        },
    )
    assert response.status_code == 200 and response.json["status"] == "subscribed"
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    contact = _contact(db, "+14155550199")
    assert contact.consent_source == "storefront_form"
    preflight = client.open(
        "/api/opt-in", method="OPTIONS", headers={"Origin": "https://evil.example"}
    )
    assert "Access-Control-Allow-Origin" not in preflight.headers


def test_opt_in_requires_consent_and_a_real_shop(client, funded, db):
    no_consent = client.post(
        "/api/opt-in", json={"shop": funded.shop_domain, "phone": "+14155550199"}
    )
    assert no_consent.status_code == 400 and "consent" in no_consent.json["fields"]
    unknown = client.post(
        "/api/opt-in", json={"shop": "nope.myshopify.com", "phone": "+14155550199", "consent": True}
    )
    assert unknown.status_code == 404
    bad = client.post(
        "/api/opt-in", json={"shop": funded.shop_domain, "phone": "12", "consent": True}
    )
    assert bad.status_code == 400 and "phone" in bad.json["fields"]
    assert db.session.execute(select(func.count()).select_from(Contact)).scalar_one() == 0


def test_double_opt_in_waits_for_yes(client, sim, funded, db):
    funded.double_opt_in = True
    db.session.add_all([])
    db.session.commit()
    response = client.post(
        "/api/opt-in", json={"shop": funded.shop_domain, "phone": "+14155550199", "consent": "true"}
    )
    assert response.json["status"] == "pending"
    assert "Reply YES" in sim.accepted[-1]["text"]
    from astronote.models import ShopSenderNumber

    db.session.add(ShopSenderNumber(number="+14155550000", shop_id=funded.id))
    db.session.commit()
    client.post(
        "/webhooks/mitto/inbound",
        json={"from": "+14155550199", "to": "+14155550000", "text": "yes"},
    )
    assert _contact(db, "+14155550199").consent_state == "subscribed"


def test_opt_in_is_rate_limited_per_ip(client, funded, db):
    statuses = [
        client.post(
            "/api/opt-in",
            json={"shop": funded.shop_domain, "phone": "+14155550199", "consent": True},
            environ_base={"REMOTE_ADDR": "198.51.100.7"},
        ).status_code
        for _ in range(12)
    ]
    assert statuses[:10] == [200] * 10 and statuses[10:] == [429, 429]


def test_contact_form_stores_valid_messages(client, funded, db):
    ok = client.post(
        "/api/contact",
        json={
            "shop": funded.shop_domain,
            "name": "Ada",
            "email": "ada@example.com",
            "message": "Hi there",
        },
        environ_base={"REMOTE_ADDR": "198.51.100.8"},
    )
    assert ok.status_code == 200
    bad = client.post(
        "/api/contact",
        json={"shop": funded.shop_domain, "message": ""},
        environ_base={"REMOTE_ADDR": "198.51.100.8"},
    )
    assert bad.status_code == 400 and set(bad.json["fields"]) >= {"message", "email"}
    stored = db.session.execute(select(StorefrontSubmission)).scalar_one()
    assert stored.email == "ada@example.com" and stored.shop_id == funded.id


@pytest.mark.parametrize("body", [b"{", b"[]", b"null", b"\xff"])
def test_public_api_garbage_never_500(client, funded, body):
    response = client.post(
        "/api/opt-in",
        data=body,
        content_type="application/json",
        environ_base={"REMOTE_ADDR": "198.51.100.9"},
    )
    assert response.status_code < 500


def test_inactive_shop_cannot_collect_opt_ins(client, funded, db):
    db.session.get(Shop, funded.id).is_active = False
    db.session.commit()
    response = client.post(
        "/api/opt-in", json={"shop": funded.shop_domain, "phone": "+14155550199", "consent": True}
    )
    assert response.status_code == 404
