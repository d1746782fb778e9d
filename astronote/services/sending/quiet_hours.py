"""Quiet hours: a marketing SMS lands only inside the recipient's local window.

The recipient's zones come from the number (phonenumbers' time-zone data),
else the shop's zone. A number that maps to several zones gets the strictest
reading: it may be sent only when *every* candidate zone is inside the window.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import phonenumbers
from phonenumbers import timezone as phone_timezones

STEP = timedelta(minutes=5)
HORIZON = timedelta(days=2)
UNKNOWN_ZONE = "Etc/Unknown"


_by_prefix: dict[str, tuple[str, ...]] = {}


def _lookup(phone: str) -> tuple[str, ...]:
    try:
        number = phonenumbers.parse(phone)
    except phonenumbers.NumberParseException:
        return ()
    return tuple(z for z in phone_timezones.time_zones_for_number(number) if z != UNKNOWN_ZONE)


def zones_for(phone: str, shop_zone: str) -> tuple[str, ...]:
    """IANA zones for an E.164 number, else the shop's zone.

    Cached by the first 8 characters: zone data is keyed by country and area
    prefixes no longer than that, and parsing a million numbers is not free.
    """
    prefix = phone[:8]
    if prefix not in _by_prefix:
        if len(_by_prefix) > 100_000:
            _by_prefix.clear()
        _by_prefix[prefix] = _lookup(phone)
    return _by_prefix[prefix] or (shop_zone,)


def inside(local: time, start: time, end: time) -> bool:
    if start == end:
        return True  # a merchant who sets an empty quiet period means "any time"
    if start < end:
        return start <= local < end
    return local >= start or local < end  # a window that crosses midnight


def _allowed_at(moment: datetime, zones: tuple[str, ...], start: time, end: time) -> bool:
    return all(inside(moment.astimezone(ZoneInfo(z)).time(), start, end) for z in zones)


def next_allowed(now: datetime, zones: tuple[str, ...], start: time, end: time) -> datetime | None:
    """None when sending now is allowed; else the first UTC moment that is."""
    if _allowed_at(now, zones, start, end):
        return None
    return _next_opening(now.replace(second=0, microsecond=0), zones, start, end)


@lru_cache(maxsize=4096)
def _next_opening(base: datetime, zones: tuple[str, ...], start: time, end: time) -> datetime:
    moment = base
    while moment - base < HORIZON:
        moment += STEP
        if _allowed_at(moment, zones, start, end):
            return moment
    return base + HORIZON  # windows that never overlap across zones: try again later
