"""Fixtures for links: campaigns with messages, written as the send path leaves them."""

from __future__ import annotations

import itertools

import pytest

UA_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
)


@pytest.fixture(autouse=True)
def click_writer(request):
    """Every test with an app ends with its click writer stopped (nothing left running)."""
    app = request.getfixturevalue("app") if "app" in request.fixturenames else None
    yield
    found = app.extensions.get("astronote_link_clicks") if app is not None else None
    if found is not None:
        found.stop()


@pytest.fixture(scope="module")
def keyed():
    """An app context with signing keys and nothing else: the codec needs no database."""
    from flask import Flask

    app = Flask("links-codec")
    app.config.update(SECRET_KEY="codec-test-secret", LINK_SIGNING_KEYS=[])
    with app.app_context():
        yield app


@pytest.fixture
def campaign_factory(db):
    from astronote.models import Campaign

    def make(shop, name="Spring sale", body="Sale! https://alpha.example/sale"):
        campaign = Campaign(shop_id=shop.id, name=name, body=body, status="sending")
        db.session.add(campaign)
        db.session.commit()
        return campaign

    return make


@pytest.fixture
def messages_for(db):
    """n messages of a campaign (or one-off, campaign None), as sent."""
    from astronote.models import Contact, Message

    numbers = itertools.count(1000)

    def make(shop, campaign_id, n=1, kind="campaign", status="delivered"):
        rows = []
        for _ in range(n):
            contact = Contact(shop_id=shop.id, phone=f"+1202555{next(numbers):04d}")
            db.session.add(contact)
            db.session.flush()
            message = Message(
                shop_id=shop.id,
                campaign_id=campaign_id,
                contact_id=contact.id,
                kind=kind,
                phone=contact.phone,
                status=status,
            )
            db.session.add(message)
            rows.append(message)
        db.session.commit()
        return rows

    return make
