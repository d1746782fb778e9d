"""Daily scans: win-back, birthdays and imported subscribers, one INSERT … SELECT each.

Each scan writes the shop's runs straight from `contacts` in one statement, with ON
CONFLICT DO NOTHING on the run's unique key: scans that overlap (two workers, an hourly
task that runs again) insert nothing twice, and no Python loop touches a contact. The
key says what "once" means for each flow:

- win-back: `win_back:<contact>:<date of the last order>`: once per quiet spell; a new
  order starts a new spell. Customers whose spell began in the last `LOOKBACK` are
  scanned, so a few missed days are caught up but switching the flow on does not text
  every customer who ever lapsed.
- birthday: `birthday:<contact>:<year>`, due at the flow's hour in the shop's zone.
  A 29 February birthday is celebrated on the 28th in other years.
- imported subscribers (only with the welcome flow's `include_imports`): `contact:<id>`,
  the welcome trigger's own key, so nobody is welcomed twice whatever the source.

Flush only: the caller commits (runs due now then wake the dispatcher).
"""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import String, and_, cast, extract, func, literal, or_, select

from astronote.extensions import db
from astronote.models import (
    Automation,
    AutomationRun,
    ConsentSource,
    ConsentState,
    Contact,
    RunStatus,
    Shop,
    now_utc,
)
from astronote.services.automations import triggers
from astronote.services.automations.catalogue import SCANNED_FLOWS
from astronote.services.sql import insert, on_postgres

runs, contacts = AutomationRun.__table__, Contact.__table__
RUN_KEY = ["shop_id", "flow", "trigger_key", "step"]
COLUMNS = ["shop_id", "flow", "trigger_key", "step", "contact_id", "due_at", "status"]
COLUMNS += ["context", "created_at"]
LOOKBACK = timedelta(days=7)
IMPORT_WINDOW = timedelta(days=1)


def shops_to_scan() -> list[int]:
    """Active shops with a scanned flow on, or welcoming imported subscribers."""
    scanned = Automation.flow.in_(SCANNED_FLOWS)
    imports = (Automation.flow == "welcome") & Automation.include_imports.is_(True)
    query = (
        select(Automation.shop_id)
        .join(Shop, Shop.id == Automation.shop_id)
        .where(Automation.enabled.is_(True), Shop.is_active.is_(True), or_(scanned, imports))
        .distinct()
        .order_by(Automation.shop_id)
    )
    return list(db.session.execute(query).scalars())


def run_daily(shop_id: int, now: datetime | None = None) -> dict[str, int]:
    """Schedule the shop's win-back, birthday and imported-welcome runs; new runs per flow.

    Safe to run any number of times a day, concurrently too. Flush only.
    """
    now = now or now_utc()
    shop = db.session.get(Shop, shop_id)
    query = select(Automation).filter_by(shop_id=shop_id, enabled=True)
    on = {a.flow: a for a in db.session.execute(query).scalars()}
    counts: dict[str, int] = {}
    if shop is None or not shop.is_active:
        return counts
    if "win_back" in on:
        counts["win_back"] = _win_back(shop, on["win_back"], now)
    if "birthday" in on:
        counts["birthday"] = _birthdays(shop, on["birthday"], now)
    if "welcome" in on and on["welcome"].include_imports:
        counts["welcome"] = _imported(shop, now)
    if any(counts.values()):
        triggers.note_due(shop_id)  # the dispatcher checks which of them are due now
    return counts


def _insert_runs(shop: Shop, flow: str, key, due_at: datetime, now: datetime, *where) -> int:
    subscribed = contacts.c.consent_state == ConsentState.SUBSCRIBED.value
    rows = select(
        literal(shop.id),
        literal(flow),
        key,
        literal(0),
        contacts.c.id,
        literal(due_at, runs.c.due_at.type),
        literal(RunStatus.SCHEDULED.value),
        literal({}, runs.c.context.type),
        literal(now, runs.c.created_at.type),
    ).where(contacts.c.shop_id == shop.id, subscribed, *where)
    stmt = insert(runs).from_select(COLUMNS, rows).on_conflict_do_nothing(index_elements=RUN_KEY)
    if not on_postgres():
        return db.session.execute(stmt).rowcount
    # psycopg reports no rowcount for INSERT … ON CONFLICT: count what it returns, in SQL.
    inserted = stmt.returning(runs.c.id).cte("inserted")
    return db.session.execute(select(func.count()).select_from(inserted)).scalar_one()


def _key(prefix: str, *parts):
    key = literal(f"{prefix}:") + cast(contacts.c.id, String)
    for part in parts:
        key = key + literal(":") + part
    return key


def _utc_date(column):
    """YYYY-MM-DD of a stored UTC timestamp, as text, on either database."""
    if on_postgres():
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.substr(column, 1, 10)


def _win_back(shop: Shop, automation: Automation, now: datetime) -> int:
    cutoff = now - timedelta(minutes=automation.delay_minutes)
    spell = and_(contacts.c.last_order_at <= cutoff, contacts.c.last_order_at > cutoff - LOOKBACK)
    key = _key("win_back", _utc_date(contacts.c.last_order_at))
    return _insert_runs(shop, "win_back", key, now, now, spell)


def _birthdays(shop: Shop, automation: Automation, now: datetime) -> int:
    """Contacts whose birthday is today in the shop's zone, due at the flow's local hour."""
    zone = ZoneInfo(shop.timezone or "UTC")
    today = now.astimezone(zone).date()
    hour = automation.send_hour if automation.send_hour is not None else 10
    due_at = datetime(today.year, today.month, today.day, hour, tzinfo=zone)
    month, day = extract("month", contacts.c.birth_date), extract("day", contacts.c.birth_date)
    born_today = and_(month == today.month, day == today.day)
    if today.month == 2 and today.day == 28 and not calendar.isleap(today.year):
        born_today = or_(born_today, and_(month == 2, day == 29))
    key = _key("birthday", literal(str(today.year)))
    return _insert_runs(shop, "birthday", key, due_at, now, born_today)


def _imported(shop: Shop, now: datetime) -> int:
    recent = and_(
        contacts.c.consent_source == ConsentSource.IMPORT.value,
        contacts.c.consent_updated_at >= now - IMPORT_WINDOW,
    )
    key = literal("contact:") + cast(contacts.c.id, String)
    return _insert_runs(shop, "welcome", key, now, now, recent)
