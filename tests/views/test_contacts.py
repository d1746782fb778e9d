"""Contacts pages end to end: create/edit/delete with per-field errors, list, search,
keyset pages, capped match counts, htmx fragments and the streamed CSV export.

Every test runs on SQLite and on PostgreSQL (the `database_url` fixture).
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
from datetime import date, timedelta

import phonenumbers
import pytest
from markupsafe import escape
from sqlalchemy import func, select

from astronote.models import ConsentEvent, Contact, ContactTag, ShopContactCount
from astronote.services.contacts import counts as contact_counts
from astronote.services.contacts import editing as contacts
from astronote.services.contacts import export as contact_export
from astronote.services.contacts import fields
from astronote.services.contacts import listing as contact_queries
from astronote.services.contacts.csv_rows import ContactRecord
from astronote.services.contacts.phones import InvalidPhone, normalize_phone
from astronote.services.contacts.upsert import write_batch
from astronote.services.sql import count_capped
from tests.conftest import bearer

PHONE_CELL = re.compile(r'<td class="mono">(\+\d+)</td>')
NEXT_LINK = re.compile(r'rel="next" href="([^"]+)"')


# --------------------------------------------------------------------------- helpers


def us_phone(i: int) -> str:
    """A distinct, valid US number per i (asserted, not assumed)."""
    number = f"+1415200{i:04d}"
    assert phonenumbers.is_valid_number(phonenumbers.parse(number)), number
    return number


def phones_on(response) -> list[str]:
    return PHONE_CELL.findall(response.get_data(as_text=True))


def count_rows(db, model, **filters) -> int:
    query = select(func.count()).select_from(model)
    for name, value in filters.items():
        query = query.where(getattr(model, name) == value)
    return db.session.execute(query).scalar_one()


def add(db, shop, phone, first=None, last=None, email=None, consent="not_subscribed", tags=()):
    """Create one contact through the service (test setup, not under test here)."""
    data = contacts.ContactInput(
        phone=phone,
        first_name=first,
        last_name=last,
        email=email,
        consent_state=consent,
        tags=list(tags),
    )
    contact = contacts.create_contact(shop, data, "test setup")
    db.session.commit()
    return contact


def bulk(db, shop, n: int, start: int = 0) -> list[str]:
    """Insert n contacts set-based with the import writer; returns their phones."""
    phones = [us_phone(start + i) for i in range(n)]
    records = [
        ContactRecord(line=i + 2, phone=p, first_name=f"Bulk{i:04d}") for i, p in enumerate(phones)
    ]
    outcome = write_batch(shop.id, 0, {"phone", "first_name"}, records)
    assert outcome.created == n
    contact_counts.recount(shop.id)
    db.session.commit()
    return phones


def hx_location(response) -> str:
    assert response.status_code == 204, response.get_data(as_text=True)
    return json.loads(response.headers["HX-Location"])["path"]


def post_contact(client, headers, **form):
    data = {"phone": "(415) 555-0123", "consent_state": "not_subscribed", **form}
    return client.post("/contacts", data=data, headers=headers)


def read_csv(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


@pytest.fixture
def people(db, shop):
    """Four contacts with distinct names, phones, emails, tags and consent."""
    return {
        "ada": add(
            db, shop, "+12015550101", "Ada", "Lovelace", "ada@example.com", "subscribed", ["vip"]
        ),
        "adam": add(
            db, shop, "+12015550102", "Adam", "Smith", "adam.smith@example.org", "unsubscribed"
        ),
        "grace": add(
            db,
            shop,
            "+14155550103",
            "Grace",
            "Hopper",
            "grace@navy.mil",
            "pending",
            ["vip", "navy"],
        ),
        "alan": add(db, shop, "+447911123456", "Alan", "Turing", "alan@bletchley.uk"),
    }


def search(client, auth, **params) -> set[str]:
    response = client.get("/contacts", query_string=params, headers=auth)
    assert response.status_code == 200
    return set(phones_on(response))


# --------------------------------------------------------------------------- create


def test_create_normalises_phone_with_shop_region_and_saves_every_field(client, auth, db, shop):
    response = post_contact(
        client,
        auth,
        phone="(415) 555-0123",
        first_name="  Ada ",
        last_name="Lovelace",
        email="Ada@Example.COM",
        gender="f",
        birth_date="1990-12-10",
        consent_state="subscribed",
        consent_attested="on",
        tags="VIP, newsletter, vip",
    )
    path = hx_location(response)
    assert "astronote:toast" in response.headers["HX-Trigger"]
    contact = db.session.execute(select(Contact).filter_by(shop_id=shop.id)).scalar_one()
    assert path == f"/contacts/{contact.id}"
    assert contact.phone == "+14155550123"
    assert (contact.first_name, contact.last_name) == ("Ada", "Lovelace")
    assert contact.email == "ada@example.com"
    assert contact.gender == "female"
    assert contact.birth_date == date(1990, 12, 10)
    assert contact.consent_state == "subscribed"
    assert contact.consent_source == "merchant"
    assert contacts.tags_of(contact) == ["newsletter", "vip"]
    events = db.session.execute(select(ConsentEvent).filter_by(contact_id=contact.id)).scalars()
    assert [(e.state, e.source) for e in events] == [("subscribed", "merchant")]
    assert contact_counts.totals(shop.id)["subscribed"] == 1


def test_plain_form_post_redirects_with_303(client, doc_auth, db, shop):
    response = post_contact(client, doc_auth, phone="415 555 0123")
    assert response.status_code == 303
    contact = db.session.execute(select(Contact).filter_by(shop_id=shop.id)).scalar_one()
    assert response.headers["Location"].endswith(f"/contacts/{contact.id}")


REGION_CASES = [
    ("US", "(201) 555-0101", "+12015550101"),
    ("US", "415.555.0123", "+14155550123"),
    ("US", "+44 7911 123456", "+447911123456"),  # an explicit country code wins
    ("GR", "691 234 5678", "+306912345678"),
    ("GR", "0030 691 234 5678", "+306912345678"),
    ("GB", "07911 123456", "+447911123456"),
]


def test_phone_is_read_in_the_shops_default_region(client, db, make_shop):
    for n, (region, typed, stored) in enumerate(REGION_CASES):
        shop = make_shop(f"region-{n}.myshopify.com", default_region=region)
        response = post_contact(client, bearer(shop.shop_domain), phone=typed)
        assert response.status_code == 303, (region, typed, response.get_data(as_text=True))
        phones = db.session.execute(select(Contact.phone).filter_by(shop_id=shop.id)).scalars()
        assert list(phones) == [stored], (region, typed)


def _service_message(name: str, value: str) -> str:
    """The message the field's own validator gives, so the test checks it reaches the page."""
    cleaners = {
        "phone": lambda v: normalize_phone(v, "US"),
        "email": fields.clean_email,
        "birth_date": fields.clean_birth_date,
        "gender": fields.clean_gender,
        "first_name": lambda v: fields.clean_name(v, "First name"),
        "tags": fields.clean_tags,
    }
    try:
        cleaners[name](value)
    except (InvalidPhone, fields.FieldError) as exc:
        return str(exc)
    raise AssertionError(f"{value!r} unexpectedly valid for {name}")


