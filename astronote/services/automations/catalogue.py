"""The eight flows: what triggers each, its default copy, delay and placeholders.

A shop's `Automation` row holds only what the merchant changed from these defaults; the
row is created from here the first time the shop's flows are read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MARKETING = "automation"  # needs a subscribed contact; frequency cap and quiet hours apply
TRANSACTIONAL = "transactional"  # needs a contact who has not opted out; exempt from both
DAY = 24 * 60
US_CART_LIMIT_MINUTES = 48 * 60  # US rule: the one cart reminder goes within 48 h


@dataclass(frozen=True)
class Flow:
    key: str
    title: str
    trigger: str  # what starts it, in the merchant's words
    kind: str
    default_body: str
    delay_minutes: int = 0
    delay_unit: str | None = None  # "minutes" | "hours" | "days"; None: sent at once
    event_variables: tuple[str, ...] = ()
    sample: dict[str, str] = field(default_factory=dict)  # preview values
    default_send_hour: int | None = None
    default_enabled: bool = False

    @property
    def transactional(self) -> bool:
        return self.kind == TRANSACTIONAL


FLOWS: dict[str, Flow] = {
    flow.key: flow
    for flow in (
        Flow(
            key="welcome",
            title="Welcome",
            trigger="A contact subscribes: storefront form, keyword, checkout or by hand",
            kind=MARKETING,
            default_body="Welcome to {{shop_name}}, {{first_name}}! Here is 10% off "
            "your first order: {{discount_code}}",
        ),
        Flow(
            key="abandoned_checkout",
            title="Abandoned checkout",
            trigger="A checkout with a phone number is left unfinished",
            kind=MARKETING,
            default_body="{{first_name}}, you left something in your cart at "
            "{{shop_name}}. Finish your order: {{checkout_url}}",
            delay_minutes=60,
            delay_unit="minutes",
            event_variables=("checkout_url",),
            sample={"checkout_url": "https://shop.example/checkouts/c/4a1b"},
        ),
        Flow(
            key="order_confirmation",
            title="Order confirmation",
            trigger="An order is placed",
            kind=TRANSACTIONAL,
            default_body="Thanks for your order {{order_number}} at {{shop_name}}! "
            "Total: {{order_total}}. We'll text you when it ships.",
            event_variables=("order_number", "order_total"),
            sample={"order_number": "#1001", "order_total": "$42.00"},
        ),
        Flow(
            key="shipping_update",
            title="Shipping update",
            trigger="An order ships, and when the shipment is delivered",
            kind=TRANSACTIONAL,
            default_body="Your {{shop_name}} order {{order_number}} {{shipment_status}}. "
            "Track it: {{tracking_url}} ({{tracking_number}})",
            event_variables=("order_number", "tracking_url", "tracking_number", "shipment_status"),
            sample={
                "order_number": "#1001",
                "shipment_status": "is on its way",
                "tracking_url": "https://track.example/1Z999",
                "tracking_number": "1Z999AA10123456784",
            },
        ),
        Flow(
            key="review_request",
            title="Review request",
            trigger="Days after an order is fulfilled",
            kind=MARKETING,
            default_body="Hi {{first_name}}, how do you like your order {{order_number}} "
            "from {{shop_name}}? We'd love a review.",
            delay_minutes=7 * DAY,
            delay_unit="days",
            event_variables=("order_number",),
            sample={"order_number": "#1001"},
        ),
        Flow(
            key="cross_sell",
            title="Cross-sell",
            trigger="Days after an order",
            kind=MARKETING,
            default_body="{{first_name}}, customers who liked your last order also love "
            "our new arrivals at {{shop_name}}. {{discount_code}}",
            delay_minutes=14 * DAY,
            delay_unit="days",
        ),
        Flow(
            key="win_back",
            title="Win-back",
            trigger="Days since a customer's last order (once per quiet spell)",
            kind=MARKETING,
            default_body="We miss you at {{shop_name}}, {{first_name}}! Come back for "
            "15% off with {{discount_code}}",
            delay_minutes=90 * DAY,
            delay_unit="days",
        ),
        Flow(
            key="birthday",
            title="Birthday",
            trigger="A contact's birthday, at a set hour in the shop's time zone",
            kind=MARKETING,
            default_body="Happy birthday, {{first_name}}! A treat from {{shop_name}}: "
            "{{discount_code}}",
            default_send_hour=10,
        ),
    )
}
EVENT_FLOWS = ("welcome", "abandoned_checkout", "order_confirmation", "shipping_update")
DELAYED_FLOWS = ("review_request", "cross_sell")
SCANNED_FLOWS = ("win_back", "birthday")
DEMO_ENABLED = ("welcome", "order_confirmation")


def flow(key: str) -> Flow:
    return FLOWS[key]
