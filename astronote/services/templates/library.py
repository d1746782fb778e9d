"""The library: ready messages by use case, the same for every shop.

The automation ones are the catalogue's default copy, so "Use template" in a flow editor
and "Use default copy" agree; the flows' trigger placeholders come with them.
"""

from __future__ import annotations

from dataclasses import dataclass

from astronote.services.automations.catalogue import FLOWS

CAMPAIGN_USE_CASES = {
    "sale": "Sale",
    "new_arrival": "New arrival",
    "back_in_stock": "Back in stock",
    "holiday": "Holiday",
}
# Every use case in page order: the campaign ones, one per flow, then the shop's own.
USE_CASES = {**CAMPAIGN_USE_CASES, **{k: f.title for k, f in FLOWS.items()}, "other": "Other"}


@dataclass(frozen=True)
class LibraryTemplate:
    key: str
    use_case: str
    name: str
    body: str


_CAMPAIGNS = (
    LibraryTemplate(
        "sale_percent",
        "sale",
        "Percent off, limited time",
        "{{first_name}}, our sale is on at {{shop_name}}! Take 20% off everything "
        "with {{discount_code}} until Sunday.",
    ),
    LibraryTemplate(
        "sale_last_day",
        "sale",
        "Last day of the sale",
        "Last chance, {{first_name}}: the {{shop_name}} sale ends tonight. "
        "Use {{discount_code}} before midnight.",
    ),
    LibraryTemplate(
        "new_arrival",
        "new_arrival",
        "Just landed",
        "New in at {{shop_name}}, {{first_name}}! Our latest arrivals just landed. "
        "Be the first to see them.",
    ),
    LibraryTemplate(
        "new_arrival_early",
        "new_arrival",
        "Early access for subscribers",
        "{{first_name}}, you get first look: the new collection at {{shop_name}} "
        "is open to SMS subscribers before anyone else.",
    ),
    LibraryTemplate(
        "back_in_stock",
        "back_in_stock",
        "Back in stock",
        "Good news, {{first_name}}: a favourite is back in stock at {{shop_name}}. "
        "Sizes go fast, so get yours today.",
    ),
    LibraryTemplate(
        "holiday_greeting",
        "holiday",
        "Holiday greeting with a gift",
        "Happy holidays from all of us at {{shop_name}}, {{first_name}}! "
        "Here is a gift: {{discount_code}}",
    ),
    LibraryTemplate(
        "holiday_shipping",
        "holiday",
        "Order by the holiday cut-off",
        "{{first_name}}, order from {{shop_name}} by Friday for delivery before the holidays.",
    ),
)
_FLOWS = tuple(
    LibraryTemplate(f"flow_{key}", key, f"{flow.title} (suggested)", flow.default_body)
    for key, flow in FLOWS.items()
)
TEMPLATES: dict[str, LibraryTemplate] = {t.key: t for t in (*_CAMPAIGNS, *_FLOWS)}


def get(key: str) -> LibraryTemplate | None:
    return TEMPLATES.get(key)


def event_variables(use_case: str) -> tuple[str, ...]:
    """The trigger placeholders a message for this use case may carry (a flow's)."""
    flow = FLOWS.get(use_case)
    return flow.event_variables if flow else ()
