"""Revenue attribution: credit each order to the message that earned it (last touch).

Which message, strongest evidence first (touches.py):

1. `discount_code`, unique: the order used a per-recipient code (services/discounts):
   the code names its message, whatever its age (the code's own expiry bounds it).
2. `click`: the contact's latest click on any of the shop's tracked links within the
   click window before the order (Settings, default 5 days).
3. `discount_code`, shared: a campaign's or flow's code the contact was sent (the
   latest such message before the order).
4. `delivery`: the latest marketing message (campaign or flow, not transactional)
   delivered to the contact and sent within the delivery window (default 24 h).

A click outranks a shared code because the code can be passed on, while a click is the
contact's own last touch; a unique code outranks everything because it cannot.

The contact is the order's Shopify customer, else its phone (services/shopify/orders.py).
Exactly once: `order_attributions` has a unique (shop, order id) key and the rollup
(services/reports) is bumped only by the insert that won, in the same transaction.
Refunds (`refunds/create`, ledger.py) count once per refund id and never take an
order's attributed revenue below zero; a refund that comes before its order is kept
and applied when the order is attributed.

Reports read orders, revenue_cents and refunds_cents from the rollup on the order's
(or refund's) local day, under the credited campaign or flow.
"""