FUTURE = (date.today() + timedelta(days=2)).isoformat()


INVALID_FIELDS = [
    ("phone", "12345", "not a valid number"),
    ("phone", "not a phone", "not a phone number"),
    ("phone", "", "Phone is required"),
    ("phone", "1" * 41, "too long"),
    ("email", "not-an-email", "not an email address"),
    ("email", "ada@example", "not an email address"),
    ("birth_date", "2020-13-45", "YYYY-MM-DD"),
    ("birth_date", "10/12/1990", "YYYY-MM-DD"),
    ("birth_date", FUTURE, "not plausible"),
    ("birth_date", "1850-01-01", "not plausible"),
    ("gender", "robot", "female, male or other"),
    ("first_name", "x" * 101, "at most 100"),
    ("tags", "ok, <bad>", "may hold letters"),
]


def test_invalid_field_gives_422_fragment_with_its_message_and_saves_nothing(
    client, auth, db, shop
):
    for name, value, words in INVALID_FIELDS:
        form = {"phone": "(415) 555-0123", "first_name": "Kept", name: value}
        response = client.post("/contacts", data=form, headers=auth)
        body = response.get_data(as_text=True)
        case = (name, value)
        assert response.status_code == 422, case
        assert "<html" not in body, case  # the form fragment, not a page
        assert 'id="contact-form"' in body, case
        message = _service_message(name, value)
        assert words in message, case
        assert str(escape(message)) in body, case
        assert body.count('aria-invalid="true"') == 1, case
        if name != "first_name":
            assert 'value="Kept"' in body, case  # what was typed is kept
        assert count_rows(db, Contact) == 0, case
        assert count_rows(db, ConsentEvent) == 0, case
        assert count_rows(db, ContactTag) == 0, case
        assert contact_counts.totals(shop.id)["all"] == 0, case


