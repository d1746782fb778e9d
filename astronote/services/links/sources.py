"""The send path's entry points: the link set of a campaign's or a flow's body.

The set is built from the body with its shop-wide placeholders filled (shop name,
the shared discount code), so a link such as https://shop/discount/{{discount_code}}
is shortened too; a URL holding a personal placeholder (a name, a unique code) is not
in the set and stays long, in the send and in the composer's measure alike.
"""

from __future__ import annotations

from sqlalchemy import select

from astronote.extensions import db
from astronote.models import Campaign, Shop
from astronote.services.links.sets import AUTOMATION, CAMPAIGN, PreparedSet, Source, prepare
from astronote.services.links.shortening import measure
from astronote.services.messaging.rendering import ALIASES, VARIABLE, values_for

SHOP_WIDE = ("shop_name", "discount_code")  # the same for every recipient of a send


def shop_wide_template(
    shop: Shop, body: str, discount_code: str | None, personal_code: bool = False
) -> str:
    """The body with only its shop-wide placeholders filled; personal ones stay.
    `personal_code`: each recipient has their own {{discount_code}} (it stays too)."""
    values = values_for(shop, None, None, discount_code)
    shared = SHOP_WIDE[:1] if personal_code else SHOP_WIDE

    def fill(match) -> str:
        name = ALIASES.get(match.group(1).lower()) or ALIASES.get(
            match.group(1).lower().replace("_", "")
        )
        return (values.get(name) or "") if name in shared else match.group(0)

    return VARIABLE.sub(fill, body)


def measure_body(
    shop: Shop,
    body: str,
    discount_code: str | None,
    upcoming: int = 1,
    personal_code: bool = False,
) -> str:
    """The body template as the send will shorten it, for the composer's counter, cost and
    preview: every URL the send shortens (shop-wide placeholders filled) becomes a short
    link of the length the send will use; personal placeholders stay for rendering."""
    return measure(shop_wide_template(shop, body, discount_code, personal_code), upcoming)


def for_campaign(
    shop: Shop, campaign_id: int, body: str, discount_code: str | None, personal_code=False
) -> PreparedSet | None:
    """The campaign's link set (created on first use); None when the body has no URL.
    Call once per chunk, before rendering; the caller's transaction commits it."""
    if "http" not in body.lower():
        return None  # the common case costs no query
    name = db.session.execute(
        select(Campaign.name).where(Campaign.id == campaign_id, Campaign.shop_id == shop.id)
    ).scalar_one_or_none()
    if name is None:
        return None
    text = shop_wide_template(shop, body, discount_code, personal_code)
    return prepare(shop.id, Source(CAMPAIGN, campaign_id, name), text)


def for_flow(
    shop: Shop, automation_id: int, title: str, body: str, discount_code: str | None
) -> PreparedSet | None:
    """A flow's link set for this body version (`title`: the flow's, for utm_campaign)."""
    if "http" not in body.lower():
        return None
    text = shop_wide_template(shop, body, discount_code)
    return prepare(shop.id, Source(AUTOMATION, automation_id, title), text)
