"""Thin Shopify clients: session tokens now, Admin API and webhooks beside them."""
