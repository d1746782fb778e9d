"""Shopify money strings to integer minor units of the shop's currency."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from astronote.services.reports.figures import THREE_DECIMALS, ZERO_DECIMALS

MAX_MINOR = 10**15  # far beyond any order; keeps a hostile payload out of BIGINT trouble


def places(currency: str | None) -> int:
    code = (currency or "").upper()
    return 0 if code in ZERO_DECIMALS else 3 if code in THREE_DECIMALS else 2


def minor_units(amount, currency: str | None) -> int | None:
    """'42.50' -> 4250 (USD); None when missing, malformed, negative or absurd."""
    try:
        value = Decimal(str(amount)) if amount not in (None, "") else None
    except InvalidOperation:
        return None
    if value is None or not value.is_finite() or value < 0:
        return None
    minor = int((value * 10 ** places(currency)).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return minor if minor < MAX_MINOR else None


def shop_money(payload: dict, field: str, shop_currency: str) -> int | None:
    """A REST amount in the shop's currency: `<field>_set.shop_money` when Shopify sends
    it, else the plain field when the payload's currency is the shop's."""
    money = ((payload.get(f"{field}_set") or {}).get("shop_money")) or {}
    if money.get("amount") is not None:
        return minor_units(money.get("amount"), money.get("currency_code") or shop_currency)
    currency = payload.get("currency") or shop_currency
    if currency.upper() != shop_currency.upper():
        return None  # a foreign amount is never mixed into the shop's revenue
    return minor_units(payload.get(field), shop_currency)
