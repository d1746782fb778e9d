"""Personalise a message for one recipient and append the shop's opt-out text."""

from __future__ import annotations

import re
from collections.abc import Mapping

from astronote.models import Shop
from astronote.services.messaging.segments import segment_count

MAX_BODY = 1600
VARIABLE = re.compile(r"\{\{\s*([A-Za-z_.]+)\s*\}\}")
# Canonical names, plus the spellings the original app's templates used.
ALIASES = {
    "first_name": "first_name",
    "firstname": "first_name",
    "customer.first_name": "first_name",
    "last_name": "last_name",
    "lastname": "last_name",
    "customer.last_name": "last_name",
    "shop_name": "shop_name",
    "shopname": "shop_name",
    "discount_code": "discount_code",
    "discountcode": "discount_code",
}
VARIABLES = ("first_name", "last_name", "shop_name", "discount_code")
# Filled only by the automations whose trigger carries them (services/automations/catalogue).
EVENT_VARIABLES = (
    "checkout_url",
    "order_number",
    "order_total",
    "tracking_url",
    "tracking_number",
    "shipment_status",
)
ALIASES.update({name: name for name in EVENT_VARIABLES})
ALIASES.update({name.replace("_", ""): name for name in EVENT_VARIABLES})
# The original app's spellings of the same values (its template library uses them).
ALIASES.update(
    {
        "order.name": "order_number",
        "totalprice": "order_total",
        "abandonedcheckouturl": "checkout_url",
        "carturl": "checkout_url",
        "tracking.number": "tracking_number",
        "tracking.url": "tracking_url",
        "trackinglink": "tracking_url",
    }
)
DEFAULT_OPT_OUT = "Reply STOP to opt out"


def _canonical(name: str) -> str | None:
    key = name.lower()
    return ALIASES.get(key) or ALIASES.get(key.replace("_", ""))


def unknown_variables(body: str, extra: tuple[str, ...] = ()) -> list[str]:
    """Placeholders we cannot fill: refused at compose time, never sent raw.

    `extra`: the event variables the message's trigger supplies (an automation's)."""
    known = set(VARIABLES) | set(extra)
    return sorted(
        {m.group(1) for m in VARIABLE.finditer(body) if _canonical(m.group(1)) not in known}
    )


def body_problem(
    body: str, empty: str = "Write the message.", extra: tuple[str, ...] = ()
) -> str | None:
    """What is wrong with a message as the merchant wrote it (normalised), or None.

    Every way of sending one (campaign, test, reply) checks it here: an unknown
    placeholder is refused at compose time, never sent raw."""
    if not body:
        return empty
    if len(body) > MAX_BODY:
        return f"A message can be at most {MAX_BODY:,} characters."
    if unknown := unknown_variables(body, extra):
        return "Unknown placeholder: " + ", ".join("{{" + u + "}}" for u in unknown)
    return None


def normalise_body(raw: str | None) -> str:
    return (raw or "").replace("\r\n", "\n").strip()


def discount_problem(code: str | None) -> str | None:
    if code and (len(code) > 64 or not code.replace("-", "").replace("_", "").isalnum()):
        return "Use letters, digits, - or _ (up to 64)."
    return None


def opt_out_text(shop: Shop, contact_id: int | None = None) -> str:
    """The line every marketing SMS ends with: reply STOP, or a personal short link.

    Link codes have a fixed length, so the cost preview is exact for every contact.
    """
    if shop.opt_out_mode == "link":
        from astronote.services.messaging.unsubscribe import link_for

        return f"Opt out: {link_for(shop.id, contact_id or 0)}"
    return DEFAULT_OPT_OUT


def render(body: str, values: Mapping[str, str | None], opt_out: str | None) -> str:
    """Fill placeholders (missing values become empty) and append the opt-out line."""

    def fill(match: re.Match) -> str:
        name = _canonical(match.group(1))
        return (values.get(name) or "") if name else match.group(0)

    text = VARIABLE.sub(fill, body).strip()  # newlines inside the body are kept as written
    return f"{text}\n{opt_out}" if opt_out else text


def values_for(shop: Shop, first_name, last_name, discount_code) -> dict[str, str | None]:
    return {
        "first_name": first_name,
        "last_name": last_name,
        "shop_name": shop.display_name,
        "discount_code": discount_code,
    }


def segments_for(shop: Shop, body: str, first_name, last_name, discount_code) -> int:
    values = values_for(shop, first_name, last_name, discount_code)
    return segment_count(render(body, values, opt_out_text(shop)))
