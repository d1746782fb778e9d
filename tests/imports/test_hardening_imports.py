"""Issue #10, items 1-4: the error report, RFC 4180 parsing, Shopify's customer export,
and the import form."""

import csv
import io
import logging
import re
import threading
from decimal import Decimal

import pytest
from sqlalchemy import select

from astronote.models import ConsentEvent, Contact, ContactImport
from tests.conftest import bearer

# Shopify's customer export, in its own column order (Customers > Export > CSV).
SHOPIFY_HEADER = (
    "Customer ID,First Name,Last Name,Email,Accepts Email Marketing,Default Address Company,"
    "Default Address Address1,Default Address Address2,Default Address City,"
    "Default Address Province Code,Default Address Country Code,Default Address Zip,"
    "Default Address Phone,Phone,Accepts SMS Marketing,Total Spent,Total Orders,Note,"
    "Tax Exempt,Tags\n"
)
SHOPIFY_ROWS = (
    # Phone and its SMS consent; Shopify writes numbers with a leading apostrophe.
    "'7210448301122,Ada,Lovelace,ada@example.com,no,,1 Main St,,San Francisco,CA,US,"
    "'94105,'+14155550999,'+14155550123,yes,248.50,2,Likes tea,no,\"VIP, newsletter\"\n"
    # No Phone: the default address's phone stands in. No SMS consent in Shopify.
    "'7210448301123,Bob,Builder,bob@example.com,yes,Acme,2 Side St,,Oakland,CA,US,"
    "'94607,(415) 555-0124,,no,0.00,0,,no,\n"
    # No consent column value at all, no totals.
    "'7210448301124,Cy,,,no,,,,,,,,,'+14155550125,,,,,no,wholesale\n"
)


def _in_thread(call):
    """Run `call` where no app context exists, as under gunicorn (the test's own app
    context would otherwise hide a body that needs one)."""
    outcome = {}

    def run():
        try:
            outcome["value"] = call()
        except BaseException as exc:  # handed back to the test
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


# Item 1: the error report.


def test_error_report_downloads_with_formulas_neutralised(upload, state, client, auth):
    body = (
        b"phone,first_name\n"
        b'"=HYPERLINK(""http://x"",""y"")",Eve\n'
        b"@SUM(1),Mallory\n"
        b"+14155550123,Ada\n"
    )
    upload(body)
    job = state.last_import()
    assert (job.created_count, job.error_count) == (1, 2)

    def download():
        response = client.get(f"/contacts/imports/{job.id}/errors.csv", headers=auth)
        return response.status_code, response.headers, response.get_data(as_text=True)

    status, headers, text = _in_thread(download)
    assert status == 200
    assert headers["Content-Type"].startswith("text/csv")
    assert f"import-{job.id}-errors.csv" in headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["line", "phone", "error"]
    assert [r[:2] for r in rows[1:]] == [
        ["2", '\'=HYPERLINK("http://x","y")'],
        ["3", "'@SUM(1)"],
    ]
    assert all(not r[2].startswith(("=", "+", "-", "@")) for r in rows[1:])


def test_a_failure_inside_a_streamed_response_is_logged_as_an_error(
    upload, state, client, auth, monkeypatch, caplog
):
    upload(b"phone\nnot-a-phone\n")
    job = state.last_import()

    def broken(job):
        yield "line,phone,error\r\n"
        raise RuntimeError("database went away")

    monkeypatch.setattr("astronote.views.imports.import_error_lines", broken)
    caplog.set_level(logging.INFO, logger="astronote.streaming")
    response = client.get(f"/contacts/imports/{job.id}/errors.csv", headers=auth)
    assert response.status_code == 200  # the headers were sent before the body failed
    with pytest.raises(RuntimeError, match="database went away"):
        response.get_data()
    [record] = [r for r in caplog.records if r.name == "astronote.streaming"]
    assert record.levelno == logging.ERROR
    assert f"/contacts/imports/{job.id}/errors.csv" in record.getMessage()
    assert record.exc_info[0] is RuntimeError


# Item 2: RFC 4180 everywhere; only the delimiter is sniffed.


