"""Unique codes on a campaign, as the composer sets them: percentage or amount off, and
the day they expire (the end of that day in the shop's time zone)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete

from astronote.extensions import db
from astronote.models import Campaign, CampaignDiscount, DiscountState, Shop, now_utc
from astronote.services.discounts import codes
from astronote.services.messaging.rendering import render

KINDS = (("percentage", "Percentage off"), ("amount", "Amount off"))
MAX_AHEAD = timedelta(days=366)
NEEDS_PLACEHOLDER = "Add {{discount_code}} to the message: it is where each recipient's code goes."


@dataclass
class UniqueCodes:
    kind: str
    value: int  # whole percent, or minor units (cents) of the shop's currency
    ends_at: datetime


def _value(kind: str, raw: str) -> int | None:
    try:
        if kind == "percentage":
            number = int(raw)
            return number if 1 <= number <= 100 else None
        cents = round(float(raw) * 100)
        return cents if 1 <= cents <= 100_000_00 and raw.count(".") <= 1 else None
    except (ValueError, OverflowError):
        return None


def _ends(shop: Shop, raw: str, errors: dict) -> datetime | None:
    try:
        day = date.fromisoformat(raw)
        ends = datetime.combine(day, time(23, 59, 59), tzinfo=ZoneInfo(shop.timezone))
    except (ValueError, OverflowError):
        errors["unique_ends"] = "Pick the last day the codes work."
        return None
    if ends <= now_utc() or ends > now_utc() + MAX_AHEAD:
        errors["unique_ends"] = "Pick a day from today to a year ahead."
        return None
    return ends


def parse(shop: Shop, form, body: str, fixed_code: str | None, errors: dict):
    """The unique-code settings from the compose form (None: not asked for)."""
    if form.get("unique_codes") != "on":
        return None
    if fixed_code:
        errors["discount_code"] = "Use either one code for everyone or unique codes, not both."
    kind = form.get("unique_kind") or "percentage"
    if kind not in dict(KINDS):
        errors["unique_kind"] = "Choose percentage or amount off."
        return None
    value = _value(kind, (form.get("unique_value") or "").strip())
    if value is None:
        errors["unique_value"] = (
            "Give a whole percentage from 1 to 100."
            if kind == "percentage"
            else "Give an amount such as 5 or 7.50."
        )
    sentinel = "\x00CODE\x00"
    if body and sentinel not in render(body, {"discount_code": sentinel}, None):
        errors.setdefault("body", NEEDS_PLACEHOLDER)
    ends = _ends(shop, form.get("unique_ends") or "", errors)
    if value is None or ends is None:
        return None
    return UniqueCodes(kind, value, ends)


def of(campaign_id: int | None) -> CampaignDiscount | None:
    return db.session.get(CampaignDiscount, campaign_id) if campaign_id else None


def save(shop: Shop, campaign: Campaign, spec: UniqueCodes | None) -> None:
    """Store (or drop) the campaign's unique-code settings; caller commits."""
    existing = of(campaign.id)
    if spec is None:
        if existing is not None:
            db.session.execute(
                delete(CampaignDiscount).where(CampaignDiscount.campaign_id == campaign.id)
            )
        return
    if existing is None:
        existing = CampaignDiscount(
            campaign_id=campaign.id,
            shop_id=shop.id,
            prefix=codes.new_prefix(),
            state=DiscountState.PREPARING,
            codes_total=0,
            codes_created=0,
        )
        db.session.add(existing)
    existing.kind, existing.value, existing.ends_at = spec.kind, spec.value, spec.ends_at


def form_values(shop: Shop, campaign_id: int) -> dict:
    discount = of(campaign_id)
    if discount is None:
        return {}
    value = (
        str(discount.value)
        if discount.kind == "percentage"
        else f"{discount.value // 100}.{discount.value % 100:02d}"
    )
    local = discount.ends_at.astimezone(ZoneInfo(shop.timezone)).date()
    return {
        "unique_codes": "on",
        "unique_kind": discount.kind,
        "unique_value": value,
        "unique_ends": local.isoformat(),
    }


def pricing_code(campaign: Campaign) -> str | None:
    """What {{discount_code}} costs in this campaign: its code, or a unique code's length."""
    if campaign.discount_code:
        return campaign.discount_code
    return codes.SAMPLE if of(campaign.id) is not None else None
