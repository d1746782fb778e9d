"""Shopify's order, checkout, fulfilment and consent webhooks, as API 2026-10 sends them.

The payloads are the REST resources Shopify posts for `checkouts/create|update`,
`orders/create`, `refunds/create`, `fulfillments/create|update` and
`customers_marketing_consent/update`
(the shape of Shopify's own "send test notification" samples), with the fields a test
varies as arguments. Money is a string, times are ISO 8601 with an offset, ids are
integers and `admin_graphql_api_id` their GID. `Shopify` signs each delivery with the
app's secret (`signed_webhook`, computed independently of the code under test) and
posts it to the app, like the real one: each delivery has its own webhook id unless a
test redelivers one.
"""

from __future__ import annotations

import itertools
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tests.fakes.shopify_server import consent_payload, signed_webhook

_ids = itertools.count(5_001_000_000)


def _iso(moment: datetime | None) -> str:
    return (moment or datetime.now(UTC)).astimezone(UTC).isoformat()


def _address(phone: str | None, first: str, last: str) -> dict:
    return {
        "first_name": first,
        "address1": "123 Amoebobacterium St",
        "phone": phone,
        "city": "Ottawa",
        "zip": "K2P 0V6",
        "province": "Ontario",
        "country": "Canada",
        "last_name": last,
        "address2": "",
        "company": None,
        "latitude": 45.41634,
        "longitude": -75.6868,
        "name": f"{first} {last}",
        "country_code": "CA",
        "province_code": "ON",
    }


def _customer(customer_id: int | None, phone: str | None, first: str, last: str) -> dict | None:
    if customer_id is None:
        return None
    return {
        "id": customer_id,
        "email": f"{first.lower()}@example.com",
        "created_at": "2026-01-10T11:00:00-05:00",
        "updated_at": _iso(None),
        "first_name": first,
        "last_name": last,
        "state": "enabled",
        "note": None,
        "verified_email": True,
        "multipass_identifier": None,
        "tax_exempt": False,
        "phone": phone,
        "currency": "USD",
        "tax_exemptions": [],
        "admin_graphql_api_id": f"gid://shopify/Customer/{customer_id}",
    }


def _line_item(title: str = "Aviator sunglasses", price: str = "89.99") -> dict:
    item_id = next(_ids)
    return {
        "id": item_id,
        "admin_graphql_api_id": f"gid://shopify/LineItem/{item_id}",
        "fulfillable_quantity": 1,
        "fulfillment_service": "manual",
        "fulfillment_status": None,
        "gift_card": False,
        "grams": 100,
        "name": title,
        "price": price,
        "product_exists": True,
        "product_id": 788032119674292922,
        "properties": [],
        "quantity": 1,
        "requires_shipping": True,
        "sku": "SKU2006-001",
        "taxable": True,
        "title": title,
        "total_discount": "0.00",
        "variant_id": 642667041472713922,
        "variant_title": None,
        "vendor": None,
        "tax_lines": [],
        "duties": [],
        "discount_allocations": [],
    }


def checkout(
    token: str,
    phone: str | None,
    customer_id: int | None = None,
    first: str = "Bob",
    last: str = "Norman",
    total: str = "89.99",
    updated_at: datetime | None = None,
    completed_at: datetime | None = None,
    shop: str = "gamma.myshopify.com",
) -> dict:
    """checkouts/create and checkouts/update: the abandoned checkout resource."""
    checkout_id = zlib.crc32(token.encode())
    created = updated_at or datetime.now(UTC)
    return {
        "id": checkout_id,
        "token": token,
        "cart_token": f"cart-{token}",
        "email": f"{first.lower()}@example.com",
        "gateway": None,
        "buyer_accepts_marketing": False,
        "buyer_accepts_sms": phone is not None,
        "sms_marketing_phone": phone,
        "created_at": _iso(created),
        "updated_at": _iso(updated_at),
        "landing_site": "/",
        "note": None,
        "note_attributes": [],
        "referring_site": None,
        "shipping_lines": [],
        "taxes_included": False,
        "total_weight": 100,
        "currency": "USD",
        "completed_at": _iso(completed_at) if completed_at else None,
        "closed_at": None,
        "user_id": None,
        "location_id": None,
        "source_identifier": None,
        "source_url": None,
        "device_id": None,
        "phone": phone,
        "customer_locale": "en",
        "line_items": [_line_item(price=total)],
        "name": f"#{checkout_id}",
        "source": None,
        "abandoned_checkout_url": (
            f"https://{shop}/{checkout_id}/checkouts/ac/{token}/recover?key=example-secret-token"
        ),
        "discount_codes": [],
        "tax_lines": [],
        "source_name": "web",
        "presentment_currency": "USD",
        "total_discounts": "0.00",
        "total_line_items_price": total,
        "total_price": total,
        "total_tax": "0.00",
        "subtotal_price": total,
        "total_duties": None,
        "billing_address": _address(phone, first, last),
        "shipping_address": _address(phone, first, last),
        "customer": _customer(customer_id, phone, first, last),
    }