def test_doubled_quotes_past_the_first_8_kb_are_read_as_rfc_4180(upload, state, shop):
    # Quoted fields without doubled quotes in the sniffed sample used to turn doublequote off.
    rows = b"".join(b'+1415555%04d,"Smith, Jr",x\n' % n for n in range(1000, 1400))
    assert len(rows) > 8192
    late = (
        b'+14155559998,"=HYPERLINK(""http://x"",""y"")",x\n+14155559999,"Bob ""the builder""",x\n'
    )
    upload(b"phone,first_name,last_name\n" + rows + late)
    job = state.last_import()
    assert (job.status, job.created_count, job.error_count) == ("completed", 402, 0)
    contacts = state.contacts(shop)
    assert contacts["+14155559998"].first_name == '=HYPERLINK("http://x","y")'
    assert contacts["+14155559999"].first_name == 'Bob "the builder"'
    assert contacts["+14155551000"].first_name == "Smith, Jr"


def test_the_delimiter_is_still_sniffed_with_rfc_4180_quoting(upload, state, shop):
    upload(b'phone;first_name\n+14155550123;"Ada ""Countess"" Lovelace"\n+14155550124;Bob\n')
    contacts = state.contacts(shop)
    assert contacts["+14155550123"].first_name == 'Ada "Countess" Lovelace'
    assert contacts["+14155550124"].first_name == "Bob"


# Item 3: a Shopify customer export imports as it is.


def test_a_shopify_customer_export_imports_as_it_is(upload, state, shop, db):
    upload((SHOPIFY_HEADER + SHOPIFY_ROWS).encode())
    job = state.last_import()
    assert (job.status, job.created_count, job.error_count) == ("completed", 3, 0)
    contacts = state.contacts(shop)
    assert set(contacts) == {"+14155550123", "+14155550124", "+14155550125"}

    ada = contacts["+14155550123"]  # Phone wins over Default Address Phone
    assert (ada.first_name, ada.last_name, ada.email) == ("Ada", "Lovelace", "ada@example.com")
    assert ada.consent_state == "subscribed"
    assert ada.consent_source == "import"
    [event] = state.history(ada)
    assert event.state == "subscribed"
    assert event.evidence == f"CSV import #{job.id} (merchant attested consent), line 2"
    assert state.tags(ada) == ["newsletter", "vip"]
    assert (ada.orders_count, Decimal(ada.amount_spent)) == (2, Decimal("248.50"))

    bob = contacts["+14155550124"]  # from Default Address Phone
    assert bob.consent_state == "not_subscribed"  # "Accepts Email Marketing: yes" is not SMS
    assert state.history(bob) == []
    assert (bob.orders_count, Decimal(bob.amount_spent)) == (0, Decimal("0"))

    cy = contacts["+14155550125"]
    assert (cy.consent_state, state.tags(cy)) == ("not_subscribed", ["wholesale"])
    assert (cy.orders_count, Decimal(cy.amount_spent)) == (0, Decimal("0"))


def test_a_shopify_reimport_updates_totals_and_never_takes_consent_away(upload, state, shop):
    upload(b"phone,consent\n+14155550123,subscribed\n+14155550124,unsubscribed\n")
    upload(
        (
            SHOPIFY_HEADER
            + "1,Ada,,,no,,,,,,,,,'+14155550123,no,1234.05,7,,no,\n"
            + "2,Bob,,,no,,,,,,,,,'+14155550124,yes,,3,,no,\n"
        ).encode()
    )
    job = state.last_import()
    assert (job.created_count, job.updated_count, job.error_count) == (0, 2, 0)
    contacts = state.contacts(shop)
    ada, bob = contacts["+14155550123"], contacts["+14155550124"]
    # "no" only says Shopify holds no SMS consent: it is not an opt-out.
    assert ada.consent_state == "subscribed"
    assert [e.state for e in state.history(ada)] == ["subscribed"]
    assert (ada.orders_count, Decimal(ada.amount_spent)) == (7, Decimal("1234.05"))
    # "yes" is a consent, under this import's attestation.
    assert bob.consent_state == "subscribed"
    assert [e.state for e in state.history(bob)] == ["unsubscribed", "subscribed"]
    assert (bob.orders_count, Decimal(bob.amount_spent)) == (3, Decimal("0"))  # empty: kept

    upload(b"phone,total spent\n+14155550123,\n")  # an empty cell never erases
    assert Decimal(state.contacts(shop)["+14155550123"].amount_spent) == Decimal("1234.05")


