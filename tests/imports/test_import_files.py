"""Whole-file problems fail cleanly, with a clear message and nothing written."""

import codecs

import pytest

from astronote.models import Contact, ContactImportChunk


def _assert_failed_cleanly(state, shop, fragment: str):
    job = state.last_import()
    assert job.status == "failed"
    assert fragment in job.failure_reason
    assert state.count(Contact, shop_id=shop.id) == 0
    return job


def test_missing_phone_column_names_the_columns_found(upload, state, shop, client, auth):
    upload(b"name,email\nAda,ada@example.com\n")
    job = _assert_failed_cleanly(state, shop, "no phone column")
    assert "name, email" in job.failure_reason
    page = client.get(f"/contacts/imports/{job.id}/progress", headers=auth)
    assert page.status_code == 286
    assert "no contacts were changed" in page.get_data(as_text=True)


def test_latin1_bytes_declared_utf8_fail_with_encoding_advice(upload, state, shop):
    upload("phone,first_name\n+14155550123,Zoë\n".encode("latin-1"))
    _assert_failed_cleanly(state, shop, "not valid UTF-8")


def test_an_encoding_error_late_in_the_file_writes_nothing(upload, state, shop, monkeypatch):
    monkeypatch.setattr("astronote.services.contacts.csv_import.BATCH_ROWS", 10)
    rows = b"".join(b"+1415555%04d,Name\n" % n for n in range(100, 400))
    upload(b"phone,first_name\n" + rows + "+14155559999,Zoë\n".encode("latin-1"))
    _assert_failed_cleanly(state, shop, "not valid UTF-8")


def test_windows_1252_file_imports_when_declared(upload, state, shop):
    upload("phone,first_name\n+14155550123,Zoë\n".encode("cp1252"), encoding="windows-1252")
    assert state.contacts(shop)["+14155550123"].first_name == "Zoë"


def test_utf16_with_bom_is_detected(upload, state, shop):
    upload(codecs.BOM_UTF16_LE + "phone;first_name\r\n+14155550123;Éva\r\n".encode("utf-16-le"))
    assert state.contacts(shop)["+14155550123"].first_name == "Éva"


def test_semicolon_delimited_excel_export_with_bom(upload, state, shop):
    upload(codecs.BOM_UTF8 + "Phone Number;First Name\r\n+14155550123;Chloé\r\n".encode())
    assert state.contacts(shop)["+14155550123"].first_name == "Chloé"


def test_binary_file_is_refused(upload, state, shop):
    upload(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    _assert_failed_cleanly(state, shop, "not a CSV text file")


def test_a_nul_byte_past_the_first_block_fails_the_file_and_writes_nothing(upload, state, shop):
    rows = b"".join(b"+1415555%04d,Name\n" % n for n in range(100, 600))  # > 4 KiB
    upload(b"phone,first_name\n" + rows + b"+14155559999,Ze\x00ro\n")
    _assert_failed_cleanly(state, shop, "NUL byte")


def test_unterminated_quote_is_malformed(upload, state, shop):
    upload(b'phone,first_name\n+14155550123,"Ada\n+14155550124,Bob\n')
    _assert_failed_cleanly(state, shop, "malformed")


def test_empty_upload_is_refused_at_the_form(upload, state):
    response = upload(b"")
    assert response.status_code == 422
    assert "The file is empty." in response.get_data(as_text=True)
    assert state.count(ContactImportChunk) == 0


def test_header_only_file_completes_with_nothing_to_do(upload, state):
    upload(b"phone,first_name\n")
    job = state.last_import()
    assert (job.status, job.total_rows, job.created_count) == ("completed", 0, 0)


def test_consent_attestation_is_required(upload, state):
    response = upload(b"phone\n+14155550123\n", attested=False)
    assert response.status_code == 422
    assert "Confirm that subscribed contacts" in response.get_data(as_text=True)


def test_unknown_encoding_choice_is_a_field_error(upload):
    response = upload(b"phone\n+14155550123\n", encoding="ebcdic")
    assert response.status_code == 422


@pytest.mark.parametrize("size_mb", [100])
def test_a_100mb_upload_gets_a_clear_message(upload, state, size_mb):
    response = upload(b"phone\n" + b"+14155550123\n" * (size_mb * 1024 * 1024 // 13))
    assert response.status_code == 413
    body = response.get_data(as_text=True)
    assert "File too large" in body and "75 MB" in body
    assert state.count(ContactImportChunk) == 0
