"""Local days: which calendar day a moment falls on in the shop's zone, in Python and SQL.

Every rollup row is keyed by the shop's own day, so "today" on the dashboard is the
merchant's today. SQL: PostgreSQL's `timezone(zone, ts)`; SQLite has no zone database,
so each connection gets a small Python function (registered below) doing the same.
Zone names are IANA names checked against the same tzdata (services/shopify/shops.py).
"""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, date, datetime

from sqlalchemy import Date, cast, event, func, select
from sqlalchemy.engine import Engine

from astronote.extensions import db
from astronote.models import Shop
from astronote.services.sql import in_list, on_postgres
from astronote.services.timezones import zone_of

ZONE_TTL = 300.0  # seconds a shop's zone is trusted from memory (it rarely changes)
_zones: dict[int, tuple[str, float]] = {}


def day_of(moment: datetime, zone_name: str | None) -> date:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(zone_of(zone_name)[0]).date()


def today(zone_name: str | None) -> date:
    return day_of(datetime.now(UTC), zone_name)


def zones(shop_ids) -> dict[int, str]:
    """Each shop's zone name; one query for the shops not remembered in the last minutes."""
    now, found, missing = time.monotonic(), {}, []
    for shop_id in set(shop_ids):
        cached = _zones.get(shop_id)
        if cached and cached[1] > now:
            found[shop_id] = cached[0]
        else:
            missing.append(shop_id)
    if missing:
        query = select(Shop.id, Shop.timezone).where(in_list(Shop.id, missing))
        for shop_id, zone in db.session.execute(query):
            _zones[shop_id] = (zone, now + ZONE_TTL)
            found[shop_id] = zone
    return found


def forget(shop_id: int) -> None:
    """Drop a remembered zone (settings changed it, tests)."""
    _zones.pop(shop_id, None)


def local_day(moment, zone_name):
    """SQL: the local date of a UTC timestamp column in a zone column."""
    if on_postgres():
        return cast(func.timezone(zone_name, moment), Date)
    return func.astronote_local_day(moment, zone_name)


def _sqlite_local_day(moment: str | None, zone_name: str | None) -> str | None:
    if moment is None:
        return None
    parsed = datetime.fromisoformat(str(moment))
    return day_of(parsed, zone_name).isoformat()


@event.listens_for(Engine, "connect")
def _register_sqlite_function(dbapi_connection, _record):
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.create_function(
            "astronote_local_day", 2, _sqlite_local_day, deterministic=True
        )
