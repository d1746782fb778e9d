"""Shop lifecycle: install (or reactivate) from a verified session, and settings."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass

import phonenumbers
from sqlalchemy import select

from astronote.errors import ValidationFailed
from astronote.extensions import db
from astronote.models import Shop, now_utc


def get_active(shop_id: int) -> Shop | None:
    shop = db.session.get(Shop, shop_id)
    return shop if shop is not None and shop.is_active else None


def ensure_installed(shop_domain: str) -> Shop:
    """Return the shop for a verified session, creating or reactivating it."""
    shop = db.session.execute(select(Shop).filter_by(shop_domain=shop_domain)).scalar_one_or_none()
    if shop is None:
        shop = Shop(shop_domain=shop_domain)
        db.session.add(shop)
        db.session.commit()
    elif not shop.is_active:
        shop.is_active = True
        shop.installed_at = now_utc()
        shop.uninstalled_at = None
        db.session.commit()
    return shop


@dataclass
class ShopSettingsForm:
    default_region: str
    timezone: str
    sender_id: str | None


def validate_settings(form: dict) -> ShopSettingsForm:
    """Parse the settings form; raise ValidationFailed with per-field messages."""
    errors: dict[str, str] = {}
    region = (form.get("default_region") or "").strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        errors["default_region"] = "Choose a country from the list."
    tz = (form.get("timezone") or "").strip()
    if tz not in zoneinfo.available_timezones():
        errors["timezone"] = "Choose a time zone from the list."
    sender = (form.get("sender_id") or "").strip() or None
    if sender is not None and not _valid_sender(sender):
        errors["sender_id"] = (
            "Use 3–11 letters, digits or spaces (not only digits), "
            "or a phone number in international format such as +14155550123."
        )
    if errors:
        raise ValidationFailed(errors)
    return ShopSettingsForm(region, tz, sender)


def _valid_sender(sender: str) -> bool:
    if sender.startswith("+"):
        return sender[1:].isdigit() and 3 <= len(sender) - 1 <= 15
    alnum = sender.replace(" ", "")
    return 3 <= len(sender) <= 11 and alnum.isalnum() and alnum.isascii() and not alnum.isdigit()


def update_settings(shop: Shop, settings: ShopSettingsForm) -> None:
    shop.default_region = settings.default_region
    shop.timezone = settings.timezone
    shop.sender_id = settings.sender_id
