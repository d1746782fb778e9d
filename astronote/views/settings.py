"""Shop settings: default phone region, time zone and sender ID; messaging rules."""

from __future__ import annotations

import zoneinfo

import phonenumbers
from flask import Blueprint, Response, g, request
from sqlalchemy.exc import IntegrityError

from astronote.auth import load_shop
from astronote.errors import ValidationFailed
from astronote.htmx import STOP_POLLING, render, toast
from astronote.services.messaging import keywords
from astronote.services.messaging import settings as compliance_settings
from astronote.services.sending import senders
from astronote.services.shopify import customer_sync, gdpr, shops
from astronote.tasks import shopify as tasks_shopify
from astronote.views.unit_of_work import unit_of_work

bp = Blueprint("settings", __name__, url_prefix="/settings")
bp.before_request(load_shop)

REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)
TIMEZONES = sorted(zoneinfo.available_timezones())


def _page(form, errors=None, status=200, rules=None, rules_errors=None, section="general"):
    """The settings page; for htmx, the one form (`section`) that was submitted."""
    return render(
        "settings/edit.html",
        partial="settings/_form.html",
        status=status,
        section=section,
        form=form,
        errors=errors or {},
        rules=rules if rules is not None else compliance_settings.form_of(g.shop),
        rules_errors=rules_errors or {},
        opt_out_modes=compliance_settings.OPT_OUT_MODES,
        keyword_defaults=keywords.DEFAULTS,
        default_help=keywords.DEFAULT_HELP,
        regions=REGIONS,
        timezones=TIMEZONES,
        sync=customer_sync.latest(g.shop),
        sender_warning=senders.warning_for(g.shop),
        exports=gdpr.recent_exports(g.shop),
    )


def _form_of(shop) -> dict:
    return {
        "default_region": shop.default_region,
        "timezone": shop.timezone,
        "sender_id": shop.sender_id or "",
    }


@bp.get("")
def edit():
    return _page(_form_of(g.shop))


@bp.post("")
def update():
    try:
        settings = shops.validate_settings(request.form)
    except ValidationFailed as exc:
        return _page(request.form, exc.field_errors, status=422)
    # The sender must work in the shop's own country (services/sending/senders.py).
    if problem := senders.settings_error(settings.default_region, settings.sender_id):
        return _page(request.form, {"sender_id": problem}, status=422)
    with unit_of_work():
        shops.update_settings(g.shop, settings)
    return toast(_page(request.form), "Settings saved")


@bp.post("/messaging")
def update_messaging():
    """Messaging rules: quiet hours, frequency cap, opt-out, help text, keywords, numbers."""
    general = _form_of(g.shop)
    try:
        with unit_of_work():
            rules = compliance_settings.validate(g.shop, request.form)
            compliance_settings.apply(g.shop, rules)
    except (ValidationFailed, IntegrityError) as exc:
        errors = getattr(exc, "field_errors", None) or _race_errors()
        return _page(
            general, rules=request.form, rules_errors=errors, status=422, section="messaging"
        )
    return toast(_page(general, section="messaging"), "Messaging rules saved")


def _race_errors() -> dict[str, str]:
    """Another shop claimed one of the numbers between validation and commit."""
    try:
        compliance_settings.validate(g.shop, request.form)
    except ValidationFailed as exc:
        return exc.field_errors
    return {"sender_numbers": "One of these numbers was just taken. Check the list and save again."}


@bp.post("/customer-sync")
def start_customer_sync():
    if not g.shop.access_token_enc:
        return toast(
            _page(_form_of(g.shop)), "This shop is not connected to Shopify.", is_error=True
        )
    sync_id = tasks_shopify.start_customer_sync(g.shop.id)
    return render("settings/_sync.html", sync=customer_sync.get(g.shop, sync_id))


@bp.get("/customer-sync/<int:sync_id>")
def customer_sync_progress(sync_id: int):
    sync = customer_sync.get(g.shop, sync_id)
    final = sync.status not in customer_sync.ACTIVE
    return render("settings/_sync.html", status=STOP_POLLING if final else 200, sync=sync)


@bp.get("/data-requests/<int:export_id>.json")
def data_request_download(export_id: int):
    export = gdpr.get_export(g.shop, export_id)
    return Response(
        export.document,
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="customer-data-{export.id}.json"'},
    )
