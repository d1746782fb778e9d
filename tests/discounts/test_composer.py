"""The composer: the picker lists and filters the shop's Shopify code discounts (loaded on
demand, through the shop's token, shop-scoped), "Use" fills the free-text field, and the
unique-code settings are validated, stored, shown again and priced at their length."""

from __future__ import annotations

from datetime import date, timedelta

from werkzeug.datastructures import MultiDict

from astronote.errors import ValidationFailed
from astronote.models import CampaignDiscount
from astronote.services.campaigns import composer
from astronote.services.campaigns import lifecycle as campaigns
from astronote.services.discounts import codes
from tests.discounts.conftest import SHOP, add_contacts, compose


def _picker(client, headers, **params):
    response = client.get("/campaigns/discounts", query_string=params, headers=headers)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_picker_lists_and_filters_the_shops_code_discounts(
    client, headers, merchant, discounts, shopify
):
    discounts.seed(SHOP, "Welcome 10%", "WELCOME10")
    discounts.seed(SHOP, "Black Friday", "BFCM25")
    discounts.seed("other.myshopify.com", "Not yours", "THEIRS50")
    page = _picker(client, headers)
    assert "WELCOME10" in page and "BFCM25" in page and "THEIRS50" not in page
    assert page.index("Black Friday") < page.index("Welcome 10%")  # by title
    by_title = _picker(client, headers, q="friday")
    assert "BFCM25" in by_title and "WELCOME10" not in by_title
    by_code = _picker(client, headers, q="welcome1")
    assert "WELCOME10" in by_code and "BFCM25" not in by_code
    assert "No discount matches" in _picker(client, headers, q="nothing-like-it")
    sent = shopify.requests[-1]
    assert sent.headers["X-Shopify-Access-Token"].startswith("shpat_")  # the shop's token
    assert sent.json()["variables"]["query"] == "nothing-like-it"


def test_picker_pages_through_many_discounts(client, headers, merchant, discounts):
    for n in range(30):
        discounts.seed(SHOP, f"Offer {n:02d}", f"OFFER{n:02d}")
    first = _picker(client, headers)
    assert "OFFER00" in first and "OFFER24" in first and "OFFER25" not in first
    assert 'id="discount-picker-more"' in first
    after = first.split("after=")[1].split('"')[0].replace("&#43;", "+").replace("%3D", "=")
    second = _picker(client, headers, after=after.replace("%2B", "+"))
    assert "OFFER25" in second and "OFFER29" in second and "OFFER00" not in second
    assert 'id="discount-picker-more"' not in second


def test_picker_says_so_when_shopify_fails(client, headers, merchant, discounts, shopify):
    shopify.fail_next(3, status=503)
    page = _picker(client, headers)
    assert "could not be loaded just now" in page


def test_use_fills_the_free_text_code_field(client, headers, merchant):
    response = client.get(
        "/campaigns/discounts/use", query_string={"discount_code": "BFCM25"}, headers=headers
    )
    body = response.get_data(as_text=True)
    assert (
        response.status_code == 200 and 'value="BFCM25"' in body and 'id="f-discount_code"' in body
    )


def test_compose_page_loads_the_picker_only_when_opened(client, headers, merchant, shopify):
    shopify.requests.clear()
    page = client.get("/campaigns/new", headers=headers).get_data(as_text=True)
    assert 'hx-trigger="toggle from:#discount-picker once"' in page
    assert 'name="unique_codes"' in page
    assert not [r for r in shopify.requests if "codeDiscountNodes" in r.body.decode()]


def _form(**fields):
    base = {
        "name": "Sale",
        "body": "Hi, use {{discount_code}}",
        "unique_codes": "on",
        "unique_kind": "percentage",
        "unique_value": "15",
        "unique_ends": (date.today() + timedelta(days=3)).isoformat(),
    }
    return MultiDict({**base, **fields})


