"""Templates service: the library by use case, the shop's own templates with the
composer's checks, what fits each message box, and usage counts (shop-scoped, one
statement). Every test runs on SQLite and on PostgreSQL (the `database_url` fixture).
"""

from __future__ import annotations

import pytest
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from astronote.errors import NotFound, ValidationFailed
from astronote.models import LibraryTemplateUse, MessageTemplate
from astronote.services.automations.catalogue import FLOWS
from astronote.services.messaging import rendering
from astronote.services.templates import library, picking, saved


def own(db, shop, name="Flash", body="Hi {{first_name}}!", use_case="sale") -> MessageTemplate:
    template = saved.save(shop, {"name": name, "use_case": use_case, "body": body})
    db.session.commit()
    return template


def uses_of(db, template_id: int) -> int:
    db.session.expire_all()
    return db.session.get(MessageTemplate, template_id).uses


def test_library_covers_every_use_case_and_reuses_the_flows_default_copy():
    use_cases = {t.use_case for t in library.TEMPLATES.values()}
    assert use_cases == set(library.CAMPAIGN_USE_CASES) | set(FLOWS)
    for key, flow in FLOWS.items():
        assert library.get(f"flow_{key}").body == flow.default_body
    for template in library.TEMPLATES.values():  # every one passes its own box's check
        extra = library.event_variables(template.use_case)
        assert rendering.body_problem(template.body, extra=extra) is None, template.key


@pytest.mark.parametrize(
    ("fields", "field", "says"),
    [
        ({"name": ""}, "name", "Give the template a name"),
        ({"name": "x" * 81}, "name", "at most 80"),
        ({"use_case": "nonsense"}, "use_case", "Pick a use case"),
        ({"body": "  "}, "body", "Write the message"),
        ({"body": "Hi {{nickname}}"}, "body", "Unknown placeholder: {{nickname}}"),
        ({"body": "Order {{order_number}}"}, "body", "Unknown placeholder"),  # a sale has none
        ({"body": "x" * 1601}, "body", "at most 1,600"),
    ],
)
def test_parse_refuses_what_the_composer_refuses(fields, field, says):
    form = MultiDict({"name": "Ok", "use_case": "sale", "body": "Hi", **fields})
    with pytest.raises(ValidationFailed) as caught:
        saved.parse(form)
    assert says in caught.value.field_errors[field]


def test_a_flow_use_case_allows_its_trigger_placeholders_and_folds_spaces():
    form = MultiDict(
        {
            "name": "  Thanks   a lot ",
            "use_case": "order_confirmation",
            "body": "Got {{order_number}}\r\n",
        }
    )
    assert saved.parse(form) == {
        "name": "Thanks a lot",
        "use_case": "order_confirmation",
        "body": "Got {{order_number}}",
    }


def test_names_are_unique_per_shop_ignoring_case(db, shop, make_shop):
    first = own(db, shop, name="Flash")
    with pytest.raises(ValidationFailed) as caught:
        saved.save(shop, {"name": "FLASH", "use_case": "sale", "body": "Other"})
    assert "already have" in caught.value.field_errors["name"]
    db.session.rollback()
    renamed = saved.save(shop, {"name": "Flash", "use_case": "holiday", "body": "B"}, first)
    assert renamed.id == first.id  # its own name is not a clash
    other = make_shop("beta.myshopify.com")
    assert own(db, other, name="Flash").id != first.id


def test_what_fits_a_box(db, shop):
    mine = own(
        db, shop, name="Order thanks", body="Thanks {{order_number}}", use_case="order_confirmation"
    )
    campaign = {c.ref for _, group in picking.for_box(shop, "campaign") for c in group}
    assert "lib:sale_percent" in campaign and "lib:flow_welcome" in campaign
    assert "lib:flow_order_confirmation" not in campaign and f"own:{mine.id}" not in campaign
    groups = picking.for_box(shop, "order_confirmation")
    assert groups[0][0] == "Order confirmation"  # the flow's own use case leads
    assert {c.ref for c in groups[0][1]} == {f"own:{mine.id}", "lib:flow_order_confirmation"}
    shipping = {c.ref for _, group in picking.for_box(shop, "shipping_update") for c in group}
    assert "lib:flow_review_request" in shipping  # {{order_number}}: shipping has it too
    assert "lib:flow_order_confirmation" not in shipping  # {{order_total}}: shipping has not
    with pytest.raises(NotFound):
        picking.for_box(shop, "nope")
    with pytest.raises(NotFound):
        picking.picked(shop, "campaign", f"own:{mine.id}")  # does not fit a campaign
    assert picking.picked(shop, "order_confirmation", f"own:{mine.id}").body == mine.body


def test_another_shops_template_cannot_be_picked(db, shop, make_shop):
    other = make_shop("beta.myshopify.com")
    theirs = own(db, other, name="Theirs")
    for ref in (f"own:{theirs.id}", "own:99999999999999999999", "lib:nope", "junk", ""):
        with pytest.raises(NotFound):
            picking.picked(shop, "campaign", ref)


def test_count_use_bumps_only_the_shops_own_row_and_upserts_library_uses(db, shop, make_shop):
    mine = own(db, shop)
    other = make_shop("beta.myshopify.com")
    theirs = own(db, other, name="Theirs")
    for ref in (f"own:{mine.id}", f"own:{mine.id}", f"own:{theirs.id}", "own:x", "lib:nope", None):
        saved.count_use(shop, ref)
    saved.count_use(shop, "lib:holiday_greeting")
    saved.count_use(shop, "lib:holiday_greeting")
    saved.count_use(other, "lib:holiday_greeting")
    db.session.commit()
    assert uses_of(db, mine.id) == 2
    assert uses_of(db, theirs.id) == 0  # another shop's id counts nothing
    assert saved.library_uses(shop) == {"holiday_greeting": 2}
    assert saved.library_uses(other) == {"holiday_greeting": 1}
    rows = db.session.execute(select(LibraryTemplateUse)).scalars().all()
    assert len(rows) == 2
    choices = {c.ref: c.uses for c in picking.all_choices(shop)}
    assert choices[f"own:{mine.id}"] == 2 and choices["lib:holiday_greeting"] == 2
    assert choices["lib:sale_percent"] == 0


def test_remove_deletes_only_the_shops_row(db, shop, make_shop):
    mine = own(db, shop)
    other = make_shop("beta.myshopify.com")
    theirs = own(db, other, name="Theirs")
    with pytest.raises(NotFound):
        saved.remove(shop, theirs.id)
    assert saved.remove(shop, mine.id) == "Flash"
    db.session.commit()
    assert [t.id for t in saved.all_for(other)] == [theirs.id]
    assert saved.all_for(shop) == []