def order(
    order_id: int,
    phone: str | None,
    customer_id: int | None = None,
    number: int = 1001,
    total: str = "42.00",
    currency: str = "USD",
    checkout_token: str | None = None,
    created_at: datetime | None = None,
    first: str = "Bob",
    last: str = "Norman",
    shop: str = "gamma.myshopify.com",
    discount_codes: tuple[str, ...] = (),
) -> dict:
    """orders/create: the order resource (the customer's phone may be on the order, the
    customer or the billing address; Shopify sends whichever the buyer gave)."""
    return {
        "id": order_id,
        "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
        "app_id": 580111,
        "browser_ip": "203.0.113.7",
        "buyer_accepts_marketing": False,
        "cancel_reason": None,
        "cancelled_at": None,
        "cart_token": f"cart-{checkout_token}" if checkout_token else None,
        "checkout_id": zlib.crc32(checkout_token.encode()) if checkout_token else None,
        "checkout_token": checkout_token,
        "closed_at": None,
        "confirmation_number": f"X{order_id % 10**8:08d}",
        "confirmed": True,
        "contact_email": f"{first.lower()}@example.com",
        "created_at": _iso(created_at),
        "currency": currency,
        "current_subtotal_price": total,
        "current_total_price": total,
        "customer_locale": "en",
        "discount_codes": [
            {"code": code, "amount": "5.00", "type": "fixed_amount"} for code in discount_codes
        ],
        "email": f"{first.lower()}@example.com",
        "estimated_taxes": False,
        "financial_status": "paid",
        "fulfillment_status": None,
        "landing_site": "/?utm_source=sms",
        "name": f"#{number}",
        "note": None,
        "note_attributes": [],
        "number": number - 1000,
        "order_number": number,
        "order_status_url": f"https://{shop}/{order_id}/orders/abc/authenticate?key=k",
        "payment_gateway_names": ["bogus"],
        "phone": phone,
        "presentment_currency": currency,
        "processed_at": _iso(created_at),
        "source_name": "web",
        "subtotal_price": total,
        "tags": "",
        "taxes_included": False,
        "test": True,
        "token": f"tok{order_id}",
        "total_discounts": "0.00",
        "total_line_items_price": total,
        "total_outstanding": "0.00",
        "total_price": total,
        "total_price_set": _money_set(total, currency),
        "total_tax": "0.00",
        "total_weight": 100,
        "updated_at": _iso(created_at),
        "user_id": None,
        "billing_address": _address(phone, first, last),
        "customer": _customer(customer_id, phone, first, last),
        "discount_applications": [],
        "fulfillments": [],
        "line_items": [_line_item(price=total)],
        "payment_terms": None,
        "refunds": [],
        "shipping_address": _address(phone, first, last),
        "shipping_lines": [],
    }


def _money_set(amount: str, currency: str) -> dict:
    money = {"amount": amount, "currency_code": currency}
    return {"shop_money": money, "presentment_money": dict(money)}


