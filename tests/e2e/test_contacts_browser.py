"""Drive the contacts pages in headless Chromium, as a merchant would."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def _sign_in(page):
    page.goto("/contacts")
    expect(page).to_have_url(re.compile(r"/dev/sign-in"))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Contacts")).to_be_visible()


def test_add_contact_then_find_it_by_search(page):
    _sign_in(page)
    page.get_by_role("link", name="Add contact").click()
    page.get_by_label("Phone").fill("(212) 555-0199")
    page.get_by_label("First name").fill("Grace")
    page.get_by_label("Last name").fill("Hopper")
    page.get_by_label("SMS marketing consent").select_option("subscribed")
    page.get_by_label("This person agreed to receive SMS marketing").check()  # the attestation
    page.get_by_role("button", name="Add contact").click()
    expect(page.get_by_role("heading", name="Grace Hopper")).to_be_visible()
    expect(page.locator("#consent-history")).to_contain_text("Subscribed")

    page.goto("/contacts")
    page.get_by_role("searchbox", name="Search contacts").fill("grace")
    expect(page.locator("#contacts-table tbody tr")).to_have_count(1)
    expect(page.locator("#contacts-table")).to_contain_text("+12125550199")


def test_invalid_phone_shows_field_error_in_place(page):
    _sign_in(page)
    page.goto("/contacts/new")
    page.get_by_label("Phone").fill("12")
    page.get_by_role("button", name="Add contact").click()
    expect(page.locator(".field-error")).to_contain_text("not a")
    expect(page).to_have_url(re.compile(r"/contacts/new$"))


def test_import_csv_and_watch_progress_finish(page, tmp_path):
    rows = "".join(f"+1212555{n:04d},Guest{n},subscribed\n" for n in range(1000, 1600))
    csv_file = tmp_path / "guests.csv"
    csv_file.write_text("phone,first_name,consent\n" + rows + "oops,Bad,\n")
    _sign_in(page)
    before = int(page.locator("#total-all").inner_text().replace(",", ""))
    page.goto("/contacts/imports/new")
    page.get_by_label("CSV file").set_input_files(str(csv_file))
    page.get_by_label(re.compile("agreed to receive SMS marketing")).check()
    page.get_by_role("button", name="Import").click()
    progress = page.locator("#import-progress")
    expect(progress).to_have_attribute("data-status", "completed", timeout=30_000)
    expect(progress).to_contain_text("Import complete")
    expect(page.locator("#created-count")).to_have_text("600")
    expect(page.locator("#error-count")).to_have_text("1")
    expect(page.get_by_role("link", name="Download the error report")).to_be_visible()
    page.get_by_role("link", name="View contacts").click()
    expect(page.locator("#total-all")).to_have_text(f"{before + 600:,}")
