"""Issue #10 item 5: a contact added by hand is not subscribed unless the merchant
subscribes them and attests their consent; the attestation is kept as evidence."""

import json
import re

from sqlalchemy import func, select

from astronote.models import ConsentEvent, Contact
from astronote.services.contacts import counts as contact_counts

PHONE = "+14155550123"


def _post(client, auth, path="/contacts", **form):
    return client.post(path, data={"phone": PHONE, **form}, headers=auth)


def _contact_id(response) -> int:
    assert response.status_code == 204, response.get_data(as_text=True)
    return int(json.loads(response.headers["HX-Location"])["path"].rsplit("/", 1)[1])


def _events(db, contact_id) -> list[ConsentEvent]:
    db.session.expire_all()
    query = select(ConsentEvent).filter_by(contact_id=contact_id).order_by(ConsentEvent.id)
    return list(db.session.execute(query).scalars())


def test_add_contact_page_defaults_to_not_subscribed(client, doc_auth):
    page = client.get("/contacts/new", headers=doc_auth).get_data(as_text=True)
    selected = re.findall(r'<option value="([a-z_]+)" selected>', page)
    assert selected == ["not_subscribed"]
    assert 'name="consent_attested"' in page
    checkbox = re.search(r'<input id="f-consent_attested"[^>]*>', page).group(0)
    assert "checked" not in checkbox


def test_a_contact_posted_without_a_consent_state_is_not_subscribed(client, auth, db):
    contact = db.session.get(Contact, _contact_id(_post(client, auth)))
    assert contact.consent_state == "not_subscribed"


def test_subscribing_by_hand_without_attestation_is_refused(client, auth, db, shop):
    response = _post(client, auth, consent_state="subscribed", first_name="Ada")
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "Tick the box to confirm this person agreed" in body
    assert 'value="Ada"' in body  # nothing typed is lost
    assert db.session.execute(select(func.count()).select_from(Contact)).scalar_one() == 0
    assert contact_counts.totals(shop.id)["all"] == 0


def test_an_attested_subscription_is_recorded_as_evidence(client, auth, db):
    contact_id = _contact_id(_post(client, auth, consent_state="subscribed", consent_attested="on"))
    assert db.session.get(Contact, contact_id).consent_state == "subscribed"
    [event] = _events(db, contact_id)
    assert (event.state, event.source) == ("subscribed", "merchant")
    assert "attested the contact gave express consent" in event.evidence
    assert "staff user" in event.evidence


def test_an_edit_that_subscribes_needs_the_attestation_too(client, auth, db):
    contact_id = _contact_id(_post(client, auth, consent_state="not_subscribed"))
    path = f"/contacts/{contact_id}"
    refused = _post(client, auth, path, consent_state="subscribed")
    assert refused.status_code == 422
    db.session.expire_all()
    assert db.session.get(Contact, contact_id).consent_state == "not_subscribed"
    assert len(_events(db, contact_id)) == 1

    assert (
        _post(client, auth, path, consent_state="subscribed", consent_attested="on").status_code
        == 204
    )
    events = _events(db, contact_id)
    assert [e.state for e in events] == ["not_subscribed", "subscribed"]
    assert "attested" in events[-1].evidence and "attested" not in events[0].evidence

    # Saving a contact who is already subscribed needs no new attestation, adds no event.
    assert (
        _post(client, auth, path, consent_state="subscribed", first_name="Ada").status_code == 204
    )
    assert len(_events(db, contact_id)) == 2
