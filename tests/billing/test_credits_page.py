"""The credits page: balance, ledger keyset pages and filter, CSV export, the low-balance
threshold and the banner every page shows; each shop sees only its own."""

from __future__ import annotations

import csv
import io
import re

from sqlalchemy import inspect, text

from astronote.services import credits
from tests.conftest import bearer


def _fill(shop_id: int, n: int) -> None:
    for i in range(n):
        credits.grant(shop_id, 10, f"g{i}", f"grant {i}")
    credits.reserve(shop_id, 5, "r1")


def _ids(body: str) -> list[int]:
    return [int(x) for x in re.findall(r'data-entry="(\d+)"', body)]


def test_balance_and_ledger_pages_walk_every_entry_once(client, shop, auth, doc_auth, db):
    _fill(shop.id, 120)
    db.session.commit()
    page = client.get("/billing/", headers=doc_auth)
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'id="balance-available">1,195<' in body and 'id="balance-reserved">5<' in body
    seen, url = [], "/billing/"
    while url:
        fragment = client.get(url, headers=auth).get_data(as_text=True)  # htmx: the ledger only
        assert "<html" not in fragment
        seen += _ids(fragment)
        found = re.search(r'rel="next" href="([^"]+)"', fragment)
        url = found.group(1).replace("&amp;", "&") if found else None
    assert len(seen) == 121 and len(set(seen)) == 121 and seen == sorted(seen, reverse=True)
    reserves = _ids(client.get("/billing/?kind=reserve", headers=auth).get_data(as_text=True))
    assert len(reserves) == 1
    assert client.get("/billing/?kind=bogus", headers=doc_auth).status_code == 422
    assert client.get("/billing/?after=abc", headers=doc_auth).status_code == 200


def test_csv_export_streams_everything_with_formulas_neutralised(client, shop, doc_auth, db):
    _fill(shop.id, 3)
    credits.grant(shop.id, 1, "evil", '=HYPERLINK("http://x","y")')
    credits.release(shop.id, 5, "rel")
    db.session.commit()
    response = client.get("/billing/ledger.csv", headers=doc_auth)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.is_streamed
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == 6
    assert rows[0]["kind"] == "release" and rows[0]["reserved_delta"] == "-5"
    assert rows[1]["note"] == '\'=HYPERLINK("http://x","y")'
    only = client.get("/billing/ledger.csv?kind=grant", headers=doc_auth).get_data(as_text=True)
    assert len(list(csv.DictReader(io.StringIO(only)))) == 4


def test_each_shop_sees_only_its_own_ledger(client, shop, make_shop, doc_auth, db):
    other = make_shop("beta.myshopify.com")
    credits.grant(other.id, 777, "theirs", "their secret note")
    db.session.commit()
    body = client.get("/billing/", headers=doc_auth).get_data(as_text=True)
    assert "their secret note" not in body and 'id="balance-available">0<' in body
    csv_body = client.get("/billing/ledger.csv", headers=doc_auth).get_data(as_text=True)
    assert "their secret note" not in csv_body
    theirs = client.get("/billing/", headers=bearer(other.shop_domain)).get_data(as_text=True)
    assert "their secret note" in theirs


def test_threshold_setting_and_the_banner_on_every_page(client, shop, doc_auth, db):
    credits.grant(shop.id, 300, "g", "start")
    db.session.commit()
    assert 'id="low-balance-banner"' in client.get("/contacts", headers=doc_auth).get_data(
        as_text=True
    )  # below the default alert of 500
    for bad in ("abc", "-5", "1e3", "99999999999", "", "²", "١٢"):  # non-ASCII digits too
        response = client.post(
            "/billing/settings", data={"low_balance_threshold": bad}, headers=doc_auth
        )
        assert response.status_code == 422, bad
        assert "Enter a whole number" in response.get_data(as_text=True)
    saved = client.post(
        "/billing/settings", data={"low_balance_threshold": "100"}, headers=doc_auth
    )
    assert saved.status_code == 200 and "Saved." in saved.get_data(as_text=True)
    for path in ("/contacts", "/campaigns", "/billing/", "/settings"):
        page = client.get(path, headers=doc_auth).get_data(as_text=True)
        assert 'id="low-balance-banner"' not in page, path
    client.post("/billing/settings", data={"low_balance_threshold": "1,000"}, headers=doc_auth)
    for path in ("/contacts", "/campaigns", "/billing/", "/settings"):
        page = client.get(path, headers=doc_auth).get_data(as_text=True)
        assert 'id="low-balance-banner"' in page and "300 credits available" in page, path
    # Auto top-up needs the plan: without it the switch stays off.
    client.post(
        "/billing/settings",
        data={"low_balance_threshold": "1000", "auto_topup": "on"},
        headers=doc_auth,
    )
    from astronote.services.billing import account

    assert account.settings_of(shop.id).auto_topup is False


def test_ledger_pages_are_served_by_an_index(app, db, shop):
    """Keyset pages stay fast at millions of entries: (shop, id) and (shop, kind, id)."""
    indexes = {
        i["name"]: i["column_names"] for i in inspect(db.engine).get_indexes("credit_ledger")
    }
    assert indexes["ix_credit_ledger_shop_id_id"] == ["shop_id", "id"]
    assert indexes["ix_credit_ledger_shop_kind_id"] == ["shop_id", "kind", "id"]
    if db.engine.dialect.name != "postgresql":
        return
    # With sequential scans priced out, the planner shows the page query can use them.
    db.session.execute(text("SET LOCAL enable_seqscan = off"))
    for where in ("", "AND kind = 'grant'"):
        plan = db.session.execute(
            text(
                "EXPLAIN SELECT * FROM credit_ledger WHERE shop_id = :s "
                f"{where} AND id < 1000000 ORDER BY id DESC LIMIT 51"
            ),
            {"s": shop.id},
        ).scalars()
        assert "Index" in " ".join(plan)
    db.session.rollback()
