"""What each billing webhook topic does (app_purchases_one_time/update, app_subscriptions/*)."""

from __future__ import annotations

HANDLERS: dict = {}