def test_bad_consent_state_is_a_field_error(client, auth, db):
    response = post_contact(client, auth, consent_state="definitely")
    assert response.status_code == 422
    assert "Choose a consent state from the list." in response.get_data(as_text=True)
    assert count_rows(db, Contact) == 0


def test_several_errors_at_once_are_all_reported_and_input_is_kept_escaped(client, auth, db):
    response = post_contact(
        client, auth, phone="12", email="nope", gender="robot", first_name='<script>"x"</script>'
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert body.count('class="field-error"') == 3
    assert "not an email address" in body and "female, male or other" in body
    assert "<script>" not in body
    assert "&lt;script&gt;" in body
    assert count_rows(db, Contact) == 0


def test_error_on_a_document_request_renders_the_full_page(client, doc_auth, db):
    response = post_contact(client, doc_auth, email="bad")
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "<html" in body and "not an email address" in body


def test_duplicate_phone_in_another_format_is_a_field_error(client, auth, db, shop):
    assert post_contact(client, auth, phone="(415) 555-0123").status_code == 204
    response = post_contact(client, auth, phone="+1 415-555-0123", first_name="Second")
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Another contact already has the number +14155550123." in body
    assert count_rows(db, Contact) == 1
    assert contact_counts.totals(shop.id)["all"] == 1


def test_same_phone_is_allowed_in_two_shops(client, auth, db, make_shop):
    other = make_shop("beta.myshopify.com")
    assert post_contact(client, auth, phone="(415) 555-0123").status_code == 204
    response = post_contact(
        client, {**bearer(other.shop_domain), "HX-Request": "true"}, phone="(415) 555-0123"
    )
    assert response.status_code == 204
    assert count_rows(db, Contact, phone="+14155550123") == 2


def test_new_contact_form_renders(client, doc_auth):
    response = client.get("/contacts/new", headers=doc_auth)
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'action="/contacts"' in body and 'name="phone"' in body


# --------------------------------------------------------------------------- edit


def test_edit_page_shows_current_values_and_history(client, doc_auth, db, people):
    ada = people["ada"]
    response = client.get(f"/contacts/{ada.id}", headers=doc_auth)
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'value="+12015550101"' in body and 'value="Lovelace"' in body
    assert 'value="ada@example.com"' in body and 'value="vip"' in body
    history = body.split('id="consent-history"', 1)[1].split("</ol>", 1)[0]
    assert history.count("<li>") == 1
    assert "Subscribed</strong> · merchant" in history


def test_changing_consent_records_history_with_merchant_source(client, auth, doc_auth, db, shop):
    contact_id = int(hx_location(post_contact(client, auth, first_name="Ada")).rsplit("/", 1)[1])
    response = client.post(
        f"/contacts/{contact_id}",
        data={
            "phone": "+14155550123",
            "first_name": "Ada",
            "consent_state": "subscribed",
            "consent_attested": "on",
            "tags": "vip",
        },
        headers=auth,
    )
    assert hx_location(response) == f"/contacts/{contact_id}"
    contact = db.session.get(Contact, contact_id)
    db.session.refresh(contact)
    assert contact.consent_state == "subscribed"
    assert contact.consent_source == "merchant"
    assert contact.consent_updated_at is not None
    events = list(
        db.session.execute(
            select(ConsentEvent).filter_by(contact_id=contact_id).order_by(ConsentEvent.id)
        ).scalars()
    )
    assert [(e.state, e.source) for e in events] == [
        ("not_subscribed", "merchant"),
        ("subscribed", "merchant"),
    ]
    assert "staff user 42" in events[-1].evidence  # the session token's `sub`
    totals = contact_counts.totals(shop.id)
    assert (totals["subscribed"], totals["not_subscribed"]) == (1, 0)

    page = client.get(f"/contacts/{contact_id}", headers=doc_auth).get_data(as_text=True)
    history = page.split('id="consent-history"', 1)[1].split("</ol>", 1)[0]
    assert history.count("<li>") == 2
    # newest first
    assert history.index("Subscribed</strong> · merchant") < history.index(
        "Not subscribed</strong> · merchant"
    )


def test_edit_without_consent_change_adds_no_history(client, auth, db, people):
    ada = people["ada"]
    response = client.post(
        f"/contacts/{ada.id}",
        data={
            "phone": "(201) 555-0101",
            "first_name": "Augusta",
            "last_name": "King",
            "consent_state": "subscribed",
            "tags": "poet, vip",
        },
        headers=auth,
    )
    assert response.status_code == 204
    row = db.session.execute(select(Contact.__table__).filter_by(id=ada.id)).one()
    assert (row.first_name, row.last_name, row.email) == ("Augusta", "King", None)
    assert count_rows(db, ConsentEvent, contact_id=ada.id) == 1
    tags = db.session.execute(select(ContactTag.tag).filter_by(contact_id=ada.id)).scalars()
    assert sorted(tags) == ["poet", "vip"]


def test_edit_with_invalid_field_is_422_and_changes_nothing(client, auth, db, people):
    ada = people["ada"]
    response = client.post(
        f"/contacts/{ada.id}",
        data={
            "phone": "+12015550101",
            "first_name": "Changed",
            "email": "broken",
            "consent_state": "unsubscribed",
        },
        headers=auth,
    )
    assert response.status_code == 422
    assert "not an email address" in response.get_data(as_text=True)
    row = db.session.execute(select(Contact.__table__).filter_by(id=ada.id)).one()
    assert (row.first_name, row.email, row.consent_state) == (
        "Ada",
        "ada@example.com",
        "subscribed",
    )
    assert count_rows(db, ConsentEvent, contact_id=ada.id) == 1


def test_edit_to_another_contacts_phone_is_a_field_error(client, auth, db, people):
    ada, adam = people["ada"], people["adam"]
    response = client.post(
        f"/contacts/{ada.id}",
        data={"phone": "(201) 555-0102", "consent_state": "subscribed"},
        headers=auth,
    )
    assert response.status_code == 422
    assert "Another contact already has the number +12015550102." in response.get_data(as_text=True)
    phones = db.session.execute(
        select(Contact.phone).where(Contact.id.in_([ada.id, adam.id])).order_by(Contact.id)
    ).scalars()
    assert list(phones) == ["+12015550101", "+12015550102"]


# --------------------------------------------------------------------------- delete


def test_delete_removes_contact_history_tags_and_lowers_counts(
    client, auth, doc_auth, db, shop, people
):
    grace = people["grace"]
    before = contact_counts.totals(shop.id)
    response = client.post(f"/contacts/{grace.id}/delete", headers=auth)
    assert hx_location(response) == "/contacts"
    assert count_rows(db, Contact, id=grace.id) == 0
    assert count_rows(db, ConsentEvent, contact_id=grace.id) == 0
    assert count_rows(db, ContactTag, contact_id=grace.id) == 0
    after = contact_counts.totals(shop.id)
    assert after["all"] == before["all"] - 1
    assert after["pending"] == before["pending"] - 1
    assert client.get(f"/contacts/{grace.id}", headers=doc_auth).status_code == 404
    page = client.get("/contacts", headers=doc_auth)
    assert "+14155550103" not in phones_on(page)
    assert f'id="total-all">{after["all"]}<' in page.get_data(as_text=True)
    # deleting again is a clean 404, not a crash and not a double decrement
    assert client.post(f"/contacts/{grace.id}/delete", headers=auth).status_code == 404
    assert contact_counts.totals(shop.id) == after


# --------------------------------------------------------------------------- list


def test_list_shows_contacts_newest_first_with_totals(client, auth, doc_auth, db):
    for phone in ("(201) 555-0101", "(201) 555-0102", "(415) 555-0103"):
        assert post_contact(client, auth, phone=phone).status_code == 204
    response = client.get("/contacts", headers=doc_auth)
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert phones_on(response) == ["+14155550103", "+12015550102", "+12015550101"]
    assert 'id="total-all">3<' in body
    assert 'id="match-count"' not in body  # no filters, no match count query


def test_empty_list_invites_an_import(client, doc_auth):
    body = client.get("/contacts", headers=doc_auth).get_data(as_text=True)
    assert "No contacts yet." in body and "/contacts/imports/new" in body


def test_htmx_request_gets_results_fragment_plain_request_full_page(client, auth, doc_auth, people):
    fragment = client.get("/contacts", headers=auth)
    page = client.get("/contacts", headers=doc_auth)
    boosted = client.get("/contacts", headers={**auth, "HX-Boosted": "true"})
    assert fragment.status_code == page.status_code == boosted.status_code == 200
    fragment_body = fragment.get_data(as_text=True)
    assert "<html" not in fragment_body and 'id="contacts-table"' in fragment_body
    assert 'id="results"' not in fragment_body
    for response in (page, boosted):
        body = response.get_data(as_text=True)
        assert "<html" in body and 'id="results"' in body and 'id="contacts-table"' in body
    assert set(phones_on(fragment)) == set(phones_on(page)) == {c.phone for c in people.values()}


def test_keyset_pages_cover_everything_without_overlap(client, auth, db, shop):
    phones = bulk(db, shop, 2 * contact_queries.PAGE_SIZE + 17)
    ids_by_phone = dict(db.session.execute(select(Contact.phone, Contact.id)).all())
    url, pages = "/contacts", []
    while url:
        response = client.get(url, headers=auth)
        assert response.status_code == 200
        pages.append(phones_on(response))
        link = NEXT_LINK.search(response.get_data(as_text=True))
        url = html.unescape(link.group(1)) if link else None
        assert len(pages) < 10
    assert [len(p) for p in pages] == [50, 50, 17]
    seen = [p for page in pages for p in page]
    assert len(seen) == len(set(seen)) == len(phones)
    assert set(seen) == set(phones)
    ids = [ids_by_phone[p] for p in seen]
    assert ids == sorted(ids, reverse=True)  # newest first across page boundaries


def test_keyset_pages_keep_filters(client, auth, db, shop):
    bulk(db, shop, 130)
    ids = list(db.session.execute(select(Contact.id).order_by(Contact.id)).scalars())
    for contact_id in ids[::2]:
        db.session.get(Contact, contact_id).consent_state = "subscribed"
    db.session.commit()
    expected = set(
        db.session.execute(
            select(Contact.phone).where(Contact.consent_state == "subscribed")
        ).scalars()
    )
    assert len(expected) == 65
    url, seen, pages = "/contacts?consent=subscribed", [], 0
    while url:
        response = client.get(url, headers=auth)
        body = response.get_data(as_text=True)
        assert re.search(r'id="match-count">\s*65 contacts match', body)
        seen += phones_on(response)
        link = NEXT_LINK.search(body)
        url = html.unescape(link.group(1)) if link else None
        assert url is None or "consent=subscribed" in url
        pages += 1
    assert pages == 2
    assert len(seen) == len(set(seen)) and set(seen) == expected


# --------------------------------------------------------------------------- search


ADA, ADAM, GRACE, ALAN = "+12015550101", "+12015550102", "+14155550103", "+447911123456"


SEARCHES = [
    ("ad", {ADA, ADAM}),  # first-name prefix
    ("AD", {ADA, ADAM}),  # case-insensitive
    ("lovel", {ADA}),  # last-name prefix
    ("hopper", {GRACE}),
    ("grace hopper", {GRACE}),  # full name
    ("  Grace   Hop ", {GRACE}),  # spaces collapsed, last-name prefix
    ("+12015550101", {ADA}),  # E.164 exact
    ("(201) 555-0101", {ADA}),  # national format, normalised
    ("+1 201 555", {ADA, ADAM}),  # partial with country code
    ("1201555", {ADA, ADAM}),  # partial digits of the E.164 number
    ("+1415", {GRACE}),
    ("+44 7911", {ALAN}),
    ("ada@", {ADA}),  # email prefix
    ("ADAM.SMITH@EX", {ADAM}),
    ("grace@navy.mil", {GRACE}),
    ("@navy", set()),  # a prefix search, not a substring search
    ("vip", {ADA, GRACE}),  # tag
    ("navy", {GRACE}),
    ("%", set()),  # LIKE wildcards are literal
    ("_", set()),
    ("a%", set()),
    ("zelda", set()),
]


def test_search(client, auth, people):
    wrong = {}
    for query, expected in SEARCHES:
        found = search(client, auth, q=query)
        if found != expected:
            wrong[query] = (sorted(found), sorted(expected))
    assert not wrong


def test_full_name_search_finds_only_that_person(client, auth, people):
    """'Ada Lovelace' names one person; Adam Smith merely shares the first letters."""
    assert search(client, auth, q="Ada Lovelace") == {ADA}


FILTERS = [
    ({"consent": "subscribed"}, {ADA}),
    ({"consent": "unsubscribed"}, {ADAM}),
    ({"consent": "pending"}, {GRACE}),
    ({"consent": "not_subscribed"}, {ALAN}),
    ({"consent": "bogus"}, {ADA, ADAM, GRACE, ALAN}),  # unknown value: ignored
    ({"tag": "vip"}, {ADA, GRACE}),
    ({"tag": " VIP "}, {ADA, GRACE}),
    ({"tag": "vi"}, set()),  # the tag filter is exact
    ({"tag": "vip", "consent": "pending"}, {GRACE}),
    ({"q": "ad", "consent": "subscribed"}, {ADA}),
    ({"q": "ad", "tag": "vip"}, {ADA}),
    ({"q": "+1201", "consent": "unsubscribed"}, {ADAM}),
]


def test_filters(client, auth, people):
    wrong = []
    for params, expected in FILTERS:
        found = search(client, auth, **params)
        if found != expected:
            wrong.append((params, sorted(found), sorted(expected)))
    assert not wrong


def test_match_count_text(client, auth, people):
    two = client.get("/contacts?q=vip", headers=auth).get_data(as_text=True)
    assert re.search(r'id="match-count">\s*2 contacts match', two)
    none = client.get("/contacts?q=zelda", headers=auth).get_data(as_text=True)
    assert re.search(r'id="match-count">\s*0 contacts match', none)
    assert "No contacts match these filters." in none


def test_count_capped_is_exact_below_the_cap_and_cap_plus_one_above(db, shop):
    bulk(db, shop, 30)
    every = contact_queries.filtered(shop, contact_queries.ContactFilters())
    assert count_capped(every, 100) == 30
    assert count_capped(every, 30) == 30
    assert count_capped(every, 29) == 30
    assert count_capped(every, 10) == 11
    some = contact_queries.filtered(shop, contact_queries.ContactFilters(q="bulk001"))
    assert count_capped(some, 100) == 10  # Bulk0010..Bulk0019


def test_list_page_flags_capped_counts(db, shop, monkeypatch):
    bulk(db, shop, 12)
    filters = contact_queries.ContactFilters(q="bulk")
    page = contact_queries.list_page(shop, filters)
    assert (page.matches, page.matches_capped) == (12, False)
    monkeypatch.setattr(contact_queries, "COUNT_CAP", 12)
    assert contact_queries.list_page(shop, filters).matches_capped is False
    monkeypatch.setattr(contact_queries, "COUNT_CAP", 11)
    page = contact_queries.list_page(shop, filters)
    assert page.matches_capped is True
    assert page.matches == 12


def test_more_than_ten_thousand_matches_is_capped_on_the_page(client, auth, db, shop):
    table = Contact.__table__
    rows = [
        {"shop_id": shop.id, "phone": f"+1999{i:07d}", "consent_state": "pending"}
        for i in range(contact_queries.COUNT_CAP)
    ]
    db.session.execute(table.insert(), rows)
    db.session.commit()
    body = client.get("/contacts?consent=pending", headers=auth).get_data(as_text=True)
    assert re.search(r'id="match-count">\s*10,000 contacts match', body)
    assert "More than" not in body
    db.session.execute(
        table.insert(), [{"shop_id": shop.id, "phone": "+19998888888", "consent_state": "pending"}]
    )
    db.session.commit()
    body = client.get("/contacts?consent=pending", headers=auth).get_data(as_text=True)
    assert re.search(r'id="match-count">\s*More than 10,000 contacts match', body)
    assert len(PHONE_CELL.findall(body)) == contact_queries.PAGE_SIZE


# --------------------------------------------------------------------------- export


def test_export_streams_header_and_every_row_with_tags(client, doc_auth, people):
    response = client.get("/contacts/export.csv", headers=doc_auth)
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.is_streamed
    rows = read_csv(response)
    assert list(rows[0].keys()) == list(contact_export.COLUMNS)
    for column in ("phone", "first_name", "email", "consent", "tags"):
        assert column in contact_export.COLUMNS
    by_phone = {row["phone"]: row for row in rows}
    assert set(by_phone) == {ADA, ADAM, GRACE, ALAN}
    assert len(rows) == 4
    assert by_phone[GRACE]["tags"] == "navy,vip"
    assert by_phone[ADA]["tags"] == "vip"
    assert by_phone[ALAN]["tags"] == ""
    assert by_phone[ADA]["first_name"] == "Ada"
    assert by_phone[ADA]["email"] == "ada@example.com"
    assert by_phone[ADAM]["consent"] == "unsubscribed"
    assert by_phone[ADA]["consent_source"] == "merchant"


def test_export_respects_filters(client, doc_auth, people):
    wrong = []
    for params, expected in [*FILTERS, ({"q": "grace@"}, {GRACE})]:
        response = client.get("/contacts/export.csv", query_string=params, headers=doc_auth)
        found = {row["phone"] for row in read_csv(response)}
        if found != expected:
            wrong.append((params, sorted(found), sorted(expected)))
    assert not wrong


def test_export_walks_batches_without_gaps_or_repeats(client, doc_auth, db, shop, monkeypatch):
    phones = bulk(db, shop, 23)
    monkeypatch.setattr(contact_export, "BATCH", 5)
    rows = read_csv(client.get("/contacts/export.csv", headers=doc_auth))
    assert [row["phone"] for row in rows] == list(reversed(phones))


FORMULAS = [
    "=cmd|' /C calc'!A0",
    "@SUM(A1:A2)",
    "+cmd",
    "-cmd",
    '=HYPERLINK("http://evil.example")',
    "=1+1",  # a formula even though a digit follows '='
    "=2+5+cmd|' /C calc'!A0",
]


def test_export_neutralises_formula_injection(client, doc_auth, db, shop):
    for i, value in enumerate(FORMULAS):
        add(db, shop, us_phone(i), first=value, last=value)
    rows = read_csv(client.get("/contacts/export.csv", headers=doc_auth))
    by_phone = {row["phone"]: row for row in rows}
    exported = {value: by_phone[us_phone(i)] for i, value in enumerate(FORMULAS)}
    unsafe = sorted(
        value
        for value, row in exported.items()
        if row["first_name"] != "'" + value or row["last_name"] != "'" + value
    )
    assert not unsafe, f"exported as live spreadsheet formulas: {unsafe}"


def test_export_keeps_plain_values_untouched(client, doc_auth, db, shop):
    add(db, shop, "+14155550123", first="Zoë", last="O'Neil", email="z@example.com")
    rows = read_csv(client.get("/contacts/export.csv", headers=doc_auth))
    assert (rows[0]["first_name"], rows[0]["last_name"]) == ("Zoë", "O'Neil")
    assert rows[0]["phone"] == "+14155550123"  # a '+' phone is data, never prefixed


def test_empty_export_is_just_the_header(client, doc_auth):
    body = client.get("/contacts/export.csv", headers=doc_auth).get_data(as_text=True)
    assert list(csv.reader(io.StringIO(body))) == [list(contact_export.COLUMNS)]


# --------------------------------------------------------------------------- garbage in


def _statuses(client, auth, queries) -> dict[str, int]:
    """Status of the list and of the export for each raw query string."""
    statuses = {}
    for query in queries:
        listing = client.get("/contacts?" + query, headers=auth)
        export = client.get("/contacts/export.csv?" + query, headers=auth)
        export.get_data()  # the stream itself must not blow up either
        statuses[query] = max(listing.status_code, export.status_code)
    return statuses


def test_garbage_cursor_never_500(client, auth, people):
    statuses = _statuses(
        client,
        auth,
        [
            "after=abc",
            "after=-5",
            "after=",
            "after=1.5",
            "after=0x10",
            "after=%20",
            "after=" + "9" * 40,
            "after=9223372036854775807",
            "after=%D9%A3",  # ARABIC-INDIC DIGIT THREE: isdigit() and int()-able
            "after=%C2%B2",  # SUPERSCRIPT TWO: isdigit() but not int()-able
        ],
    )
    assert {q: s for q, s in statuses.items() if s >= 500} == {}


def test_garbage_search_and_filters_never_500(client, auth, people):
    statuses = _statuses(
        client,
        auth,
        [
            "consent=%3Cscript%3E",
            "consent=",
            "consent=SUBSCRIBED",
            "tag=" + "x" * 5000,
            "q=" + "a" * 20000,
            "q=" + "1" * 5000,
            "q=%FF%FE%FD",
            "q=%5C%25%5F",
            "q=%2B",
            "q=" + "+1 (" * 50,
            "q=a&q=b&consent=pending&consent=x",
        ],
    )
    assert {q: s for q, s in statuses.items() if s >= 500} == {}


def test_nul_bytes_in_search_never_500(client, auth, people):
    """PostgreSQL rejects NUL in text parameters; the app must not pass one through."""
    statuses = _statuses(client, auth, ["q=%00", "q=a%00b", "tag=%00", "q=ada%00%40x"])
    assert {q: s for q, s in statuses.items() if s >= 500} == {}


def _form_statuses(client, auth, bodies) -> dict[bytes, int]:
    headers = {**auth, "Content-Type": "application/x-www-form-urlencoded"}
    return {
        body[:60]: client.post("/contacts", data=body, headers=headers).status_code
        for body in bodies
    }


def test_garbage_form_fields_never_500(client, auth, db):
    statuses = _form_statuses(
        client,
        auth,
        [
            b"phone=%FF%FE&first_name=%C3%28&email=%80%80",
            b"phone=%2B14155550123&tags=vip%00",
            b"phone=%00%00%00",
            b"phone=" + b"9" * 100000,
            b"phone=%2B14155550123&birth_date=99999-01-01",
            b"phone=%2B14155550123&birth_date=0000-00-00",
            b"\xff\xfe\x00garbage",
            b"phone=%2B14155550123&gender=" + b"%FF" * 50,
            b"phone=%2B14155550123&consent_state=%00",
            b"phone=%2B1415555012%F0%9F%98%80",
        ],
    )
    assert {b: s for b, s in statuses.items() if s >= 500} == {}


def test_nul_bytes_in_form_fields_never_500(client, auth, db):
    """A NUL in a name or an email must be a field error (or stripped), never a crash."""
    statuses = _form_statuses(
        client,
        auth,
        [
            b"phone=%2B14155550123&first_name=Ada%00Lovelace",
            b"phone=%2B14155550124&last_name=%00",
            b"phone=%2B14155550125&email=a%00b%40example.com",
        ],
    )
    assert {b: s for b, s in statuses.items() if s >= 500} == {}


def test_nul_bytes_in_multipart_form_fields_never_500(client, auth, db):
    """The same fields posted as multipart/form-data (what a browser may send)."""
    statuses = {}
    for name in ("first_name", "last_name", "email"):
        value = "a\x00b@example.com" if name == "email" else "Ada\x00"
        response = client.post(
            "/contacts",
            data={"phone": "+14155550123", name: value},
            headers=auth,
            content_type="multipart/form-data",
        )
        statuses[name] = response.status_code
    assert {n: s for n, s in statuses.items() if s >= 500} == {}


def test_phone_taken_by_a_concurrent_writer_is_a_field_error_not_500(
    client, auth, db, shop, monkeypatch
):
    """A webhook or a double-submitted form inserts the same phone between check and insert."""
    table = Contact.__table__
    original = contacts._ensure_phone_free

    def check_then_lose_the_race(shop_, phone, exclude_id=None):
        original(shop_, phone, exclude_id)
        with db.engine.begin() as other:  # another connection, committed at once
            other.execute(
                table.insert().values(shop_id=shop_.id, phone=phone, consent_state="subscribed")
            )

    monkeypatch.setattr(contacts, "_ensure_phone_free", check_then_lose_the_race)
    response = post_contact(client, auth, phone="(415) 555-0123")
    assert response.status_code == 422, response.get_data(as_text=True)[:300]
    assert "already has the number +14155550123" in response.get_data(as_text=True)
    assert count_rows(db, Contact, phone="+14155550123") == 1


def _id_statuses(client, auth, ids) -> dict[str, tuple[int, int, int]]:
    form = {"phone": "+14155550123"}
    return {
        str(contact_id): (
            client.get(f"/contacts/{contact_id}", headers=auth).status_code,
            client.post(f"/contacts/{contact_id}", data=form, headers=auth).status_code,
            client.post(f"/contacts/{contact_id}/delete", headers=auth).status_code,
        )
        for contact_id in ids
    }


def test_missing_ids_are_404(client, auth, people):
    missing = max(c.id for c in people.values()) + 1000
    assert _id_statuses(client, auth, [0, missing]) == {
        "0": (404, 404, 404),
        str(missing): (404, 404, 404),
    }


def test_ids_beyond_64_bits_are_404_not_500(client, auth, people):
    """`<int:contact_id>` accepts any digits; the database column is a signed 64-bit int."""
    huge = [2**63, 10**23]
    assert _id_statuses(client, auth, huge) == {str(i): (404, 404, 404) for i in huge}


def test_counter_rows_match_contacts_after_view_writes(client, auth, db, shop):
    """The header totals come from counters; they must equal COUNT(*) after each write."""

    def real():
        grouped = dict(
            db.session.execute(
                select(Contact.consent_state, func.count())
                .where(Contact.shop_id == shop.id)
                .group_by(Contact.consent_state)
            ).all()
        )
        return {
            state: grouped.get(state, 0)
            for state in ("subscribed", "pending", "not_subscribed", "unsubscribed")
        }

    def counted():
        totals = contact_counts.totals(shop.id)
        totals.pop("all")
        return totals

    ids = []
    for i, consent in enumerate(["subscribed", "pending", "subscribed", "unsubscribed"]):
        response = post_contact(
            client, auth, phone=us_phone(i), consent_state=consent, consent_attested="on"
        )
        ids.append(int(hx_location(response).rsplit("/", 1)[1]))
        assert counted() == real()
    client.post(
        f"/contacts/{ids[0]}", data={"phone": us_phone(0), "consent_state": "pending"}, headers=auth
    )
    assert counted() == real()
    client.post(f"/contacts/{ids[1]}/delete", headers=auth)
    assert counted() == real()
    assert count_rows(db, ShopContactCount, shop_id=shop.id) >= 1
