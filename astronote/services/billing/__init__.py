"""Billing through Shopify: credit packs, the plan with included credits, usage top-ups,
and what a credit costs per destination country.
"""