def test_bad_shopify_values_refuse_only_their_row(upload, state, shop):
    upload(
        (
            SHOPIFY_HEADER
            + "1,Ada,,,no,,,,,,,,,'+14155550123,maybe,1.00,1,,no,\n"
            + '2,Bob,,,no,,,,,,,,,\'+14155550124,yes,"1,234.00",1,,no,\n'
            + "3,Cy,,,no,,,,,,,,,'+14155550125,yes,1.00,²,,no,\n"
            + "4,Dee,,,no,,,,,,,,,'+14155550126,yes,99999999.99,12,,no,\n"
        ).encode()
    )
    job = state.last_import()
    assert (job.created_count, job.error_count) == (1, 3)
    dee = state.contacts(shop)["+14155550126"]
    assert (dee.consent_state, dee.orders_count) == ("subscribed", 12)
    assert Decimal(dee.amount_spent) == Decimal("99999999.99")


def _snapshot(db, shop):
    columns = ["phone", "first_name", "last_name", "email", "consent_state", "consent_source"]
    columns += ["orders_count", "amount_spent"]
    query = select(Contact).filter_by(shop_id=shop.id).order_by(Contact.phone)
    rows = []
    for c in db.session.execute(query).scalars():
        values = [getattr(c, name) for name in columns]
        values[columns.index("amount_spent")] = Decimal(c.amount_spent)
        events = db.session.execute(
            select(ConsentEvent.state, ConsentEvent.source).filter_by(contact_id=c.id)
        ).all()
        rows.append((values, [tuple(e) for e in events]))
    return rows


def test_copy_and_generic_paths_write_the_same_rows(client, make_shop, db, monkeypatch):
    """On PostgreSQL the import COPYs; the generic path (its fallback) must agree."""
    files = [
        (SHOPIFY_HEADER + SHOPIFY_ROWS).encode(),
        (SHOPIFY_HEADER + "1,Ada,,,no,,,,,,,,,'+14155550123,no,9.99,5,,no,extra\n").encode(),
    ]
    results = []
    for domain, generic in (("copy.myshopify.com", False), ("generic.myshopify.com", True)):
        shop = make_shop(domain, default_region="US")
        if generic:
            monkeypatch.setattr("astronote.services.contacts.upsert.on_postgres", lambda: False)
        for body in files:
            data = {"file": (io.BytesIO(body), "customers_export.csv"), "consent_attested": "1"}
            response = client.post(
                "/contacts/imports",
                data=data,
                headers={**bearer(domain), "HX-Request": "true"},
                content_type="multipart/form-data",
            )
            assert response.status_code == 204
        db.session.expire_all()
        results.append(_snapshot(db, shop))
    on_copy, on_generic = results
    assert len(on_copy) == 3
    assert on_copy == on_generic


# Item 4: the import form.


def test_the_consent_checkbox_label_is_one_column_and_required(client, doc_auth):
    page = client.get("/contacts/imports/new", headers=doc_auth).get_data(as_text=True)
    label = re.search(r"<label for=\"f-consent\">(.*?)</label>", page, re.S).group(1)
    # A flex label: its direct children are the checkbox and one span, nothing else.
    outside = re.sub(r"<span class=\"checkbox-text\">.*</span>", "", label, flags=re.S)
    assert re.fullmatch(r"\s*<input [^>]*>\s*", outside)
    assert re.search(
        r'<input id="f-consent" type="checkbox" name="consent_attested"[^>]* required', label
    )
    assert "<em>subscribed</em>" in label


def test_a_refused_upload_keeps_the_chosen_file(upload, state, client, auth):
    # The browser refuses to send the form without the attestation (`required`); should a
    # request arrive without it anyway, the server still refuses before storing anything,
    # and the form it sends back lets htmx keep the file input, with the file chosen.
    response = upload(b"phone\n+14155550123\n", attested=False)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Confirm that subscribed contacts agreed" in html
    assert re.search(r'<input id="f-file" type="file" name="file"[^>]* hx-preserve', html)
    assert state.count(ContactImport) == 0