def refund(
    refund_id: int,
    order_id: int,
    amount: str = "10.00",
    currency: str = "USD",
    created_at: datetime | None = None,
    line_item_id: int = 866550311766439020,
) -> dict:
    """refunds/create: the refund resource, one refunded line item (subtotal + tax = the
    amount) and its successful `refund` transaction, amounts as strings."""
    moment = _iso(created_at)
    return {
        "id": refund_id,
        "order_id": order_id,
        "created_at": moment,
        "note": "Returned",
        "user_id": None,
        "processed_at": moment,
        "restock": True,
        "duties": [],
        "total_duties_set": _money_set("0.00", currency),
        "return": None,
        "refund_shipping_lines": [],
        "admin_graphql_api_id": f"gid://shopify/Refund/{refund_id}",
        "refund_line_items": [
            {
                "id": refund_id + 1,
                "line_item_id": line_item_id,
                "location_id": 24826418,
                "quantity": 1,
                "restock_type": "return",
                "subtotal": float(amount),
                "subtotal_set": _money_set(amount, currency),
                "total_tax": 0.0,
                "total_tax_set": _money_set("0.00", currency),
                "line_item": _line_item(),
            }
        ],
        "transactions": [
            {
                "id": refund_id + 2,
                "order_id": order_id,
                "kind": "refund",
                "gateway": "bogus",
                "status": "success",
                "message": "Bogus Gateway: Forced success",
                "created_at": moment,
                "test": True,
                "authorization": None,
                "location_id": None,
                "user_id": None,
                "parent_id": refund_id - 1,
                "processed_at": moment,
                "device_id": None,
                "error_code": None,
                "source_name": "web",
                "receipt": {},
                "amount": amount,
                "currency": currency,
                "payment_id": f"c{order_id}.2",
                "total_unsettled_set": _money_set("0.00", currency),
                "manual_payment_gateway": True,
                "admin_graphql_api_id": f"gid://shopify/OrderTransaction/{refund_id + 2}",
            }
        ],
        "order_adjustments": [],
    }


def fulfillment(
    fulfillment_id: int,
    order_id: int,
    shipment_status: str | None = None,
    tracking_number: str = "1Z2345",
    tracking_url: str | None = None,
    created_at: datetime | None = None,
    number: int = 1001,
) -> dict:
    """fulfillments/create (shipment_status usually null) and fulfillments/update (the
    carrier's status: label_printed, in_transit, out_for_delivery, delivered, ...)."""
    url = tracking_url or f"https://www.ups.com/WebTracking?trackingNumber={tracking_number}"
    return {
        "id": fulfillment_id,
        "order_id": order_id,
        "status": "success",
        "created_at": _iso(created_at),
        "service": "manual",
        "updated_at": _iso(None),
        "tracking_company": "UPS",
        "shipment_status": shipment_status,
        "location_id": 24826418,
        "origin_address": None,
        "email": "bob@example.com",
        "destination": _address(None, "Bob", "Norman"),
        "line_items": [_line_item()],
        "tracking_number": tracking_number,
        "tracking_numbers": [tracking_number],
        "tracking_url": url,
        "tracking_urls": [url],
        "receipt": {},
        "name": f"#{number}.1",
        "admin_graphql_api_id": f"gid://shopify/Fulfillment/{fulfillment_id}",
    }


def consent(customer_id: int, phone: str | None, state: str = "subscribed", **fields) -> dict:
    """customers_marketing_consent/update (lower-case state and opt-in level)."""
    return consent_payload(customer_id, phone, state, **fields)


@dataclass
class Shopify:
    """Delivers signed webhooks to the app under test, keeping each delivery's id."""

    client: object
    secret: str
    shop: str
    sent: list[tuple[str, str, bytes, dict]] = field(default_factory=list)

    def deliver(self, topic: str, payload: dict, webhook_id: str | None = None):
        body, headers = signed_webhook(self.secret, topic, self.shop, payload, webhook_id)
        self.sent.append((topic, headers["X-Shopify-Webhook-Id"], body, headers))
        response = self.client.post("/webhooks/shopify", data=body, headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        return response

    def redeliver_last(self):
        """The same delivery again (same webhook id): Shopify retries on a slow answer."""
        topic, webhook_id, body, headers = self.sent[-1]
        return self.client.post("/webhooks/shopify", data=body, headers=headers)

    def resend_as_new(self, index: int = -1):
        """The same event under a new webhook id (Shopify may emit an event twice)."""
        topic, _, body, _ = self.sent[index]
        body_headers = signed_webhook(self.secret, topic, self.shop, body)
        return self.client.post("/webhooks/shopify", data=body_headers[0], headers=body_headers[1])
