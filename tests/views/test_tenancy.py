"""Tenant isolation: shop B's verified session never reads, changes or exports shop A's data.

The crawl walks every URL rule that takes an `<int:...>` id, so a page added later
without a shop filter fails here without anyone having to remember this file.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from astronote.models import ContactImport, ContactImportError
from astronote.services.contacts import editing as contacts
from tests.conftest import bearer

INT_ARG = re.compile(r"<int:(\w+)>")
PHONE_CELL = re.compile(r'<td class="mono">(\+\d+)</td>')
A_PHONES = ("+12015550101", "+12015550102")
B_PHONE = "+14155550199"
A_SECRETS = ("Lovelace", "a-secret-list.csv", "A-ONLY-DOCUMENT", "only-in-shop-a")
# Which table each id argument names; ids of unknown kinds fall back to A's lowest ids.
ID_TABLES = {
    "contact_id": "contacts",
    "import_id": "contact_imports",
    "sync_id": "customer_syncs",
    "export_id": "customer_data_exports",
}
HOSTILE_FORM = {
    "phone": B_PHONE,
    "first_name": "Mallory",
    "consent_state": "unsubscribed",
    "tags": "pwned",
    "default_region": "GR",
    "timezone": "UTC",
}


def _add(db, shop, phone, first, last, consent, tags):
    data = contacts.ContactInput(
        phone=phone, first_name=first, last_name=last, consent_state=consent, tags=tags
    )
    contact = contacts.create_contact(shop, data, "test setup")
    db.session.commit()
    return contact


def _seed_optional(db, table_name: str, **values) -> int | None:
    """Insert a row into a table other features own, when that table exists."""
    table = db.metadata.tables.get(table_name)
    if table is None:
        return None
    result = db.session.execute(table.insert().values(**values))
    db.session.commit()
    return result.inserted_primary_key[0]


@pytest.fixture
def tenants(db, shop, make_shop):
    """Shop A owns the lowest id of every table it has rows in; B has its own contact."""
    a = shop
    b = make_shop("beta.myshopify.com", default_region="US")
    a_contacts = [
        _add(db, a, A_PHONES[0], "Ada", "Lovelace", "subscribed", ["only-in-shop-a"]),
        _add(db, a, A_PHONES[1], "Adam", "Lovelace", "pending", []),
    ]
    job = ContactImport(
        shop_id=a.id,
        filename="a-secret-list.csv",
        status="completed",
        total_rows=3,
        processed_rows=3,
        created_count=2,
        error_count=1,
    )
    db.session.add(job)
    db.session.flush()
    db.session.add(
        ContactImportError(
            import_id=job.id, row_number=4, phone="+12015550103", message="Lovelace row rejected"
        )
    )
    db.session.commit()
    ids = {
        "contact_id": [c.id for c in a_contacts],
        "import_id": [job.id],
    }
    now = datetime.now(UTC)
    sync_id = _seed_optional(
        db,
        "customer_syncs",
        shop_id=a.id,
        status="completed",
        pages=1,
        seen=2,
        imported=2,
        skipped=0,
        created_at=now,
        updated_at=now,
    )
    if sync_id is not None:
        ids["sync_id"] = [sync_id]
    export_id = _seed_optional(
        db,
        "customer_data_exports",
        shop_id=a.id,
        shopify_customer_id=77,
        contacts_found=1,
        document='{"note": "A-ONLY-DOCUMENT"}',
        created_at=now,
    )
    if export_id is not None:
        ids["export_id"] = [export_id]
    b_contact = _add(db, b, B_PHONE, "Bea", "Bee", "subscribed", ["b-tag"])
    return a, b, ids, b_contact


def snapshot(db, shop_id: int) -> dict[str, list]:
    """Every row that belongs to the shop, in every table that has a shop_id."""
    rows = {}
    for table in db.metadata.sorted_tables:
        if table.name == "shops":
            query = select(table).where(table.c.id == shop_id)
        elif "shop_id" in table.c:
            query = select(table).where(table.c.shop_id == shop_id)
        else:
            continue
        primary = list(table.primary_key.columns)
        rows[table.name] = [tuple(r) for r in db.session.execute(query.order_by(*primary))]
    errors = ContactImportError.__table__
    imports = select(ContactImport.id).where(ContactImport.shop_id == shop_id)
    rows["contact_import_errors"] = [
        tuple(r)
        for r in db.session.execute(
            select(errors).where(errors.c.import_id.in_(imports)).order_by(errors.c.row_number)
        )
    ]
    return rows


def id_rules(app):
    """(rule, method, id argument names) for every rule taking an <int:...> argument."""
    for rule in app.url_map.iter_rules():
        names = INT_ARG.findall(rule.rule)
        if names:
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                yield rule, method, names


def urls_for(rule, names, ids) -> list[str]:
    fallback = sorted({1, 2, *(i for values in ids.values() for i in values)})
    urls = []
    for name in names:
        candidates = ids.get(name, fallback)
        for value in candidates:
            urls.append(
                INT_ARG.sub(
                    lambda m, n=name, v=value: (
                        str(v) if m.group(1) == n else str(ids.get(m.group(1), fallback)[0])
                    ),
                    rule.rule,
                )
            )
    return sorted(set(urls))


def test_crawl_every_id_route_with_shop_b_aimed_at_shop_a(app, client, db, tenants):
    a, b, ids, _ = tenants
    before = snapshot(db, a.id)
    b_htmx = {**bearer(b.shop_domain), "HX-Request": "true"}
    b_doc = bearer(b.shop_domain)
    crawled, leaks = set(), []
    for rule, method, names in id_rules(app):
        for url in urls_for(rule, names, ids):
            for headers in (b_htmx, b_doc):
                response = client.open(
                    url,
                    method=method,
                    headers=headers,
                    data=HOSTILE_FORM if method == "POST" else None,
                )
                body = response.get_data(as_text=True)
                crawled.add(rule.endpoint)
                if (
                    response.status_code not in (403, 404)
                    or any(s in body for s in A_SECRETS)
                    or any(p in body for p in A_PHONES)
                ):
                    leaks.append((method, url, response.status_code))
    assert leaks == []
    assert {
        "contacts.edit",
        "contacts.update",
        "contacts.delete",
        "imports.show",
        "imports.progress",
        "imports.errors_csv",
    } <= crawled
    assert snapshot(db, a.id) == before

    # Control: the same ids are real and readable for A itself.
    a_doc = bearer(a.shop_domain)
    for rule, method, names in id_rules(app):
        if method != "GET" or not set(names) <= set(ids):
            continue
        for url in urls_for(rule, names, ids):
            status = client.get(url, headers=a_doc).status_code
            assert 200 <= status < 300, (url, status)


def test_b_cannot_edit_or_delete_a_contact_through_any_door(client, db, tenants):
    a, b, ids, _ = tenants
    before = snapshot(db, a.id)
    target = ids["contact_id"][0]
    attempts = [
        client.post(f"/contacts/{target}", data=HOSTILE_FORM, headers=bearer(b.shop_domain)),
        client.post(f"/contacts/{target}/delete", headers=bearer(b.shop_domain)),
        client.post(
            f"/contacts/{target}/delete?shop={a.shop_domain}",
            headers={**bearer(b.shop_domain), "X-Shopify-Shop-Domain": a.shop_domain},
        ),
        client.get(
            f"/contacts/{target}?id_token=" + bearer(b.shop_domain)["Authorization"].split()[1]
        ),
    ]
    assert [r.status_code for r in attempts] == [404, 404, 404, 404]
    assert snapshot(db, a.id) == before


def test_b_cannot_see_a_import_or_its_error_report(client, db, tenants):
    a, b, ids, _ = tenants
    job = ids["import_id"][0]
    for path in (
        f"/contacts/imports/{job}",
        f"/contacts/imports/{job}/progress",
        f"/contacts/imports/{job}/errors.csv",
    ):
        response = client.get(path, headers=bearer(b.shop_domain))
        assert response.status_code == 404, path
        assert "Lovelace" not in response.get_data(as_text=True)
    page = client.get("/contacts/imports/new", headers=bearer(b.shop_domain))
    assert page.status_code == 200
    assert "a-secret-list.csv" not in page.get_data(as_text=True)
    # A sees its own report
    report = client.get(f"/contacts/imports/{job}/errors.csv", headers=bearer(a.shop_domain))
    assert report.status_code == 200 and "Lovelace row rejected" in report.get_data(as_text=True)


def _shown(body: str) -> tuple[set[str], str, int | None]:
    """Phones in the results table, the table's text, and the match count if any."""
    table = (
        body.split('id="contacts-table"', 1)[1].split("</table>", 1)[0]
        if 'id="contacts-table"' in body
        else ""
    )
    count = re.search(r'id="match-count">\s*([\d,]+) contact', body)
    return set(PHONE_CELL.findall(table)), table, int(count.group(1)) if count else None


