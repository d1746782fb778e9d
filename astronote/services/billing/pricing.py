"""What a message costs: segments x the destination country's credits per segment.

The country comes from the number's first five characters ("+1NXX" for the North
American plan, where the area code decides; the calling code elsewhere), using
phonenumbers' metadata. Python (`credits_for`, at fence and queue time; `priced_groups`,
pricing a whole audience from its grouped prefixes) and SQL (`price_case`,
`country_case`) read the same five characters through the same table, so the composer's
estimate, the reservation and the ledger cannot disagree.

Calling codes shared outside the North American plan (+44 GB/GG/IM/JE, +7 RU/KZ, ...)
are priced as their main country.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

import phonenumbers
from flask import current_app
from sqlalchemy import ColumnElement, Select, case, func, literal, select

from astronote.extensions import db

PREFIX_LEN = 5
UNKNOWN = "ZZ"  # no country: a non-geographic or unrecognised number
DEFAULT_PRICE = 5  # any country the table does not name
# Peers (Klaviyo's older page: US 1, CA 1, UK 3, AU 3); EU carriers charge 3-4.
DEFAULT_PRICES: dict[str, int] = {
    "US": 1,
    "CA": 1,
    "PR": 1,
    "GB": 3,
    "IE": 3,
    "AU": 3,
    "NZ": 4,
    "FR": 4,
    "DE": 4,
    "AT": 4,
    "BE": 4,
    "NL": 4,
    "LU": 4,
    "IT": 4,
    "ES": 3,
    "PT": 3,
    "GR": 3,
    "CY": 3,
    "MT": 3,
    "SE": 3,
    "DK": 3,
    "FI": 4,
    "NO": 3,
    "CH": 4,
    "PL": 3,
    "CZ": 3,
    "SK": 3,
    "HU": 3,
    "RO": 3,
    "BG": 3,
    "HR": 3,
    "SI": 3,
    "EE": 3,
    "LV": 3,
    "LT": 3,
}


@lru_cache(maxsize=1)
def _nanp_areas() -> dict[str, str]:
    """Area code -> region for the North American plan (+1), from phonenumbers."""
    areas = {}
    for a in range(200, 1000):
        number = phonenumbers.parse(f"+1{a}2345678")
        areas[str(a)] = phonenumbers.region_code_for_number(number) or "US"
    return areas


def country_of(phone: str) -> str:
    """Two-letter country of an E.164 number, from its first five characters."""
    digits = phone[1:PREFIX_LEN] if phone.startswith("+") else ""
    if digits.startswith("1"):
        return _nanp_areas().get(digits[1:4], "US")
    for length in (1, 2, 3):
        code = digits[:length]
        if code.isdigit() and (regions := phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(int(code))):
            return regions[0] if regions[0] != "001" else UNKNOWN
    return UNKNOWN


def prices() -> dict[str, int]:
    """The defaults, overridden by CREDIT_PRICES (config)."""
    return {**DEFAULT_PRICES, **current_app.config.get("CREDIT_PRICES", {})}


def per_segment(country: str, table: dict[str, int] | None = None) -> int:
    return (table or prices()).get(country, DEFAULT_PRICE)


def grouped() -> list[tuple[int, list[str]]]:
    """The price table for the credits page: [(credits per segment, [countries])]."""
    by_price: dict[int, list[str]] = {}
    for country, price in sorted(prices().items()):
        by_price.setdefault(price, []).append(country)
    return sorted(by_price.items())


def credits_for(shop, phone: str, segments: int) -> int:
    """What one message costs. `shop` is taken for per-shop prices later."""
    return segments * per_segment(country_of(phone))


def prefix(phone_column) -> ColumnElement:
    return func.substr(phone_column, 1, PREFIX_LEN)


def country_case(phone_column, present: Iterable[str]) -> ColumnElement:
    """SQL: the country of each row, as `country_of` reads it, for the prefixes present.

    `present` are the distinct five-character prefixes of the audience (one GROUP BY):
    the CASE then names only the countries that occur, one IN list each.
    """
    by_country: dict[str, list[str]] = {}
    for p in present:
        if p is not None:
            by_country.setdefault(country_of(p), []).append(p)
    whens = [(prefix(phone_column).in_(ps), literal(c)) for c, ps in sorted(by_country.items())]
    return case(*whens, else_=literal(UNKNOWN)) if whens else literal(UNKNOWN)


def price_case(phone_column, present: Iterable[str], table: dict[str, int] | None = None):
    """SQL: credits per segment of each row's destination, for the prefixes present.

    The commonest price is the ELSE branch, so the CASE names only the other prefixes
    (a US audience prices with an empty CASE).
    """
    table = table or prices()
    by_price: dict[int, list[str]] = {}
    for p in present:
        if p is not None:
            by_price.setdefault(per_segment(country_of(p), table), []).append(p)
    if not by_price:
        return literal(per_segment(UNKNOWN, table))
    common = max(sorted(by_price), key=lambda price: len(by_price[price]))
    whens = [
        (prefix(phone_column).in_(ps), literal(price))
        for price, ps in sorted(by_price.items())
        if price != common
    ]
    return case(*whens, else_=literal(common)) if whens else literal(common)


def priced_groups(base: Select, phone, first_name, last_name) -> list[tuple]:
    """(first, last, credits per segment, count) over the rows `base` selects.

    One set-based pass: GROUP BY the names and the number's five-character prefix (a few
    prefixes per name pair), priced here through the same table as `credits_for`.
    """
    inner = base.with_only_columns(
        first_name.label("first"), last_name.label("last"), prefix(phone).label("p")
    ).subquery()
    grouped = select(inner.c.first, inner.c.last, inner.c.p, func.count()).group_by(
        inner.c.first, inner.c.last, inner.c.p
    )
    table, unit = prices(), {}
    rows = []
    for first, last, p, n in db.session.execute(grouped):
        if p not in unit:
            unit[p] = per_segment(country_of(p or ""), table)
        rows.append((first, last, unit[p], n))
    return rows
