"""CSV import end to end through the upload view (Huey runs the task inline)."""

from astronote.models import ContactImportError, Shop
from astronote.services.contacts import counts as contact_counts

HEADER = b"phone,first_name,last_name,email,gender,birth_date,consent,tags\n"


def test_import_creates_contacts_with_normalised_phones_and_tags(upload, state, shop):
    body = HEADER + (
        b"+14155550123,Ada,Lovelace,ADA@Example.com,female,1990-12-10,subscribed,"
        b'"vip, Newsletter"\n'
        b"(415) 555-0124,Bob,,,m,,no,\n"
    )
    response = upload(body)
    assert response.status_code == 204
    assert "/contacts/imports/" in response.headers["HX-Location"]
    job = state.last_import()
    assert (job.status, job.created_count, job.updated_count, job.error_count) == (
        "completed",
        2,
        0,
        0,
    )
    contacts = state.contacts(shop)
    assert set(contacts) == {"+14155550123", "+14155550124"}
    ada = contacts["+14155550123"]
    assert (ada.email, ada.gender, str(ada.birth_date)) == (
        "ada@example.com",
        "female",
        "1990-12-10",
    )
    assert state.tags(ada) == ["newsletter", "vip"]
    assert contacts["+14155550124"].consent_state == "unsubscribed"
    assert [e.source for e in state.history(ada)] == ["import"]
    assert contact_counts.totals(shop.id)["all"] == 2


def test_reimport_updates_by_phone_and_keeps_values_of_missing_columns(upload, state, shop):
    upload(HEADER + b"+14155550123,Ada,Lovelace,ada@example.com,female,,subscribed,vip\n")
    response = upload(b"phone,first_name,tags\n+1 415 555 0123,Augusta,wholesale\n")
    assert response.status_code == 204
    job = state.last_import()
    assert (job.created_count, job.updated_count) == (0, 1)
    ada = state.contacts(shop)["+14155550123"]
    assert ada.first_name == "Augusta"
    assert ada.last_name == "Lovelace"  # column absent: untouched
    assert ada.consent_state == "subscribed"  # no consent column: consent never reset
    assert state.tags(ada) == ["vip", "wholesale"]
    assert len(state.history(ada)) == 1


def test_consent_change_on_reimport_is_recorded(upload, state, shop):
    upload(b"phone,consent\n+14155550123,subscribed\n")
    upload(b"phone,consent\n+14155550123,unsubscribed\n")
    contact = state.contacts(shop)["+14155550123"]
    assert contact.consent_state == "unsubscribed"
    assert [e.state for e in state.history(contact)] == ["subscribed", "unsubscribed"]
    totals = contact_counts.totals(shop.id)
    assert (totals["subscribed"], totals["unsubscribed"]) == (0, 1)


def test_row_errors_are_reported_per_line_and_downloadable(upload, state, client, auth, shop):
    body = HEADER + (
        b"+14155550123,Ada,,,,,,\n"
        b"not-a-phone,Bob,,,,,,\n"
        b"+14155550125,Cy,,bad-email,,,,\n"
        b"+14155550126,Di,,,,1990-13-01,,\n"
        b"+14155550127,Ed,,,,,maybe,\n"
        b"+14155550128,Flo,,,,,\n"
        b"+14155550123,Ada again,,,,,,\n"
    )
    upload(body)
    job = state.last_import()
    assert (job.status, job.created_count, job.error_count) == ("completed", 1, 6)
    report = client.get(f"/contacts/imports/{job.id}/errors.csv", headers=auth)
    lines = report.get_data(as_text=True).strip().splitlines()
    assert lines[0] == "line,phone,error"
    by_line = {int(line.split(",")[0]): line for line in lines[1:]}
    assert set(by_line) == {3, 4, 5, 6, 7, 8}
    assert "not a phone number" in by_line[3]
    assert "email" in by_line[4]
    assert "YYYY-MM-DD" in by_line[5]
    assert "columns" in by_line[7]
    assert "Duplicate phone" in by_line[8] and "line 2" in by_line[8]
    assert state.contacts(shop)["+14155550123"].first_name == "Ada"  # first row wins


def test_duplicates_across_batches_are_reported_not_applied(upload, state, shop, monkeypatch):
    monkeypatch.setattr("astronote.services.contacts.csv_import.BATCH_ROWS", 2)
    body = b"phone,first_name\n+14155550123,A\n+14155550124,B\n+14155550125,C\n+14155550123,D\n"
    upload(body)
    job = state.last_import()
    assert (job.created_count, job.error_count) == (3, 1)
    assert state.contacts(shop)["+14155550123"].first_name == "A"
    assert state.count(ContactImportError, import_id=job.id) == 1


def test_numbers_without_country_code_use_the_shop_region(upload, state, db, shop):
    shop.default_region = "GR"
    db.session.commit()
    upload(b"phone\n6912345678\n00306912345679\n")
    assert set(state.contacts(shop)) == {"+306912345678", "+306912345679"}


def test_import_never_touches_another_shop(upload, state, db, make_shop):
    other = make_shop("beta.myshopify.com")
    from astronote.services.contacts.csv_rows import ContactRecord
    from astronote.services.contacts.upsert import write_batch

    write_batch(
        other.id,
        0,
        {"first_name"},
        [ContactRecord(line=2, phone="+14155550123", first_name="Theirs")],
    )
    db.session.commit()
    upload(b"phone,first_name\n+14155550123,Ours\n")
    assert state.contacts(other)["+14155550123"].first_name == "Theirs"
    assert state.count(Shop) == 2
