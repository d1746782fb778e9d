# ruff: noqa: F811 -- the fixtures imported from the sending and automations tests
"""Short links end to end: a campaign or a flow with a URL sends short links to the Mitto
simulator; following one redirects with UTM and counts once; previews and HEAD do not;
the composer's cost and the reservation count the short link, not the long URL."""

from __future__ import annotations

import re

import time_machine
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from astronote.models import Campaign, Message
from astronote.services import credits
from astronote.services.campaigns import composer
from astronote.services.campaigns import lifecycle as campaigns
from astronote.services.campaigns.audience import Audience
from astronote.services.links import clicks, stats
from astronote.services.messaging.rendering import opt_out_text, render, values_for
from astronote.services.messaging.segments import segment_count
from astronote.tasks.campaigns import fan_out
from tests.automations.conftest import (  # noqa: F401
    NOON,
    _redis_with_postgres,
    flows,
    person,
    shopify,
    texts_to,
)
from tests.fakes import shopify_webhooks as payloads
from tests.links.conftest import UA_IPHONE
from tests.sending.conftest import funded, mitto_sim, read, sim, subscribers  # noqa: F401

LONG_URL = (
    "https://alpha.example/collections/winter-sale-2026/products/merino-wool-sweater"
    "?variant=40012345678901&ref=sms"
)
BODY = "Hi {{first_name}}! Our winter sale is on, 30% off everything: " + LONG_URL + "."
SHORT = re.compile(r"http://127\.0\.0\.1:8000(/l/[0-9A-Za-z]+)")
PREVIEW_BOT = "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"


def _campaign(db, shop, body=BODY) -> Campaign:
    campaign = Campaign(
        shop_id=shop.id, name="Winter sale", body=body, audience=Audience().to_json()
    )
    db.session.add(campaign)
    db.session.commit()
    return campaign


def _long_segments(shop, message: Message) -> int:
    text = render(BODY, values_for(shop, message.first_name, None, None), opt_out_text(shop))
    return segment_count(text)


def test_a_campaign_sends_short_links_and_one_click_counts_once(
    sim, funded, subscribers, db, read, client, auth
):
    subscribers(3)
    campaign = _campaign(db, funded)
    form = MultiDict({"body": BODY})
    quoted = composer.preview(funded, form)
    assert "/l/" in quoted["sample"]["text"] and LONG_URL not in quoted["sample"]["text"]
    assert quoted["sample"]["info"].segments == 1  # the long URL would make it two
    assert campaigns.start(funded, campaign) == 3
    db.session.commit()
    reserved = credits.balance(funded.id).reserved
    assert reserved == quoted["credits"] == 3  # composer, reservation: the short link
    fan_out(campaign.id)

    messages = read.messages(campaign.id)
    at_sim = {m["reference"]: m["text"] for m in sim.accepted}
    assert len(at_sim) == 3
    paths = []
    for message in messages:
        text = at_sim[str(message.id)]
        assert text == message.body and "alpha.example" not in text
        (path,) = SHORT.findall(text)
        paths.append(path)
        assert text.endswith(path + ".\nReply STOP to opt out")  # the full stop stays outside
        assert message.segments == segment_count(text) == 1 < _long_segments(funded, message)
    assert len(set(paths)) == 3  # one link per recipient
    assert credits.balance(funded.id).available == 1_000_000 - 3  # charged as sent

    first = paths[0]
    for method, agent in (("HEAD", UA_IPHONE), ("GET", PREVIEW_BOT), ("GET", "WhatsApp/2.23")):
        response = client.open(first, method=method, headers={"User-Agent": agent})
        assert response.status_code == 302
    clicks.buffer().flush()
    assert (stats.for_campaign(campaign).clicks, stats.for_campaign(campaign).unique) == (0, 0)

    response = client.get(first, headers={"User-Agent": UA_IPHONE})
    assert response.status_code == 302
    assert response.headers["Location"] == (
        LONG_URL + "&utm_source=sms&utm_medium=astronote&utm_campaign=Winter%20sale"
    )
    clicks.buffer().flush()
    counted = stats.for_campaign(campaign)
    assert (counted.clicks, counted.unique) == (1, 1)
    client.get(first, headers={"User-Agent": UA_IPHONE})  # the same person again
    clicks.buffer().flush()
    counted = stats.for_campaign(campaign)
    assert (counted.clicks, counted.unique) == (2, 1)
    assert counted.ctr is not None and 0 < counted.ctr <= 1
    page = client.get(f"/campaigns/{campaign.id}", headers=auth).get_data(as_text=True)
    tile = page.split('id="campaign-clicks"', 1)[1].split("</div>", 1)[0]
    assert '<span class="stat-value">1</span>' in tile and "2 in all" in tile


