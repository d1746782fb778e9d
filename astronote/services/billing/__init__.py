"""Billing through Shopify: credit packs, the plan with included credits, usage top-ups,
and what a credit costs per destination country.

- `gateway`: which Admin API (and token) a shop's billing calls use; the dev sim for the demo
- `packs`: the pack catalogue; buy a pack, verify it on return and on its webhook, grant once
- `plans`: the plan (appSubscriptionCreate), its included credits once per billing period
- `topups`: usage top-ups on the plan's capped line item (appUsageRecordCreate), idempotent
- `account`: the credits page: balance, purchase history, ledger pages and CSV, settings
- `webhooks`: app_purchases_one_time/update and app_subscriptions/* handlers
- `pricing`: credits per segment by destination country
"""
