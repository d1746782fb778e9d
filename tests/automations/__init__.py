"""Automations: engine, pages and stats."""
