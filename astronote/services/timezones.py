"""One rule for every time a merchant reads: the shop's own zone, labelled with its name."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

SHOWN = "%b %-d, %Y %H:%M"  # "Dec 3, 2026 10:15"


def zone_of(name: str | None) -> tuple[tzinfo, str]:
    """The zone and its IANA name; a missing or unknown name is UTC, labelled as such."""
    try:
        return ZoneInfo(name), name  # type: ignore[arg-type]
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        return UTC, "UTC"


def shown(moment: datetime | None, zone_name: str | None, fmt: str = SHOWN) -> str:
    """`Dec 3, 2026 10:15 (America/New_York)`: the abbreviation alone ("EST", "IST") is
    ambiguous and differs between summer and winter, the IANA name is not."""
    if moment is None:
        return ""
    zone, label = zone_of(zone_name)
    return f"{_aware(moment).astimezone(zone).strftime(fmt)} ({label})"


def in_zone(moment: datetime | None, zone_name: str | None, fmt: str) -> str:
    """Unlabelled, for form inputs such as <input type="datetime-local">."""
    if moment is None:
        return ""
    return _aware(moment).astimezone(zone_of(zone_name)[0]).strftime(fmt)


def _aware(moment: datetime) -> datetime:
    # stored times are UTC (models.base.UTCDateTime); a naive one must not read as server-local
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
