"""Templates pages: the list by use case, create/edit/delete with the composer's checks,
"Use template" in the campaign composer and the flow editor, usage counted once per save,
tenancy. Every test runs on SQLite and on PostgreSQL (the `database_url` fixture).
"""

from __future__ import annotations

import html
import json
import re

import pytest
from sqlalchemy import select

from astronote.models import Automation, Campaign, MessageTemplate
from astronote.services.automations.catalogue import FLOWS
from astronote.services.templates import library, saved
from tests.conftest import bearer


def hx(shop) -> dict[str, str]:
    return {**bearer(shop.shop_domain), "HX-Request": "true"}


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def location(response) -> str:
    assert response.status_code == 204, (response.status_code, text(response)[:1500])
    return json.loads(response.headers["HX-Location"])["path"]


def create(client, shop, **fields):
    data = {"name": "Flash", "use_case": "sale", "body": "Hi {{first_name}}, 30% off!", **fields}
    return client.post("/templates", data=data, headers=hx(shop))


def stored(db, shop) -> list[MessageTemplate]:
    db.session.expire_all()
    query = select(MessageTemplate).where(MessageTemplate.shop_id == shop.id)
    return list(db.session.execute(query.order_by(MessageTemplate.id)).scalars())


def test_page_lists_library_and_own_templates_by_use_case(client, db, shop, doc_auth):
    assert location(create(client, shop, name="My holiday", use_case="holiday")) == "/templates"
    page = text(client.get("/templates", headers=doc_auth))
    assert page.count('class="template-card"') == len(library.TEMPLATES) + 1
    headings = re.findall(r'<h2 id="uc-\d+-title">([^<]+)</h2>', page)
    assert headings == [*library.CAMPAIGN_USE_CASES.values(), *(f.title for f in FLOWS.values())]
    holiday = page[page.index(">Holiday</h2>") : page.index(">Welcome</h2>")]
    assert "My holiday" in holiday and "Yours" in holiday  # filed under its use case
    assert FLOWS["shipping_update"].default_body in page
    assert "Not used yet" in page


def test_create_refuses_bad_input_and_keeps_what_was_typed(client, db, shop):
    response = create(client, shop, name="", body="Hi {{nickname}}")
    page = text(response)
    assert response.status_code == 422
    assert "Give the template a name." in page and "Unknown placeholder: {{nickname}}" in page
    assert "Hi {{nickname}}</textarea>" in page and 'id="sms-counter"' in page
    assert location(create(client, shop)) == "/templates"
    again = create(client, shop, name="flash")
    assert again.status_code == 422 and "already have a template" in text(again)
    assert [t.name for t in stored(db, shop)] == ["Flash"]


def test_edit_update_and_delete(client, db, shop, doc_auth):
    create(client, shop)
    template = stored(db, shop)[0]
    page = text(client.get(f"/templates/{template.id}", headers=doc_auth))
    assert "Hi {{first_name}}, 30% off!</textarea>" in page and "Not used yet" in page
    data = {"name": "Flash 2", "use_case": "new_arrival", "body": "New {{shop_name}}"}
    assert location(client.post(f"/templates/{template.id}", data=data, headers=hx(shop)))
    (changed,) = stored(db, shop)
    assert (changed.name, changed.use_case, changed.body) == (
        "Flash 2",
        "new_arrival",
        "New {{shop_name}}",
    )
    response = client.post(f"/templates/{template.id}/delete", headers=hx(shop))
    assert location(response) == "/templates"
    assert "Flash 2" in json.loads(response.headers["HX-Trigger"])["astronote:toast"]["message"]
    assert stored(db, shop) == []


def test_save_a_copy_of_a_library_template(client, shop, doc_auth):
    page = text(client.get("/templates/new?from=lib:back_in_stock", headers=doc_auth))
    assert 'value="Back in stock (copy)"' in page
    assert library.get("back_in_stock").body + "</textarea>" in page
    blank = text(client.get("/templates/new?from=lib:nope&use_case=holiday", headers=doc_auth))
    assert '<option value="holiday" selected>' in blank and "(copy)" not in blank


