"""The shop's own templates (create, edit, delete) and the usage counts of every template.

A use is counted when a campaign or a flow is saved with a message picked from a
template: one UPDATE of the shop's row (or one upsert for a library template).
"""

from __future__ import annotations

from sqlalchemy import delete, func, select, update

from astronote.errors import ValidationFailed
from astronote.extensions import db
from astronote.models import LibraryTemplateUse, MessageTemplate, Shop
from astronote.services import sql
from astronote.services.messaging import rendering
from astronote.services.scoped import get_owned
from astronote.services.templates import library

MAX_NAME = 80
MAX_SAVED = 500  # a library of one's own, not a message log: keeps the page one read


def all_for(shop: Shop) -> list[MessageTemplate]:
    query = (
        select(MessageTemplate)
        .where(MessageTemplate.shop_id == shop.id)
        .order_by(MessageTemplate.use_case, MessageTemplate.name)
        .limit(MAX_SAVED)
    )
    return list(db.session.execute(query).scalars())


def get(shop: Shop, template_id: int) -> MessageTemplate:
    return get_owned(MessageTemplate, shop.id, template_id, "template")


def parse(form) -> dict:
    """Name, use case and message as typed; the message checked as the composer checks it
    (a flow's use case allows that flow's trigger placeholders)."""
    name = " ".join((form.get("name") or "").split())
    use_case = form.get("use_case") or ""
    body = rendering.normalise_body(form.get("body"))
    errors = {}
    if not name:
        errors["name"] = "Give the template a name."
    elif len(name) > MAX_NAME:
        errors["name"] = f"Use at most {MAX_NAME} characters."
    if use_case not in library.USE_CASES:
        errors["use_case"] = "Pick a use case."
    extra = library.event_variables(use_case)
    if problem := rendering.body_problem(body, empty="Write the message.", extra=extra):
        errors["body"] = problem
    if errors:
        raise ValidationFailed(errors)
    return {"name": name, "use_case": use_case, "body": body}


def _name_taken(shop: Shop, name: str, template_id: int | None) -> bool:
    query = select(MessageTemplate.id).where(
        MessageTemplate.shop_id == shop.id, func.lower(MessageTemplate.name) == name.lower()
    )
    return any(found != template_id for found in db.session.execute(query).scalars())


def save(shop: Shop, data: dict, template: MessageTemplate | None = None) -> MessageTemplate:
    """Create or change one template; caller commits."""
    if _name_taken(shop, data["name"], template.id if template else None):
        raise ValidationFailed({"name": "You already have a template with this name."})
    if template is None:
        count = select(func.count()).where(MessageTemplate.shop_id == shop.id)
        if db.session.execute(count).scalar_one() >= MAX_SAVED:
            raise ValidationFailed({"name": f"You can keep up to {MAX_SAVED} templates."})
        template = MessageTemplate(shop_id=shop.id)
        db.session.add(template)
    template.name, template.use_case, template.body = data["name"], data["use_case"], data["body"]
    db.session.flush()
    return template


def remove(shop: Shop, template_id: int) -> str:
    template = get(shop, template_id)
    db.session.execute(
        delete(MessageTemplate).where(
            MessageTemplate.shop_id == shop.id, MessageTemplate.id == template.id
        )
    )
    return template.name


def library_uses(shop: Shop) -> dict[str, int]:
    query = select(LibraryTemplateUse.template_key, LibraryTemplateUse.uses).where(
        LibraryTemplateUse.shop_id == shop.id
    )
    return {key: uses for key, uses in db.session.execute(query)}


def count_use(shop: Shop, ref: str | None) -> None:
    """One more use of the template a saved message came from; unknown refs count nothing.

    `ref` is what the picker put in the form: "own:<id>" or "lib:<key>"."""
    kind, _, value = (ref or "").partition(":")
    if kind == "own" and value.isascii() and value.isdigit() and len(value) < 19:
        db.session.execute(
            update(MessageTemplate)
            .where(MessageTemplate.shop_id == shop.id, MessageTemplate.id == int(value))
            .values(uses=MessageTemplate.uses + 1)
            .execution_options(synchronize_session=False)
        )
    elif kind == "lib" and library.get(value) is not None:
        table = LibraryTemplateUse.__table__
        statement = sql.insert(table).values(shop_id=shop.id, template_key=value, uses=1)
        db.session.execute(
            statement.on_conflict_do_update(
                index_elements=[table.c.shop_id, table.c.template_key],
                set_={"uses": table.c.uses + 1},
            )
        )