def test_b_list_search_and_export_never_contain_a_phones(client, db, tenants):
    a, b, _, b_contact = tenants
    # the export expunges the (shared, in tests) session: keep plain values
    a_domain, b_domain = a.shop_domain, b.shop_domain
    b_htmx = {**bearer(b_domain), "HX-Request": "true"}
    queries = [
        {},
        {"q": A_PHONES[0]},
        {"q": "(201) 555-0101"},
        {"q": "1201555"},
        {"q": "+1"},
        {"q": "Ada"},
        {"q": "lovelace"},
        {"q": "ada lovelace"},
        {"q": "only-in-shop-a"},
        {"tag": "only-in-shop-a"},
        {"consent": "pending"},
        {"consent": "subscribed"},
        {"q": "+1", "consent": "subscribed"},
        {"after": "999999"},
    ]
    for params in queries:
        for headers in (b_htmx, bearer(b_domain)):
            response = client.get("/contacts", query_string=params, headers=headers)
            assert response.status_code == 200, params
            phones, table, count = _shown(response.get_data(as_text=True))
            assert phones <= {B_PHONE}, params
            assert "Lovelace" not in table and "only-in-shop-a" not in table, params
            assert count is None or count == len(phones), params
        export = client.get("/contacts/export.csv", query_string=params, headers=b_htmx)
        body = export.get_data(as_text=True)
        assert export.status_code == 200, params
        assert not any(p in body for p in A_PHONES), params
        assert "Lovelace" not in body and "only-in-shop-a" not in body, params
    # control: B sees its own contact, A sees its own
    assert _shown(client.get("/contacts", headers=b_htmx).get_data(as_text=True))[0] == {B_PHONE}
    export = client.get("/contacts/export.csv", headers=bearer(b_domain))
    assert [row["phone"] for row in csv.DictReader(io.StringIO(export.get_data(as_text=True)))] == [
        B_PHONE
    ]
    a_page = client.get("/contacts", headers=bearer(a_domain)).get_data(as_text=True)
    assert _shown(a_page)[0] == set(A_PHONES)


