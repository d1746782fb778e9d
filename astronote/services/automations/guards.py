"""Whether a due run still goes: the checks made at send time, not at trigger time.

A run waits minutes to months between its trigger and its message; in between the flow
may be switched off, the contact may opt out, the checkout may be completed. Each check
names its reason, which the flow's stats show. Consent follows the send path's rule
(`single.may_receive`): marketing needs a subscribed contact, transactional only one who
has not opted out. A recipient in quiet hours defers the run itself (`quiet_until`), so
every check here runs again when they end; the send path applies them once more, with
the frequency cap, credits and rate limits, as for campaigns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, select

from astronote.models import (
    AbandonedCheckout,
    Automation,
    ConsentState,
    Contact,
    Order,
    RunStatus,
    Shop,
)
from astronote.services.automations.catalogue import US_CART_LIMIT_MINUTES, flow
from astronote.services.billing.pricing import country_of
from astronote.services.sending import quiet_hours, single
from astronote.services.shopify.orders import parse_time

# A run found this long after it was due (a worker down for days) no longer makes sense.
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
MAX_LATE = {
    "welcome": 3 * DAY,
    "abandoned_checkout": 2 * DAY,
    "order_confirmation": DAY,
    "shipping_update": DAY,
    "review_request": 7 * DAY,
    "cross_sell": 7 * DAY,
    "win_back": 7 * DAY,
    "birthday": 12 * HOUR,
}
US_CART_LIMIT = timedelta(minutes=US_CART_LIMIT_MINUTES)


DEFERRED = "deferred"  # not a run status: the run stays scheduled, due when quiet hours end


@dataclass(frozen=True)
class Verdict:
    status: str  # RunStatus.SKIPPED or CANCELLED, or DEFERRED
    reason: str
    until: datetime | None = None  # DEFERRED: the run's new due time


def cancel(reason: str) -> Verdict:
    return Verdict(RunStatus.CANCELLED.value, reason)


def skip(reason: str) -> Verdict:
    return Verdict(RunStatus.SKIPPED.value, reason)


def check(
    session, run, shop: Shop | None, automation: Automation | None, contact: Contact | None, now
) -> Verdict | None:
    """None if the run goes now; else why not. Reads only (the caller writes the verdict)."""
    if shop is None or not shop.is_active:
        return cancel("shop_inactive")
    if automation is None or not automation.enabled:
        return cancel("flow_off")
    if contact is None:
        return skip("no_contact")
    if contact.consent_state == ConsentState.UNSUBSCRIBED.value:
        return skip("opted_out")
    if not flow(run.flow).transactional and contact.consent_state != ConsentState.SUBSCRIBED:
        return skip("not_subscribed")
    if now - run.due_at > MAX_LATE[run.flow]:
        return skip("expired")
    if run.flow == "abandoned_checkout":
        verdict = _checkout(session, run, shop, contact, now)
        if verdict is not None:
            return verdict
    if run.flow == "win_back" and contact.last_order_at and contact.last_order_at > run.created_at:
        return cancel("ordered")  # a new order since the scan: the quiet spell is over
    until = quiet_until(shop, run.flow, contact.phone, now)
    return Verdict(DEFERRED, "quiet_hours", until) if until else None


def quiet_until(shop: Shop, flow_key: str, phone: str, now: datetime) -> datetime | None:
    """When the recipient's quiet hours end, if they are in them now (and they apply).

    The run waits (still scheduled) rather than its message: every check above then runs
    again at the real send time (an order overnight, the flow switched off, the US 48 h)."""
    if not single.rules_for(shop, flow(flow_key).kind).quiet_hours:
        return None
    zones = quiet_hours.zones_for(phone, shop.timezone)
    return quiet_hours.next_allowed(now, zones, shop.quiet_start, shop.quiet_end)


def _checkout(session, run, shop: Shop, contact: Contact, now: datetime) -> Verdict | None:
    """Cancelled when completed or the customer ordered since; US: within 48 h or never."""
    token = (run.context or {}).get("checkout_token")
    abandoned_at = parse_time((run.context or {}).get("abandoned_at") or run.created_at)
    completed = select(AbandonedCheckout.completed_at).where(
        AbandonedCheckout.shop_id == run.shop_id, AbandonedCheckout.checkout_token == token
    )
    paid = exists().where(Order.shop_id == run.shop_id, Order.checkout_token == token)
    if session.execute(completed).scalar_one_or_none() is not None:
        return cancel("checkout_completed")
    if token and session.execute(select(paid)).scalar():  # its order came in before it
        return cancel("checkout_completed")
    ordered = exists().where(
        Order.shop_id == run.shop_id,
        Order.contact_id == contact.id,
        Order.ordered_at >= abandoned_at,
    )
    if session.execute(select(ordered)).scalar():
        return cancel("ordered")
    if country_of(contact.phone) == "US":
        # The one reminder must reach the customer within 48 h: if quiet hours would hold
        # it past that, it does not go at all.
        zones = quiet_hours.zones_for(contact.phone, shop.timezone)
        opens = quiet_hours.next_allowed(now, zones, shop.quiet_start, shop.quiet_end) or now
        if opens > abandoned_at + US_CART_LIMIT:
            return skip("expired")
    return None
