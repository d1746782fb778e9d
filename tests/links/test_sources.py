"""The send path's calls, as chunks.py and single.py will make them, end to end."""

from __future__ import annotations

import re

from astronote.services import links
from astronote.services.links import clicks, stats
from astronote.services.messaging.rendering import opt_out_text, render, values_for
from tests.links.conftest import UA_IPHONE

SHORT = re.compile(r"http://127\.0\.0\.1:8000/l/[0-9A-Za-z]+")


def test_a_campaign_chunk_sends_short_links_and_a_click_counts_once(
    app, client, db, shop, campaign_factory, messages_for
):
    body = (
        "Hi {{first_name}}, 20% off with {{discount_code}}: "
        "https://alpha.example/discount/{{discount_code}}?redirect=/collections/sale "
        "or https://alpha.example/p/{{first_name}}"
    )
    campaign = campaign_factory(shop, name="Autumn", body=body)
    messages = messages_for(shop, campaign.id, n=2)
    # What send_chunk does per chunk (once) and per recipient:
    prepared = links.for_campaign(shop, campaign.id, body, "FALL20")
    texts = {}
    for m, name in zip(messages, ("Ann", "Bo"), strict=True):
        values = values_for(shop, name, None, "FALL20")
        text = render(body, values, opt_out_text(shop, m.contact_id))
        texts[m.id] = links.shorten(text, m.id, prepared)
    db.session.commit()
    first = texts[messages[0].id]
    assert first.startswith("Hi Ann, 20% off with FALL20: http://127.0.0.1:8000/l/")
    assert "https://alpha.example/p/Ann" in first  # personal: stays long
    assert "alpha.example/discount" not in first  # shop-wide discount link: shortened
    (link,) = SHORT.findall(first)
    assert link not in texts[messages[1].id]  # per recipient
    for _ in range(2):
        response = client.get(
            link.removeprefix("http://127.0.0.1:8000"), headers={"User-Agent": UA_IPHONE}
        )
        assert response.headers["Location"] == (
            "https://alpha.example/discount/FALL20?redirect=/collections/sale"
            "&utm_source=sms&utm_medium=astronote&utm_campaign=Autumn"
        )
    clicks.buffer().flush()
    result = stats.for_campaign(campaign)
    assert (result.clicks, result.unique, result.base) == (2, 1, 2)


def test_no_url_no_set_and_no_query(app, db, shop, campaign_factory):
    campaign = campaign_factory(shop, body="Hi {{first_name}}, no links today")
    assert links.for_campaign(shop, campaign.id, campaign.body, None) is None


def test_another_shops_campaign_id_gets_no_set(app, db, shop, make_shop, campaign_factory):
    other = make_shop("beta.myshopify.com")
    theirs = campaign_factory(other, body="https://beta.example/x")
    assert links.for_campaign(shop, theirs.id, theirs.body, None) is None


def test_a_flow_counts_per_flow_and_keeps_old_versions_working(app, client, db, shop, messages_for):
    """A flow's new body gets a new set; codes sent with the old one still lead there."""
    from astronote.models import Automation

    flow = Automation(shop_id=shop.id, flow="welcome", body="x", enabled=True)
    db.session.add(flow)
    db.session.commit()
    old, new = messages_for(shop, None, n=2, kind="automation")
    v1 = links.for_flow(shop, flow.id, "Welcome", "Hi! https://alpha.example/v1", None)
    v2 = links.for_flow(shop, flow.id, "Welcome", "Hi! https://alpha.example/v2", None)
    old_text = links.shorten("Hi! https://alpha.example/v1", old.id, v1)
    new_text = links.shorten("Hi! https://alpha.example/v2", new.id, v2)
    db.session.commit()
    assert v1.id != v2.id
    for text, target in ((old_text, "/v1?"), (new_text, "/v2?")):
        (link,) = SHORT.findall(text)
        response = client.get(
            link.removeprefix("http://127.0.0.1:8000"), headers={"User-Agent": UA_IPHONE}
        )
        assert target in response.headers["Location"]
        assert response.headers["Location"].endswith("utm_campaign=Welcome")
    clicks.buffer().flush()
    flow_stats = stats.for_flow(shop.id, flow.id, delivered=2, sent=2)
    assert (flow_stats.clicks, flow_stats.unique, flow_stats.ctr) == (2, 2, 1.0)
    assert stats.totals(shop.id, links.CAMPAIGN, flow.id) == (0, 0)


def test_measure_body_counts_what_the_send_will_send(app, db, shop, campaign_factory, messages_for):
    """The composer's measure of a template, rendered for a recipient, is exactly as long
    as that recipient's shortened message (same ids)."""
    body = (
        "{{shop_name}}: hi {{first_name}}! https://alpha.example/discount/{{discount_code}}"
        "?redirect=/collections/autumn-sale-2026 and https://alpha.example/p/{{first_name}}"
    )
    campaign = campaign_factory(shop, body=body)
    (message,) = messages_for(shop, campaign.id)
    measured = links.measure_body(shop, body, "FALL20", upcoming=1)
    assert "{{first_name}}" in measured and "{{shop_name}}" not in measured
    assert "alpha.example/discount" not in measured
    values = values_for(shop, "Ann", None, "FALL20")
    sample = render(measured, values, None)
    # The send: the next message id, shortened from the real rendering.
    prepared = links.for_campaign(shop, campaign.id, body, "FALL20")
    sent = links.shorten(render(body, values, None), message.id + 1, prepared)
    assert len(sample) == len(sent)
    assert "https://alpha.example/p/Ann" in sample and "https://alpha.example/p/Ann" in sent


def test_unique_codes_keep_a_code_url_long_in_the_measure_and_the_send(
    app, db, shop, campaign_factory
):
    """With a code per recipient, a URL holding {{discount_code}} is personal: neither
    the set nor the measure shortens it; the shop-wide URL is shortened in both."""
    body = "Use {{discount_code}}: https://alpha.example/discount/{{discount_code}} or https://alpha.example/sale"
    campaign = campaign_factory(shop, body=body)
    prepared = links.for_campaign(shop, campaign.id, body, None, personal_code=True)
    assert list(prepared.index) == ["https://alpha.example/sale"]
    measured = links.measure_body(shop, body, "SMSXXXXXXX", personal_code=True)
    assert "https://alpha.example/discount/{{discount_code}}" in measured
    assert "alpha.example/sale" not in measured and "/l/" in measured
    shared = links.measure_body(shop, body, "FALL20")  # one code for all: shortened
    assert "alpha.example" not in shared
