"""Issue #10, pages: one time rule (the shop's zone, labelled), the 404 page, the
favicon, the top bar, and the signed-out development sign-in page."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from astronote.models import Campaign, ConsentEvent, Contact, InboundMessage
from astronote.services import timezones
from astronote.services.campaigns import composer
from tests.conftest import make_app

WINTER = datetime(2026, 12, 3, 15, 15, tzinfo=UTC)  # 10:15 in New York (EST, UTC-5)
SUMMER = datetime(2026, 7, 3, 15, 15, tzinfo=UTC)  # 11:15 in New York (EDT, UTC-4)
NEW_YORK = "Dec 3, 2026 10:15 (America/New_York)"


@pytest.fixture
def dev_client(app, database_url, shop):
    """A development app on the same database, signed in as `shop` by its cookie."""
    dev = make_app(database_url, ASTRONOTE_ENV="development")
    client = dev.test_client()
    with client.session_transaction() as session:
        session["dev_shop_id"] = shop.id
    yield client
    from astronote.extensions import db

    with dev.app_context():
        db.session.remove()
        db.engine.dispose()


# --------------------------------------------------------------------------- one time rule


def test_shown_uses_the_zone_and_labels_it_with_its_iana_name():
    assert timezones.shown(WINTER, "America/New_York") == NEW_YORK
    assert timezones.shown(SUMMER, "America/New_York") == "Jul 3, 2026 11:15 (America/New_York)"
    assert timezones.shown(WINTER, "Asia/Kolkata") == "Dec 3, 2026 20:45 (Asia/Kolkata)"
    # a naive value is UTC (as stored), an unknown zone is UTC and says so
    assert timezones.shown(WINTER.replace(tzinfo=None), "Europe/Athens").startswith(
        "Dec 3, 2026 17:15"
    )
    assert timezones.shown(WINTER, "Mars/Olympus") == "Dec 3, 2026 15:15 (UTC)"
    assert timezones.shown(None, "UTC") == ""


def test_campaign_times_are_no_longer_bare_abbreviations(shop):
    assert composer.local_time(shop, WINTER) == NEW_YORK
    assert "EST" not in composer.local_time(shop, WINTER)
    # the compose form's datetime-local input keeps its unlabelled value
    assert composer.local_time(shop, WINTER, composer.LOCAL_INPUT) == "2026-12-03T10:15"


def test_consent_history_is_in_the_shop_zone_not_utc(client, db, shop, doc_auth):
    person = Contact(shop_id=shop.id, phone="+12125550100", consent_state="subscribed")
    db.session.add(person)
    db.session.flush()
    db.session.add(
        ConsentEvent(
            shop_id=shop.id,
            contact_id=person.id,
            state="subscribed",
            source="manual",
            evidence="signed form",
            occurred_at=WINTER,
        )
    )
    db.session.commit()
    body = client.get(f"/contacts/{person.id}", headers=doc_auth).get_data(as_text=True)
    assert NEW_YORK in body
    assert "15:15 UTC" not in body


def test_inbox_and_campaign_pages_label_the_shop_zone(client, db, shop, doc_auth):
    person = Contact(shop_id=shop.id, phone="+12125550101", consent_state="subscribed")
    db.session.add(person)
    db.session.flush()
    db.session.add(
        InboundMessage(
            shop_id=shop.id,
            contact_id=person.id,
            from_number=person.phone,
            to_number="+14155550000",
            text="hello",
            routed_by="number",
            payload="{}",
            received_at=WINTER,
        )
    )
    campaign = Campaign(shop_id=shop.id, name="Winter", status="completed", started_at=WINTER)
    campaign.finished_at = WINTER
    db.session.add(campaign)
    db.session.commit()
    inbox = client.get("/inbox", headers=doc_auth).get_data(as_text=True)
    assert NEW_YORK in inbox
    thread = client.get(f"/inbox/{person.id}", headers=doc_auth).get_data(as_text=True)
    assert NEW_YORK in thread
    page = client.get(f"/campaigns/{campaign.id}", headers=doc_auth).get_data(as_text=True)
    assert NEW_YORK in page and " EST" not in page
    listing = client.get("/campaigns", headers=doc_auth).get_data(as_text=True)
    assert f"Finished {NEW_YORK}" in listing


# --------------------------------------------------------------------------- 404, favicon, nav


def test_404_speaks_our_words_keeps_the_shop_badge_and_offers_a_way_back(client, shop, doc_auth):
    response = client.get("/no-such-page", headers=doc_auth)
    body = response.get_data(as_text=True)
    assert response.status_code == 404
    assert "Page not found" in body
    assert "requested URL was not found" not in body
    # a verified session token: the admin's own navigation, as on every embedded page
    assert "<s-app-nav>" in body
    assert f'href="/?shop={shop.shop_domain}"' in body
    # an explicit message (a missing record) is kept, and the page still leads home
    missing = client.get("/contacts/999999", headers=doc_auth).get_data(as_text=True)
    assert "requested URL was not found" not in missing and "Back to Astronote home" in missing


def test_404_signed_out_has_no_badge_and_links_home(client, shop):
    response = client.get("/no-such-page")
    body = response.get_data(as_text=True)
    assert response.status_code == 404 and "Page not found" in body
    assert "shop-name" not in body and 'class="topnav"' not in body
    assert 'href="/"' in body
    # machine callers still get JSON
    api = client.get("/api/no-such-endpoint")
    assert api.status_code == 404 and api.get_json()["error"] == "Page not found"


def test_404_keeps_the_badge_for_the_development_sign_in(dev_client, shop):
    response = dev_client.get("/nowhere")
    body = response.get_data(as_text=True)
    assert response.status_code == 404 and "Page not found" in body
    assert 'class="shop-name">Alpha' in body and 'class="topnav"' in body


def test_favicon_is_served_and_linked(client, shop, doc_auth):
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200
    assert icon.mimetype == "image/x-icon"
    assert icon.data[:4] == b"\x00\x00\x01\x00"  # ICONDIR: reserved 0, type 1 (icon)
    svg = client.get("/static/favicon.svg")
    assert svg.status_code == 200 and b"<svg" in svg.data
    page = client.get("/contacts", headers=doc_auth).get_data(as_text=True)
    assert 'rel="icon" href="/static/favicon.svg"' in page
    assert 'rel="icon" href="/favicon.ico"' in page


def test_signed_out_dev_sign_in_page_shows_no_app_navigation(app, database_url, shop):
    dev = make_app(database_url, ASTRONOTE_ENV="development")
    client = dev.test_client()
    body = client.get("/dev/sign-in").get_data(as_text=True)
    assert "Development sign-in" in body
    assert 'class="topnav"' not in body
    for label in ("Contacts</a>", "Campaigns</a>", "Inbox</a>", "Settings</a>"):
        assert label not in body
    # even with a sign-in cookie the sign-in page is about signing in
    with client.session_transaction() as session:
        session["dev_shop_id"] = shop.id
    assert 'class="topnav"' not in client.get("/dev/sign-in").get_data(as_text=True)
    assert 'class="topnav"' in client.get("/contacts").get_data(as_text=True)


def test_top_bar_wraps_and_scrolls_on_a_narrow_screen(client):
    css = client.get("/static/css/app.css").get_data(as_text=True)
    narrow = re.search(r"@media \(max-width: 760px\) \{\n  \.topbar \{[^}]*\}(.*?)\n\}", css, re.S)
    assert narrow, "no narrow-screen rules for the top bar"
    assert re.search(r"\.topbar \{[^}]*flex-wrap: wrap", css)
    assert re.search(r"\.topnav \{[^}]*flex: 1 0 100%; flex-wrap: wrap", narrow.group(1))
