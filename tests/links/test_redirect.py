"""The redirect: merchant parameters kept, UTM added, 404 for anything not ours."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from astronote.services import links
from astronote.services.links import codec
from tests.links.conftest import UA_IPHONE

BROWSER = {"User-Agent": UA_IPHONE}


def _code(shop, campaign, message_id, body, index=0):
    prepared = links.prepare(
        shop.id, links.Source(links.CAMPAIGN, campaign.id, campaign.name), body
    )
    return codec.encode(prepared.id, message_id, index)


@pytest.fixture
def location_of(client, db, shop, campaign_factory, messages_for):
    """Where a browser lands from the first link of a campaign with this body and name."""

    def follow(body: str, name: str = "Spring sale"):
        campaign = campaign_factory(shop, name=name, body=body)
        (message,) = messages_for(shop, campaign.id)
        code = _code(shop, campaign, message.id, body)
        db.session.commit()
        response = client.get(f"/l/{code}", headers=BROWSER)
        assert response.status_code == 302
        assert response.headers["Cache-Control"] == "no-store"
        return response.headers["Location"]

    return follow


def test_redirect_keeps_merchant_params_and_adds_utm(location_of):
    body = "Go https://alpha.example/p/shoes?color=red&size=42#reviews now"
    location = location_of(body, "Spring Sale 2026")
    parts = urlsplit(location)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "alpha.example", "/p/shoes")
    assert parts.fragment == "reviews"
    assert parse_qsl(parts.query) == [
        ("color", "red"),
        ("size", "42"),
        ("utm_source", "sms"),
        ("utm_medium", "astronote"),
        ("utm_campaign", "Spring Sale 2026"),
    ]
    assert location.startswith("https://alpha.example/p/shoes?color=red&size=42&utm_source")


def test_a_utm_the_merchant_set_is_not_duplicated(location_of):
    location = location_of("https://alpha.example/?utm_source=newsletter&utm_campaign=mine&q=a%20b")
    assert location == (
        "https://alpha.example/?utm_source=newsletter&utm_campaign=mine&q=a%20b"
        "&utm_medium=astronote"
    )


def test_tampered_unknown_and_malformed_codes_get_the_friendly_404(
    client, db, shop, campaign_factory, messages_for
):
    campaign = campaign_factory(shop)
    (message,) = messages_for(shop, campaign.id)
    code = _code(shop, campaign, message.id, campaign.body)
    db.session.commit()
    flipped = code[:-1] + ("B" if code[-1] != "B" else "C")
    unknown_set = codec.encode(999_999, message.id, 0)  # signed, but no such set
    beyond = codec.encode(int(codec.decode(code).set_id), message.id, 5)  # index not in set
    for bad in (flipped, unknown_set, beyond, "x", "0" + code, code + "%00", "a" * 300):
        response = client.get(f"/l/{bad}", headers=BROWSER)
        assert response.status_code == 404, bad
        page = response.get_data(as_text=True)
        assert "This link does not work" in page and 'class="topnav"' not in page
        assert "Location" not in response.headers


def test_another_shops_code_cannot_point_into_this_shop(
    client, db, shop, make_shop, campaign_factory, messages_for
):
    """Codes are global, sets belong to one shop: swapping the set id breaks the tag, and a
    message of another shop named by a valid code is never counted for this shop."""
    other = make_shop("beta.myshopify.com")
    mine = campaign_factory(shop, body="https://alpha.example/mine")
    theirs = campaign_factory(other, body="https://beta.example/theirs")
    (my_message,) = messages_for(shop, mine.id)
    their_set = links.prepare(other.id, links.Source(links.CAMPAIGN, theirs.id, "x"), theirs.body)
    my_code = _code(shop, mine, my_message.id, mine.body)
    db.session.commit()
    link, tag = codec._unpack(my_code)
    repacked = codec.base62(codec._pack(codec.LinkCode(their_set.id, link.message_id, 0), tag))
    assert client.get(f"/l/{repacked}", headers=BROWSER).status_code == 404
    # A validly signed code pairing their set with my message (never issued by a send):
    forged = codec.encode(their_set.id, my_message.id, 0)
    response = client.get(f"/l/{forged}", headers=BROWSER)
    assert response.headers["Location"].startswith("https://beta.example/theirs")
    from astronote.services.links import clicks, stats

    clicks.buffer().flush()
    assert stats.for_message(shop.id, my_message.id) == 0
    assert stats.totals(other.id, links.CAMPAIGN, theirs.id) == (0, 0)


def test_non_ascii_targets_become_valid_locations(location_of):
    location = location_of("Neu: https://bäckerei.example/brötchen?sorte=süß", "Frühling")
    assert location == (
        "https://xn--bckerei-5wa.example/br%C3%B6tchen?sorte=s%C3%BC%C3%9F"
        "&utm_source=sms&utm_medium=astronote&utm_campaign=Fr%C3%BChling"
    )


def test_a_database_outage_on_an_uncached_set_is_a_friendly_503(
    client, db, shop, campaign_factory, messages_for, monkeypatch
):
    campaign = campaign_factory(shop)
    (message,) = messages_for(shop, campaign.id)
    code = _code(shop, campaign, message.id, campaign.body)
    db.session.commit()
    from sqlalchemy.exc import OperationalError

    from astronote.services.links import sets

    def down(set_id):
        raise OperationalError("SELECT", {}, Exception("connection refused"))

    monkeypatch.setattr(sets, "_load", down)
    response = client.get(f"/l/{code}", headers=BROWSER)
    assert response.status_code == 503 and response.headers["Retry-After"] == "30"
    assert "This link is busy" in response.get_data(as_text=True)
    monkeypatch.undo()
    assert client.get(f"/l/{code}", headers=BROWSER).status_code == 302
