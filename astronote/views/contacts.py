"""Contacts pages: list with search and keyset pages, create, edit, delete, export."""

from __future__ import annotations

from flask import Blueprint, Response, g, request, stream_with_context, url_for
from sqlalchemy.exc import IntegrityError

from astronote.auth import load_shop
from astronote.errors import ValidationFailed
from astronote.htmx import redirect_to, render, toast
from astronote.models import ConsentState, Gender
from astronote.services.contacts import counts as contact_counts
from astronote.services.contacts import editing as contacts
from astronote.services.contacts import listing as contact_queries
from astronote.services.contacts.export import export_rows
from astronote.services.shopify import consent_writeback
from astronote.tasks import enqueue_safely
from astronote.tasks.shopify import push_consent
from astronote.views.paging import after_cursor
from astronote.views.unit_of_work import unit_of_work

bp = Blueprint("contacts", __name__, url_prefix="/contacts")


def _phone_taken(phone: str) -> dict[str, str]:
    return {"phone": f"Another contact already has the number {phone}."}


bp.before_request(load_shop)


@bp.get("")
def index():
    filters = contact_queries.ContactFilters.from_args(request.args)
    page = contact_queries.list_page(g.shop, filters, after_id=after_cursor())
    return render(
        "contacts/index.html",
        partial="contacts/_results.html",
        page=page,
        filters=filters,
        totals=contact_counts.totals(g.shop.id),
        consent_states=list(ConsentState),
    )


def _form_page(contact=None, form=None, errors=None, status=200):
    return render(
        "contacts/form.html",
        partial="contacts/_form.html",
        status=status,
        contact=contact,
        form=form or {},
        errors=errors or {},
        genders=list(Gender),
        consent_states=list(ConsentState),
        history=contacts.consent_history(contact) if contact else [],
    )


def _evidence() -> str:
    user = getattr(g.get("session_token"), "user_id", "development sign-in")
    return f"Merchant edit in Astronote admin (staff user {user}, IP {request.remote_addr})"


@bp.get("/new")
def new():
    # Not subscribed until the merchant says otherwise and attests the consent.
    return _form_page(form={"consent_state": ConsentState.NOT_SUBSCRIBED.value})


@bp.post("")
def create():
    try:
        data = contacts.parse_form(request.form, g.shop.default_region)
        with unit_of_work():
            contact = contacts.create_contact(g.shop, data, _evidence())
    except ValidationFailed as exc:
        return _form_page(form=request.form, errors=exc.field_errors, status=422)
    except IntegrityError:  # the same phone written concurrently (a webhook, a double submit)
        return _form_page(form=request.form, errors=_phone_taken(data.phone), status=422)
    return toast(redirect_to(url_for("contacts.edit", contact_id=contact.id)), "Contact added")


@bp.get("/<int:contact_id>")
def edit(contact_id: int):
    contact = contacts.get_contact(g.shop, contact_id)
    form = {
        "phone": contact.phone,
        "first_name": contact.first_name or "",
        "last_name": contact.last_name or "",
        "email": contact.email or "",
        "gender": contact.gender or "",
        "consent_state": contact.consent_state,
        "birth_date": contact.birth_date.isoformat() if contact.birth_date else "",
        "tags": ", ".join(contacts.tags_of(contact)),
    }
    return _form_page(contact=contact, form=form)


@bp.post("/<int:contact_id>")
def update(contact_id: int):
    contact = contacts.get_contact(g.shop, contact_id)
    try:
        data = contacts.parse_form(request.form, g.shop.default_region, contact.consent_state)
        with unit_of_work():
            consent_changed = contacts.update_contact(g.shop, contact, data, _evidence())
    except (ValidationFailed, IntegrityError) as exc:
        taken = isinstance(exc, IntegrityError)
        errors = _phone_taken(data.phone) if taken else exc.field_errors
        contact = contacts.get_contact(g.shop, contact_id)
        return _form_page(contact=contact, form=request.form, errors=errors, status=422)
    if consent_changed and consent_writeback.needs_push(contact):
        enqueue_safely(push_consent, contact.id)
    return toast(redirect_to(url_for("contacts.edit", contact_id=contact.id)), "Contact saved")


@bp.post("/<int:contact_id>/delete")
def delete(contact_id: int):
    with unit_of_work():
        contacts.delete_contact(g.shop, contacts.get_contact(g.shop, contact_id))
    return toast(redirect_to(url_for("contacts.index")), "Contact deleted")


@bp.get("/export.csv")
def export():
    filters = contact_queries.ContactFilters.from_args(request.args)
    body = stream_with_context(export_rows(g.shop, filters))
    return Response(
        body,
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="contacts.csv"'},
    )