def test_another_shops_template_is_not_found(client, db, shop, make_shop, doc_auth):
    other = make_shop("beta.myshopify.com")
    theirs = saved.save(other, {"name": "Theirs", "use_case": "sale", "body": "X"})
    db.session.commit()
    assert client.get(f"/templates/{theirs.id}", headers=doc_auth).status_code == 404
    data = {"name": "Mine now", "use_case": "sale", "body": "Y"}
    assert client.post(f"/templates/{theirs.id}", data=data, headers=hx(shop)).status_code == 404
    assert client.post(f"/templates/{theirs.id}/delete", headers=hx(shop)).status_code == 404
    picked = client.get(f"/templates/pick/campaign/use?ref=own:{theirs.id}", headers=hx(shop))
    assert picked.status_code == 404
    assert [t.name for t in stored(db, other)] == ["Theirs"]
    assert "Theirs" not in text(client.get("/templates", headers=doc_auth))


def test_picker_offers_what_fits_and_use_fills_the_box(client, shop):
    picker = text(client.get("/templates/pick/campaign", headers=hx(shop)))
    assert 'data-template="lib:sale_percent"' in picker
    assert "lib:flow_order_confirmation" not in picker  # {{order_number}} cannot fill here
    flow_picker = text(client.get("/templates/pick/order_confirmation", headers=hx(shop)))
    assert "lib:flow_order_confirmation" in flow_picker
    used = text(client.get("/templates/pick/campaign/use?ref=lib:sale_percent", headers=hx(shop)))
    assert library.get("sale_percent").body + "</textarea>" in used
    assert (
        'id="f-body"' in used
        and 'name="template" value="lib:sale_percent" hx-swap-oob="true"' in used
    )
    for path in (
        "/templates/pick/nope",
        "/templates/pick/campaign/use?ref=lib:flow_order_confirmation",
    ):
        assert client.get(path, headers=hx(shop)).status_code == 404, path


def test_composer_and_editor_carry_the_picker(client, shop, doc_auth):
    compose = text(client.get("/campaigns/new", headers=doc_auth))
    assert 'hx-get="/templates/pick/campaign"' in compose and 'id="f-template"' in compose
    editor = text(client.get("/automations/win_back", headers=doc_auth))
    assert 'hx-get="/templates/pick/win_back"' in editor


def test_a_saved_campaign_counts_its_template_once(client, db, shop):
    create(client, shop)
    template = stored(db, shop)[0]
    ref = f"own:{template.id}"
    data = {"name": "Sale", "body": template.body, "intent": "draft", "template": ref}
    bad = client.post("/campaigns", data={**data, "name": ""}, headers=hx(shop))
    assert bad.status_code == 422 and f'name="template" value="{ref}"' in text(bad)
    assert stored(db, shop)[0].uses == 0  # nothing saved, nothing counted
    campaign_path = location(client.post("/campaigns", data=data, headers=hx(shop)))
    assert stored(db, shop)[0].uses == 1
    campaign = db.session.execute(select(Campaign).filter_by(shop_id=shop.id)).scalar_one()
    edit = text(client.get(f"{campaign_path}/edit", headers=hx(shop)))
    assert 'name="template" value=""' in edit  # a later save of the same campaign: no pick
    update = {**data, "body": "Changed", "template": ""}
    location(client.post(f"/campaigns/{campaign.id}", data=update, headers=hx(shop)))
    assert stored(db, shop)[0].uses == 1
    assert "Used once" in text(client.get("/templates", headers=hx(shop)))


def test_a_saved_flow_counts_a_library_template(client, db, shop):
    body = library.get("flow_win_back").body
    data = {"body": body, "delay": "90", "template": "lib:flow_win_back"}
    assert client.post("/automations/win_back", data=data, headers=hx(shop)).status_code == 204
    assert saved.library_uses(shop) == {"flow_win_back": 1}
    row = db.session.execute(select(Automation).filter_by(shop_id=shop.id, flow="win_back"))
    assert row.scalar_one().body == body
    reset = {**data, "intent": "default"}  # "Use default copy" forgets the pick
    page = text(client.post("/automations/win_back", data=reset, headers=hx(shop)))
    assert 'name="template" value=""' in page
    assert "Used once" in text(client.get("/templates", headers=hx(shop)))


@pytest.mark.parametrize("ref", ["own:²", "own:١٢", "own:99999999999999999999", "lib:nope", "x"])
def test_a_flow_saved_with_a_junk_template_ref_counts_nothing(client, db, shop, ref):
    body = library.get("flow_win_back").body
    data = {"body": body, "delay": "90", "template": ref}
    assert client.post("/automations/win_back", data=data, headers=hx(shop)).status_code == 204
    assert saved.library_uses(shop) == {}