def _errors(shop, **fields) -> dict:
    try:
        campaigns.parse_form(shop, _form(**fields))
    except ValidationFailed as exc:
        return exc.field_errors
    return {}


def test_unique_code_settings_are_validated(merchant):
    assert _errors(merchant) == {}
    assert "discount_code" in _errors(merchant, body="Hi there")["body"]
    assert "not both" in _errors(merchant, discount_code="SAVE10")["discount_code"]
    assert "1 to 100" in _errors(merchant, unique_value="150")["unique_value"]
    assert "5 or 7.50" in _errors(merchant, unique_kind="amount", unique_value="-2")["unique_value"]
    past = (date.today() - timedelta(days=2)).isoformat()
    assert "today to a year" in _errors(merchant, unique_ends=past)["unique_ends"]
    assert "last day" in _errors(merchant, unique_ends="someday")["unique_ends"]
    assert "percentage or amount" in _errors(merchant, unique_kind="free")["unique_kind"]


def test_settings_are_stored_and_shown_again_then_dropped(db, merchant):
    campaign = compose(db, merchant, unique_kind="amount", unique_value="7.5")
    stored = db.session.get(CampaignDiscount, campaign.id)
    assert (stored.kind, stored.value, stored.state) == ("amount", 750, "preparing")
    form = composer.form_of(merchant, campaign)
    assert (form["unique_codes"], form["unique_value"], form["unique_kind"]) == (
        "on",
        "7.50",
        "amount",
    )
    draft = campaigns.parse_form(merchant, _form(unique_codes="", body="No code"))
    campaigns.save(merchant, draft, campaign)
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(CampaignDiscount, campaign.id) is None


def test_cost_and_preview_price_a_unique_code_at_its_length(db, merchant):
    add_contacts(db, merchant, 4)
    long_body = "x" * (160 - 1 - codes.CODE_LENGTH - len("\nReply STOP to opt out")) + " "
    campaign = compose(db, merchant, body=long_body + "{{discount_code}}")
    assert composer.confirmation(merchant, campaign)["cost"] == 4  # one segment each
    longer = compose(db, merchant, body=long_body + "x{{discount_code}}")
    assert composer.confirmation(merchant, longer)["cost"] == 8  # one character more: two
    preview = composer.preview(merchant, _form(body=long_body + "{{discount_code}}"))
    assert preview["credits"] == 4 and codes.SAMPLE in preview["sample"]["text"]


def test_the_campaign_page_says_codes_are_being_created_before_the_send(
    client, headers, db, merchant, discounts
):
    add_contacts(db, merchant, 3)
    campaign = compose(db, merchant)
    campaigns.start(merchant, campaign)  # the snapshot is taken; the codes come next
    db.session.commit()
    page = client.get(f"/campaigns/{campaign.id}", headers=headers).get_data(as_text=True)
    assert 'id="codes-preparing"' in page and "0 of 3 ready" in page
    assert "Unique discount codes: 20% off" in page


def test_a_test_send_of_unique_codes_shows_where_the_code_goes(
    client, headers, db, merchant, discounts, sim
):
    from sqlalchemy import select

    from astronote.models import Message

    add_contacts(db, merchant, 1)
    data = {**_form(), "test_phone": "+14155551000"}
    response = client.post("/campaigns/test-send", data=data, headers=headers)
    assert response.status_code == 200
    campaign = compose(db, merchant)
    saved = client.post(
        f"/campaigns/{campaign.id}/test-send", data={"test_phone": "+14155551000"}, headers=headers
    )
    assert saved.status_code == 200
    sent = db.session.execute(select(Message.body).filter_by(kind="test")).scalars().all()
    assert sent == [
        f"Hi, use {codes.SAMPLE}\nReply STOP to opt out",  # the compose page's
        f"Hi Ann0, 20% off with {codes.SAMPLE}\nReply STOP to opt out",  # a saved campaign's
    ]
    assert discounts.bulk_calls == []  # a test creates nothing in Shopify
