"""Per-destination prices: the Python price and the SQL CASE read a number the same way."""

from sqlalchemy import func, select

from astronote.models import Contact
from astronote.services.billing import pricing

PHONES = {
    "+12125550101": "US",
    "+14165550101": "CA",
    "+18765550101": "JM",
    "+447700900123": "GB",
    "+61412345678": "AU",
    "+4915112345678": "DE",
    "+35840123456": "FI",
    "+80012345678": "ZZ",
}


def test_country_and_price_follow_the_table(app):
    assert {p: pricing.country_of(p) for p in PHONES} == PHONES
    assert pricing.credits_for(None, "+12125550101", 2) == 2
    assert pricing.credits_for(None, "+447700900123", 2) == 6
    assert pricing.credits_for(None, "+18765550101", 1) == pricing.DEFAULT_PRICE


def test_config_overrides_the_defaults(app):
    app.config["CREDIT_PRICES"] = {"GB": 7}
    assert pricing.credits_for(None, "+447700900123", 2) == 14
    assert pricing.credits_for(None, "+14165550101", 2) == 2


def test_sql_case_agrees_with_python(db, shop):
    for i, phone in enumerate(PHONES):
        db.session.add(Contact(shop_id=shop.id, phone=phone, first_name=f"n{i}"))
    db.session.flush()
    present = db.session.execute(
        select(pricing.prefix(Contact.phone)).where(Contact.shop_id == shop.id).distinct()
    ).scalars()
    inner = select(
        Contact.phone, pricing.country_case(Contact.phone, list(present)).label("country")
    ).where(Contact.shop_id == shop.id)
    sub = inner.subquery()
    rows = db.session.execute(
        select(sub.c.phone, sub.c.country, func.count()).group_by(sub.c.phone, sub.c.country)
    )
    assert {phone: country for phone, country, _ in rows} == PHONES
