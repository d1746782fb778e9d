"""Shortening a rendered message, and measuring a body the way it will be sent."""

from __future__ import annotations

import re

from astronote.services import links
from astronote.services.links import codec
from astronote.services.messaging.segments import count_segments

APP = "http://127.0.0.1:8000"


def _source(campaign):
    return links.Source(links.CAMPAIGN, campaign.id, campaign.name)


def test_every_url_becomes_a_short_link_and_the_rest_stays(app, db, shop, campaign_factory):
    body = (
        "Hi Ann! New in: https://alpha.example/new?ref=sms&x=1. "
        "Sale (https://alpha.example/sale) ends soon, https://alpha.example/new?ref=sms&x=1 again!"
    )
    campaign = campaign_factory(shop, body=body)
    prepared = links.prepare(shop.id, _source(campaign), body)
    db.session.commit()
    text = links.shorten(body, 4242, prepared)
    short = re.findall(r"http://127\.0\.0\.1:8000/l/([0-9A-Za-z]+)", text)
    assert len(short) == 3
    decoded = [codec.decode(code) for code in short]
    assert [d.index for d in decoded] == [0, 1, 0]  # the repeated URL keeps its index
    assert {d.message_id for d in decoded} == {4242} and {d.set_id for d in decoded} == {
        prepared.id
    }
    skeleton = re.sub(r"http://127\.0\.0\.1:8000/l/[0-9A-Za-z]+", "<L>", text)
    assert skeleton == "Hi Ann! New in: <L>. Sale (<L>) ends soon, <L> again!"


def test_urls_outside_the_set_stay_long(app, db, shop, campaign_factory):
    """The opt-out link and a URL made from a personal placeholder are not the source's."""
    body = "Hi {{first_name}}: https://alpha.example/u/{{first_name}} and https://alpha.example/a"
    campaign = campaign_factory(shop, body=body)
    prepared = links.prepare(shop.id, _source(campaign), body)
    rendered = "Hi Bo: https://alpha.example/u/Bo and https://alpha.example/a\nOpt out: " + (
        f"{APP}/u/0000001aabbccddeeff0011"
    )
    text = links.shorten(rendered, 7, prepared)
    assert "https://alpha.example/u/Bo" in text
    assert f"{APP}/u/0000001aabbccddeeff0011" in text
    assert "https://alpha.example/a" not in text and text.count(f"{APP}/l/") == 1


def test_no_urls_means_no_set_and_no_change(app, db, shop, campaign_factory):
    campaign = campaign_factory(shop, body="No links here, just www.alpha.example")
    assert links.prepare(shop.id, _source(campaign), campaign.body) is None
    assert links.shorten("No links here", 1, None) == "No links here"


def test_prepare_finds_the_same_set_again_and_a_new_one_for_new_links(
    app, db, shop, campaign_factory
):
    campaign = campaign_factory(shop)
    first = links.prepare(shop.id, _source(campaign), "A https://a.example/1")
    again = links.prepare(shop.id, _source(campaign), "Other words, https://a.example/1 !")
    changed = links.prepare(shop.id, _source(campaign), "A https://a.example/2")
    db.session.commit()
    assert first.id == again.id and changed.id != first.id
    assert changed.index == {"https://a.example/2": 0}


def test_the_operator_short_domain_is_used(app, db, shop, campaign_factory):
    app.config["LINK_BASE_URL"] = "https://an.example"
    campaign = campaign_factory(shop)
    prepared = links.prepare(shop.id, _source(campaign), campaign.body)
    assert links.shorten(campaign.body, 1, prepared).startswith("Sale! https://an.example/l/")


def test_measure_counts_the_short_link_not_the_long_url(
    app, db, shop, campaign_factory, messages_for
):
    campaign = campaign_factory(shop)
    messages_for(shop, campaign.id, n=3)
    long_url = "https://alpha.example/collections/spring-sale?variant=1234567890&ref=" + "x" * 80
    body = f"Spring sale, 20% off everything: {long_url} Reply STOP to opt out"
    measured = links.measure(body, upcoming=500)
    assert long_url not in measured
    assert count_segments(body).segments == 2 and count_segments(measured).segments == 1
    # As long as what the send will produce for the same ids.
    prepared = links.prepare(shop.id, _source(campaign), body)
    sent = links.shorten(body, 3 + 500, prepared)
    assert len(measured) == len(sent)


def test_measure_grows_with_the_ids_a_send_will_use(app, db, shop):
    small = links.measure("Go https://a.example/x", upcoming=1)
    large = links.measure("Go https://a.example/x", upcoming=10**9)
    assert len(large) > len(small)
    assert links.measure("No link", upcoming=5) == "No link"
    assert links.measure("Hi https://a.example/{{first_name}}") == (
        "Hi https://a.example/{{first_name}}"
    )
