"""The period a dashboard or report covers: 7, 30 or 90 days, all time, or a custom range.

Days are the shop's own calendar days, inclusive at both ends; "7 days" ends today.
Bad input raises ValidationFailed with a message per field (the page answers 400).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from astronote.errors import ValidationFailed
from astronote.services.reports import days

PRESETS = {"7": "Last 7 days", "30": "Last 30 days", "90": "Last 90 days", "all": "All time"}
DEFAULT = "30"
CUSTOM = "custom"
EARLIEST = date(2000, 1, 1)
LONGEST = 3660  # days in a custom range: ten years of history


@dataclass(frozen=True)
class Period:
    key: str
    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def label(self) -> str:
        if self.key in PRESETS:
            return PRESETS[self.key]
        return f"{self.start:%b %-d, %Y} – {self.end:%b %-d, %Y}"

    def args(self) -> dict[str, str]:
        """Query arguments that choose this period again (links, CSV, sorting)."""
        if self.key == CUSTOM:
            return {"period": CUSTOM, "start": self.start.isoformat(), "end": self.end.isoformat()}
        return {"period": self.key}


def _day(raw: str | None, field: str, errors: dict) -> date | None:
    if not raw:
        errors[field] = "Enter a date."
        return None
    try:
        value = date.fromisoformat(raw.strip())
    except ValueError:
        errors[field] = "Enter a date as YYYY-MM-DD."
        return None
    if not EARLIEST <= value <= date(2100, 12, 31):
        errors[field] = "Enter a date between 2000 and 2100."
        return None
    return value


def parse(
    args, zone_name: str | None, first_day: date | None = None, last_day: date | None = None
) -> Period:
    """The period the query string asks for; "all time" runs from `first_day` (the first
    rollup day) to `last_day` (a campaign's last active day), else today."""
    key = args.get("period") or DEFAULT
    today = days.today(zone_name)
    if key in ("7", "30", "90"):
        return Period(key, today - timedelta(days=int(key) - 1), today)
    if key == "all":
        end = min(last_day or today, today)
        return Period(key, min(first_day or end, end), end)
    if key != CUSTOM:
        raise ValidationFailed({"period": "Choose 7, 30 or 90 days, all time, or a custom range."})
    errors: dict[str, str] = {}
    start = _day(args.get("start"), "start", errors)
    end = _day(args.get("end"), "end", errors)
    if start and end and start > end:
        errors["end"] = "The end date must be on or after the start date."
    elif start and end and (end - start).days >= LONGEST:
        errors["end"] = "Choose a range of at most ten years."
    if errors:
        raise ValidationFailed(errors)
    return Period(CUSTOM, start, end)