def test_a_campaign_without_a_url_is_sent_as_written(sim, funded, subscribers, db, read):
    subscribers(2)
    body = "Hi {{first_name}}, no link today"
    campaign = _campaign(db, funded, body=body)
    campaigns.start(funded, campaign)
    db.session.commit()
    fan_out(campaign.id)
    texts = sorted(m["text"] for m in sim.accepted)
    assert texts == sorted(m.body for m in read.messages(campaign.id))
    assert all(t.startswith("Hi Ann") and "/l/" not in t for t in texts)


PHONE = "+12125550123"


def _follow(client, text: str) -> str:
    (path,) = SHORT.findall(text)
    response = client.get(path, headers={"User-Agent": UA_IPHONE})
    assert response.status_code == 302
    return response.headers["Location"]


def test_a_welcome_with_a_url_sends_a_short_link(client, sim, flows, funded, db):
    """The set-based path (welcome): shortened after the INSERT, priced before reserving."""
    flows("welcome", body="Welcome to {{shop_name}}, {{first_name}}! Shop: " + LONG_URL)
    opt_in = {"shop": funded.shop_domain, "phone": PHONE, "consent": True, "first_name": "Maya"}
    assert client.post("/api/opt-in", json=opt_in).status_code == 200
    [text] = texts_to(sim, PHONE)
    assert text.startswith("Welcome to Alpha, Maya! Shop: http://127.0.0.1:8000/l/")
    assert "alpha.example" not in text
    assert _follow(client, text).endswith("&utm_campaign=Welcome")
    db.session.expire_all()
    message = db.session.execute(select(Message).filter_by(phone=PHONE)).scalar_one()
    assert message.body == text and message.segments == segment_count(text)
    assert credits.balance(funded.id).reserved == 0
    assert credits.balance(funded.id).available == 1_000_000 - message.credits


def test_an_order_confirmation_with_a_url_sends_a_short_link(
    client,
    sim,
    flows,
    shopify,
    person,
    db,
):
    """The batch path (trigger placeholders): the same, one UPDATE per flow."""
    body = "Order {{order_number}} is confirmed. Your account: " + LONG_URL
    flows("order_confirmation", body=body)
    person(PHONE, customer_id=77)
    with time_machine.travel(NOON, tick=False):
        shopify.deliver("orders/create", payloads.order(9001, PHONE, 77, number=1042))
    [text] = texts_to(sim, PHONE)
    assert text.startswith("Order #1042 is confirmed. Your account: http://127.0.0.1:8000/l/")
    assert _follow(client, text).endswith("&utm_campaign=Order%20confirmation")
    db.session.expire_all()
    message = db.session.execute(select(Message).filter_by(phone=PHONE)).scalar_one()
    assert message.body == text and message.segments == segment_count(text) == 1


def test_the_flow_editor_previews_and_prices_the_short_link(app, db, shop):
    from astronote.services.automations import editor
    from astronote.services.automations.catalogue import flow

    body = "Welcome, {{first_name}}! Our winter sale is on, 30% off everything: " + LONG_URL
    shown = editor.preview(shop, flow("welcome"), MultiDict({"body": body}))
    assert "/l/" in shown["text"] and "alpha.example" not in shown["text"]
    assert shown["info"].segments == segment_count(shown["text"]) == 1
    assert shown["cost"] == shown["per_segment"]  # one segment; the long URL made it two
    long = render(body, values_for(shop, "Jane", "Doe", None), opt_out_text(shop))
    assert segment_count(long) == 2
