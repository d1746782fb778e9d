"""Messaging: what a message says and what a reply means.

- `rendering`, `segments`, `gsm`: personalise a message and count its segments;
- `keywords`, `inbound`: STOP / START / HELP and routing of replies;
- `inbox`: two-way conversations and merchant replies;
- `unsubscribe`: the unsubscribe links;
- `storefront`, `public_limits`: the storefront opt-in and contact form, and their limits;
- `settings`: the messaging rules a merchant controls.
"""
