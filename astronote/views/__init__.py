"""Blueprints: thin views that parse input, call one service, commit, render."""

import phonenumbers
from flask import Flask, g

from astronote.services import timezones

NAV_ITEMS = (
    ("Contacts", "contacts.index"),
    ("Campaigns", "campaigns.index"),
    ("Automations", "automations.index"),
    ("Templates", "message_templates.index"),
    ("Reports", "reports.index"),
    ("Inbox", "inbox.index"),
    ("Submissions", "submissions.index"),
    ("Credits", "billing.index"),
    ("Settings", "settings.edit"),
)


def init_app(app: Flask) -> None:
    @app.context_processor
    def _layout_context():
        # App Bridge tags only where Shopify's admin is the host: a verified
        # session token, or any production page. Development and tests run offline.
        embedded = g.get("session_token") is not None or app.config["ASTRONOTE_ENV"] == "production"
        return {"embedded": embedded, "nav_items": NAV_ITEMS}

    @app.template_filter("shop_time")
    def _shop_time(moment) -> str:
        """Every time a page shows: the signed-in shop's zone, labelled with its name."""
        shop = g.get("shop")
        return timezones.shown(moment, shop.timezone if shop is not None else None)

    @app.template_filter("region_option")
    def _region_option(code: str) -> tuple[str, str]:
        return code, f"{code} (+{phonenumbers.country_code_for_region(code)})"

    @app.template_filter("pairwise_same")
    def _pairwise_same(value: str) -> tuple[str, str]:
        return value, value
