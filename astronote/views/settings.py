"""Shop settings: default phone region, time zone and sender ID."""

from __future__ import annotations

import zoneinfo

import phonenumbers
from flask import Blueprint, g, request

from astronote.auth import load_shop
from astronote.errors import ValidationFailed
from astronote.extensions import db
from astronote.htmx import render, toast
from astronote.services import shops

bp = Blueprint("settings", __name__, url_prefix="/settings")
bp.before_request(load_shop)

REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)
TIMEZONES = sorted(zoneinfo.available_timezones())


def _page(form, errors=None, status=200):
    return render(
        "settings/edit.html",
        partial="settings/_form.html",
        status=status,
        form=form,
        errors=errors or {},
        regions=REGIONS,
        timezones=TIMEZONES,
    )


@bp.get("")
def edit():
    shop = g.shop
    form = {"default_region": shop.default_region, "timezone": shop.timezone, "sender_id": shop.sender_id or ""}
    return _page(form)


@bp.post("")
def update():
    try:
        settings = shops.validate_settings(request.form)
    except ValidationFailed as exc:
        return _page(request.form, exc.field_errors, status=422)
    shops.update_settings(g.shop, settings)
    db.session.commit()
    return toast(_page(request.form), "Settings saved")
