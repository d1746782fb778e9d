"""Which sender each destination gets, and whether a shop's sender settings can work.

US, Canadian and US-territory carriers refuse alphanumeric senders
(shared/reference/sms-domain.md §5), so messages to those numbers go from one of
the shop's own +1 numbers; everywhere else the alphanumeric sender ID is used.
A destination with no allowed sender gets None: the send path refuses that row
before the provider call (`check_batch`) instead of letting carriers drop it.
"""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
from sqlalchemy import select

from astronote.extensions import db
from astronote.models import Shop, ShopSenderNumber

DEFAULT_SENDER = "Astronote"
NO_ALPHANUMERIC = frozenset({"US", "CA", "PR", "VI", "GU", "AS", "MP", "UM"})
NANP_PREFIX = "+1"
_CACHE_KEY = "astronote.senders"


@dataclass(frozen=True)
class SenderPlan:
    number: str | None  # for destinations that refuse alphanumeric senders
    alphanumeric: str  # for the rest


def is_alphanumeric(sender: str | None) -> bool:
    return bool(sender) and not sender.startswith("+")


def refuses_alphanumeric(region: str | None) -> bool:
    return (region or "").upper() in NO_ALPHANUMERIC


_nanp_regions: dict[str, str | None] = {}  # "+1" and area code -> region; bounded by ~800 codes


def _refuses_alphanumeric_at(destination: str) -> bool:
    """Whether carriers at this E.164 destination refuse alphanumeric senders.

    Only North American Numbering Plan (+1) countries do, and there the area code
    decides the country, so one parse per area code serves every recipient after it.
    """
    if not destination.startswith(NANP_PREFIX):
        return False
    area = destination[:5]
    if area not in _nanp_regions:
        try:
            number = phonenumbers.parse(destination)
            _nanp_regions[area] = phonenumbers.region_code_for_number(number)
        except phonenumbers.NumberParseException:
            return True  # unknown +1 number: a number sender is the safe choice
    region = _nanp_regions[area]
    return region is None or refuses_alphanumeric(region)


def plan_for(shop: Shop) -> SenderPlan:
    """The shop's senders: its explicit +1 sender ID first, else its first +1 number."""
    number = shop.sender_id if (shop.sender_id or "").startswith(NANP_PREFIX) else None
    if number is None:
        number = db.session.execute(
            select(ShopSenderNumber.number)
            .where(
                ShopSenderNumber.shop_id == shop.id,
                ShopSenderNumber.number.startswith(NANP_PREFIX),
            )
            .order_by(ShopSenderNumber.number)
            .limit(1)
        ).scalar_one_or_none()
    return SenderPlan(number=number, alphanumeric=shop.sender_id or DEFAULT_SENDER)


def _cached_plan(shop: Shop) -> SenderPlan:
    # A chunk asks once per recipient; the answer is cached for the current transaction
    # only, so it is never staler than what that transaction reads anyway.
    session = db.session()
    transaction = session.get_transaction()
    cached = session.info.get(_CACHE_KEY)
    if transaction is not None and cached and cached[0] is transaction and shop.id in cached[1]:
        return cached[1][shop.id]
    plan = plan_for(shop)
    transaction = session.get_transaction()
    if cached is None or cached[0] is not transaction:
        cached = (transaction, {})
        session.info[_CACHE_KEY] = cached
    cached[1][shop.id] = plan
    return plan


def sender_for(shop: Shop, destination: str) -> str | None:
    """The sender for one E.164 destination, or None when the shop has none allowed there."""
    plan = _cached_plan(shop)
    if _refuses_alphanumeric_at(destination):
        return plan.number
    return plan.alphanumeric


def settings_error(region: str, sender_id: str | None) -> str | None:
    """Why a default region and sender ID cannot go together (None when they can)."""
    if refuses_alphanumeric(region) and is_alphanumeric(sender_id):
        return (
            "US and Canadian carriers refuse alphanumeric senders. Enter your number in "
            "international format such as +14155550123, or leave this empty and list your "
            "numbers under Messaging rules."
        )
    return None


def warning_for(shop: Shop) -> str | None:
    """A standing problem to show in Settings: no sender for the shop's own country."""
    if refuses_alphanumeric(shop.default_region) and plan_for(shop).number is None:
        return (
            "Messages to US and Canadian numbers cannot be sent until you add a +1 number: "
            "set it as the sender ID or list it under Messaging rules."
        )
    return None
