"""Issue #10, item 22: the storefront contact form's submissions, for the merchant."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from astronote.models import StorefrontSubmission
from tests.conftest import bearer

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def submit(db, shop, n: int, **fields) -> list[StorefrontSubmission]:
    rows = [
        StorefrontSubmission(
            shop_id=shop.id,
            name=fields.get("name", f"Visitor {i}"),
            email=fields.get("email", f"v{i}@example.com"),
            phone=fields.get("phone"),
            message=fields.get("message", f"Question number {i}"),
            created_at=T0 + timedelta(minutes=i),
        )
        for i in range(n)
    ]
    db.session.add_all(rows)
    db.session.commit()
    return rows


def test_list_is_newest_first_in_keyset_pages_and_scoped_to_the_shop(
    client, db, shop, make_shop, doc_auth
):
    submit(db, shop, 55)
    other = make_shop("beta.myshopify.com")
    submit(db, other, 1, name="Beta visitor", message="not yours")
    first = client.get("/submissions", headers=doc_auth)
    body = first.get_data(as_text=True)
    assert first.status_code == 200
    assert body.index("Question number 54") < body.index("Question number 53")
    assert "Question number 5<" in body and "Question number 4<" not in body  # 50 a page
    assert "not yours" not in body and "Beta visitor" not in body
    assert "Dec 1, 2026 07:54 (America/New_York)" in body  # the shop's zone, labelled
    cursor = body.split('rel="next" href="/submissions?after=')[1].split('"')[0]
    second = client.get(f"/submissions?after={cursor}", headers=doc_auth).get_data(as_text=True)
    for i in range(5):
        assert f"Question number {i}<" in second
    assert "Question number 5<" not in second and 'rel="next"' not in second
    # htmx asks for the table only; a bad cursor is the first page, never a 500
    partial = client.get(f"/submissions?after={cursor}", headers={**doc_auth, "HX-Request": "true"})
    assert "<html" not in partial.get_data(as_text=True)
    assert client.get("/submissions?after=²", headers=doc_auth).status_code == 200


def test_empty_list_and_nav_link(client, shop, doc_auth):
    body = client.get("/submissions", headers=doc_auth).get_data(as_text=True)
    assert "No contact-form submissions yet." in body
    assert "Export CSV" not in body
    assert 'href="/submissions">Submissions</s-link>' in body  # the admin's navigation


def test_csv_export_neutralises_formulas_and_is_scoped(client, db, shop, make_shop, doc_auth):
    submit(db, shop, 2)
    hostile = submit(db, shop, 1, name='=HYPERLINK("http://x","y")', message="@SUM(A1)")[0]
    submit(db, make_shop("beta.myshopify.com"), 1, message="not yours")
    response = client.get("/submissions/export.csv", headers=doc_auth)
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["received_at", "name", "email", "phone", "message", "handled_at"]
    assert len(rows) == 4
    assert rows[1][1] == "'" + hostile.name and rows[1][4] == "'@SUM(A1)"  # newest first
    assert "not yours" not in response.get_data(as_text=True)


def test_pages_need_a_session(client, db, shop, make_shop):
    submit(db, shop, 1, message="private")
    assert client.get("/submissions").status_code == 401
    denied = client.get("/submissions/export.csv", headers={"Authorization": "Bearer forged"})
    assert denied.status_code == 401 and b"private" not in denied.data
    other = make_shop("beta.myshopify.com")
    theirs = client.get("/submissions", headers=bearer(other.shop_domain))
    assert b"private" not in theirs.data


def test_a_submission_is_marked_handled_and_reopened_within_its_shop(
    client, db, shop, make_shop, auth
):
    [row] = submit(db, shop, 1)
    [theirs] = submit(db, make_shop("beta.myshopify.com"), 1)
    done = client.post(f"/submissions/{row.id}/handled", data={"handled": "yes"}, headers=auth)
    body = done.get_data(as_text=True)
    assert done.status_code == 200 and "Handled" in body and "Reopen" in body
    db.session.expire_all()
    assert db.session.get(StorefrontSubmission, row.id).handled_at is not None
    export = client.get("/submissions/export.csv", headers=auth).get_data(as_text=True)
    [exported] = list(csv.DictReader(io.StringIO(export)))
    assert exported["handled_at"]  # the export says when
    reopened = client.post(f"/submissions/{row.id}/handled", data={"handled": "no"}, headers=auth)
    assert reopened.status_code == 200 and "Mark handled" in reopened.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(StorefrontSubmission, row.id).handled_at is None
    # another shop's submission is simply not found, and stays untouched
    assert client.post(f"/submissions/{theirs.id}/handled", headers=auth).status_code == 404
    db.session.expire_all()
    assert db.session.get(StorefrontSubmission, theirs.id).handled_at is None
