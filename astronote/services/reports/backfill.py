"""One-off, set-based backfill of the rollup from the base tables, shop by shop.

Recomputes the counters the hooks keep (messages, clicks, consent) and replaces what
the rollup holds for them: zero them for the shop, then one INSERT ... SELECT ...
GROUP BY per source table. Orders and revenue are left alone (attribution writes
them). Safe to run again; new data never needs it (see the package docstring).
"""

from __future__ import annotations

from sqlalchemy import Interval, and_, case, func, literal, or_, select, update

from astronote.extensions import db
from astronote.models import ConsentEvent, LinkClick, LinkSet, Message, MessageClick, Shop
from astronote.services.reports import days, rollups
from astronote.services.reports.hooks import (
    OPT_OUT_WINDOW,
    add_grouped,
    message_rows,
    message_source,
)
from astronote.services.sql import on_postgres

messages, shops = Message.__table__, Shop.__table__
REBUILT = ("sent", "delivered", "failed", "credits", "clicks", "unique_clicks")
REBUILT += ("opt_outs", "new_subscribers")
# Counted as growth: what record_consent sees. Imports are the merchant's list, not growth.
NOT_GROWTH = ("import",)


def _flag(condition):
    return case((condition, 1), else_=0)


def _messages(shop_id: int) -> None:
    went = or_(
        messages.c.sent_at.is_not(None),
        messages.c.provider_message_id.is_not(None),
        messages.c.status == "unknown",
    )
    billable = ~messages.c.kind.like("kw:%")
    price = func.coalesce(messages.c.credits, messages.c.segments)
    counters = {
        "sent": _flag(went),
        "delivered": _flag(messages.c.status == "delivered"),
        "failed": _flag(messages.c.status == "failed"),
        "credits": case((and_(went, billable), price), else_=0),
    }
    joined = messages.join(shops, shops.c.id == messages.c.shop_id)
    condition = or_(went, messages.c.status == "failed")
    per_message = message_rows(joined, counters, messages.c.shop_id == shop_id, condition)
    add_grouped(per_message, ["sent", "delivered", "failed", "credits"])


def _source_kind(column):
    return case((column == "automation", literal("flow")), else_=column)


def _clicks(shop_id: int, zone: str) -> None:
    clicks = (
        select(
            LinkClick.shop_id.label("shop_id"),
            days.local_day(LinkClick.clicked_at, literal(zone)).label("day"),
            _source_kind(LinkSet.source_kind).label("source_kind"),
            LinkSet.source_id.label("source_id"),
            literal(1).label("clicks"),
        )
        .join(LinkSet, LinkSet.id == LinkClick.link_set_id)
        .where(LinkClick.shop_id == shop_id)
    )
    add_grouped(clicks, ["clicks"])
    unique = select(
        MessageClick.shop_id.label("shop_id"),
        days.local_day(MessageClick.first_clicked_at, literal(zone)).label("day"),
        _source_kind(MessageClick.source_kind).label("source_kind"),
        MessageClick.source_id.label("source_id"),
        literal(1).label("unique_clicks"),
    ).where(MessageClick.shop_id == shop_id)
    add_grouped(unique, ["unique_clicks"])


def _window_start(moment):
    """`moment` minus the opt-out window, in SQL (SQLite: its own date arithmetic)."""
    if on_postgres():
        return moment - literal(OPT_OUT_WINDOW, Interval)
    return func.datetime(moment, f"-{OPT_OUT_WINDOW.days} days")


def _consent(shop_id: int, zone: str) -> None:
    """A change is an event whose state differs from the contact's event before it."""
    events = ConsentEvent.__table__
    before = func.lag(events.c.state).over(
        partition_by=events.c.contact_id, order_by=(events.c.occurred_at, events.c.id)
    )
    changes = (
        select(events, before.label("previous"))
        .where(events.c.shop_id == shop_id, events.c.source.not_in(NOT_GROWTH))
        .subquery("changes")
    )
    changed = or_(changes.c.previous.is_(None), changes.c.previous != changes.c.state)
    day = days.local_day(changes.c.occurred_at, literal(zone))
    subscribed = select(
        changes.c.shop_id.label("shop_id"),
        day.label("day"),
        literal("other").label("source_kind"),
        literal(0).label("source_id"),
        literal(1).label("new_subscribers"),
    ).where(changes.c.state == "subscribed", changed)
    add_grouped(subscribed, ["new_subscribers"])
    joined, kind, source = message_source(messages)
    last = (
        select(kind, source)
        .select_from(joined)
        .where(
            messages.c.shop_id == changes.c.shop_id,
            messages.c.contact_id == changes.c.contact_id,
            messages.c.sent_at <= changes.c.occurred_at,
            messages.c.sent_at >= _window_start(changes.c.occurred_at),
        )
        .order_by(messages.c.sent_at.desc())
        .limit(1)
    )
    opted_out = select(
        changes.c.shop_id.label("shop_id"),
        day.label("day"),
        func.coalesce(last.with_only_columns(kind).scalar_subquery(), "other").label("source_kind"),
        func.coalesce(last.with_only_columns(source).scalar_subquery(), 0).label("source_id"),
        literal(1).label("opt_outs"),
    ).where(changes.c.state == "unsubscribed", changed)
    add_grouped(opted_out, ["opt_outs"])


def run(shop_id: int) -> None:
    """Rebuild one shop's message, click and consent counters. Caller commits."""
    zone = days.zones([shop_id]).get(shop_id, "UTC")
    db.session.execute(
        update(rollups.table)
        .where(rollups.table.c.shop_id == shop_id)
        .values({name: 0 for name in REBUILT})
    )
    _messages(shop_id)
    _clicks(shop_id, zone)
    _consent(shop_id, zone)


def run_all(shop_domain: str | None = None, echo=print) -> int:
    """Every shop (or one), committing shop by shop; returns how many were rebuilt."""
    query = select(Shop.id, Shop.shop_domain).order_by(Shop.id)
    if shop_domain:
        query = query.where(Shop.shop_domain == shop_domain)
    done = 0
    for shop_id, domain in db.session.execute(query).all():
        run(shop_id)
        db.session.commit()
        echo(f"{domain}: rollup rebuilt")
        done += 1
    return done