def test_totals_and_home_page_are_per_shop(client, db, tenants):
    a, b, _, _ = tenants
    b_page = client.get("/contacts", headers=bearer(b.shop_domain)).get_data(as_text=True)
    assert 'id="total-all">1<' in b_page
    a_page = client.get("/contacts", headers=bearer(a.shop_domain)).get_data(as_text=True)
    assert 'id="total-all">2<' in a_page
    home = client.get("/", headers=bearer(b.shop_domain))
    assert home.status_code == 200
    assert "a-secret-list.csv" not in home.get_data(as_text=True)


def test_same_phone_in_b_leaves_a_untouched_and_settings_are_per_shop(client, db, tenants):
    a, b, ids, _ = tenants
    before = snapshot(db, a.id)
    created = client.post(
        "/contacts", data={"phone": "(201) 555-0101"}, headers=bearer(b.shop_domain)
    )
    assert created.status_code == 303
    settings = client.post(
        "/settings",
        data={"default_region": "GR", "timezone": "Europe/Athens", "sender_id": "Beta"},
        headers=bearer(b.shop_domain),
    )
    assert settings.status_code == 200
    assert snapshot(db, a.id) == before
    phones = db.session.execute(
        select(contacts.Contact.shop_id).where(contacts.Contact.phone == A_PHONES[0])
    ).scalars()
    assert sorted(phones) == sorted([a.id, b.id])
