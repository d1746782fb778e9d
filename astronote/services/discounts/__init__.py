"""Discount codes in campaigns: the composer's picker of the shop's Shopify code
discounts (picker), the unique-code settings (settings), one code per message written
set-based (codes) and created in Shopify 250 at a time before the send (prepare)."""
