"""Shopify: the shop's install, its tokens, its webhooks and its customers.

- `shops`: install (or reactivate) from a verified session, and shop settings;
- `tokens`: offline access tokens, encrypted at rest and refreshed;
- `webhook_events`, `webhook_topics`: record each delivery once, apply it by topic, and
  mark the ones that keep failing `dead`;
- `customers`, `customer_payloads`, `customer_tags`, `customer_sync`: Shopify customers
  to contacts (consent, tags, order statistics), resumable;
- `orders`: order and checkout facts;
- `consent_writeback`: consent changed here, written back to Shopify;
- `gdpr`, `gdpr_erasure`: the mandatory GDPR topics.

Session tokens are verified in `astronote/integrations/shopify/session_tokens.py`.
Transaction owners: `tokens` commits each refresh (refresh tokens rotate) and
`customer_sync` commits each page with its cursor.
"""
