"""Shop lifecycle: install (or reactivate) from a verified session, and settings."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass

import phonenumbers
from sqlalchemy import select

from astronote.errors import ValidationFailed
from astronote.extensions import db
from astronote.integrations.shopify.session_tokens import ShopSession
from astronote.models import Shop, now_utc
from astronote.services.shopify import tokens as shop_tokens


def get_active(shop_id: int) -> Shop | None:
    shop = db.session.get(Shop, shop_id)
    return shop if shop is not None and shop.is_active else None


def find(shop_domain: str) -> Shop | None:
    return db.session.execute(select(Shop).filter_by(shop_domain=shop_domain)).scalar_one_or_none()


def install(session: ShopSession) -> tuple[Shop, bool]:
    """Return the active shop for a verified session; (re)install it when needed.

    Installing means exchanging the session token for an expiring offline token
    (managed install + token exchange). Returns (shop, freshly_installed).
    """
    shop = find(session.shop_domain)
    if shop is not None and shop.is_active and shop.access_token_enc:
        return shop, False
    token = shop_tokens.oauth_client().exchange_id_token(session.shop_domain, session.token)
    if shop is None:
        shop = Shop(shop_domain=session.shop_domain)
        db.session.add(shop)
    shop.is_active, shop.installed_at, shop.uninstalled_at = True, now_utc(), None
    shop_tokens.store(shop, token)
    return shop, True


def apply_facts(shop: Shop, timezone, currency, country) -> None:
    """The shop's own time zone (IANA), currency and country, as Shopify reports them.

    Read at install (GraphQL `shop`) and on `shop/update`. A value we cannot use is
    skipped, so a bad field never blanks a good setting.
    """
    if isinstance(timezone, str) and timezone in zoneinfo.available_timezones():
        shop.timezone = timezone
    if isinstance(currency, str) and len(currency) == 3 and currency.isalpha():
        shop.currency = currency.upper()
    if isinstance(country, str) and country.upper() in phonenumbers.SUPPORTED_REGIONS:
        shop.country = country.upper()


def apply_shop_update(shop: Shop, payload: dict) -> None:
    """shop/update: the REST shop resource (`iana_timezone`, `currency`, `country_code`)."""
    apply_facts(
        shop, payload.get("iana_timezone"), payload.get("currency"), payload.get("country_code")
    )
    if isinstance(payload.get("name"), str) and payload["name"].strip():
        shop.name = payload["name"].strip()[:255]


def uninstall(shop: Shop) -> None:
    """app/uninstalled: stop everything and forget the (already revoked) tokens; keep data."""
    shop.is_active = False
    shop.uninstalled_at = now_utc()
    shop_tokens.drop(shop)


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


def active_shops() -> list[Shop]:
    """Installed shops, oldest first (the development sign-in lists them)."""
    query = select(Shop).filter_by(is_active=True).order_by(Shop.id)
    return list(db.session.execute(query).scalars())
