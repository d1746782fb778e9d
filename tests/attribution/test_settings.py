"""Settings → Messaging rules → Revenue attribution: the two windows, validated per field."""

from __future__ import annotations

import pytest

from tests.views.test_compliance_settings import VALID, errors_in, stored


def post(client, auth, **changes):
    return client.post("/settings/messaging", data={**VALID, **changes}, headers=auth)


def test_the_page_shows_the_default_windows(client, doc_auth, shop):
    body = client.get("/settings", headers=doc_auth).get_data(as_text=True)
    assert 'name="attribution_click_days" type="number" value="5"' in body
    assert 'name="attribution_delivery_hours" type="number" value="24"' in body


def test_saving_the_windows(client, auth, db, shop):
    response = post(client, auth, attribution_click_days="7", attribution_delivery_hours="0")
    assert response.status_code == 200, errors_in(response.get_data(as_text=True))
    saved = stored(db, shop.id)
    assert (saved.attribution_click_days, saved.attribution_delivery_hours) == (7, 0)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("attribution_click_days", "0"),
        ("attribution_click_days", "31"),
        ("attribution_click_days", "2.5"),
        ("attribution_click_days", ""),
        ("attribution_delivery_hours", "169"),
        ("attribution_delivery_hours", "-1"),
        ("attribution_delivery_hours", "9" * 40),
        ("attribution_delivery_hours", "24h"),
    ],
)
def test_a_bad_window_is_a_field_error_and_nothing_is_saved(client, auth, db, shop, name, value):
    response = post(client, auth, **{name: value})
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert errors_in(body) == [name]
    saved = stored(db, shop.id)
    assert (saved.attribution_click_days, saved.attribution_delivery_hours) == (5, 24)
    assert saved.frequency_cap_hours == 16  # the valid fields were not written either
