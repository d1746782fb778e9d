"""Billing tasks: thin wrappers over services/billing."""
