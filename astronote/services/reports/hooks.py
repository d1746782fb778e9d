"""Rollup updates from the sending, delivery-report and consent paths: one statement each.

Message counters (sent, delivered, failed, credits) count on the message's own day, the
local day it was sent (claimed, or created, if it never went): a day's delivery rate is
then the share of that day's messages that arrived, whenever their reports came.
Opt-outs and new subscribers count on the day they happened.

Each message hook is one INSERT ... SELECT: it joins the given ids to their messages,
shop (zone) and, for one-off messages, their flow run, groups by (shop, day, source) in
SQL and upserts. Nothing is read into Python first.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import BigInteger, Integer, String, and_, case, func, literal, select, true

from astronote.extensions import db
from astronote.models import Automation, AutomationRun, Message, MessageStatus, Shop, now_utc
from astronote.services.reports import days, rollups
from astronote.services.sql import insert, values_table

messages, runs, flows = Message.__table__, AutomationRun.__table__, Automation.__table__
shops = Shop.__table__
OPT_OUT_WINDOW = timedelta(days=7)  # an opt-out counts against the last message this recent
SUBSCRIBED, UNSUBSCRIBED = "subscribed", "unsubscribed"


def message_source(joined):
    """(joined FROM clause, kind, id): a message's campaign, else its flow, else other."""
    joined = joined.outerjoin(
        runs, and_(runs.c.message_id == messages.c.id, messages.c.campaign_id.is_(None))
    ).outerjoin(flows, and_(flows.c.shop_id == runs.c.shop_id, flows.c.flow == runs.c.flow))
    kind = case(
        (messages.c.campaign_id.is_not(None), literal("campaign")),
        (flows.c.id.is_not(None), literal("flow")),
        else_=literal("other"),
    )
    return joined, kind, func.coalesce(messages.c.campaign_id, flows.c.id, 0)


def message_day():
    moment = func.coalesce(messages.c.sent_at, messages.c.claimed_at, messages.c.created_at)
    return days.local_day(moment, shops.c.timezone)


def message_rows(joined, counters: dict, *conditions):
    """Per message of `joined` (messages joined to shops): its rollup key and counters."""
    joined, kind, source = message_source(joined)
    key = (
        messages.c.shop_id.label("shop_id"),
        message_day().label("day"),
        kind.label("source_kind"),
        source.label("source_id"),
    )
    labelled = (expr.label(name) for name, expr in counters.items())
    return select(*key, *labelled).select_from(joined).where(true(), *conditions)


def add_grouped(rows, counters) -> None:
    """Group a per-row select by the rollup key and add its sums: one upsert."""
    rows = rows.subquery("rows")
    key = [rows.c[name] for name in rollups.KEY]
    sums = (func.sum(rows.c[name]) for name in counters)
    grouped = select(*key, *sums).where(true()).group_by(*key)
    statement = insert(rollups.table).from_select([*rollups.KEY, *counters], grouped)
    db.session.execute(rollups.add_on_conflict(statement, list(counters)))


def _from_messages(v, counters: dict, *conditions) -> None:
    """Upsert the sums of `counters` (name -> per-message expression) over v's messages."""
    joined = v.join(messages, messages.c.id == v.c.id).join(shops, shops.c.id == messages.c.shop_id)
    add_grouped(message_rows(joined, counters, *conditions), list(counters))


def sent(ids, rendered: dict) -> None:
    """Messages the provider took (or may have): sent +1 each, credits as charged.

    `rendered`: id -> (text, segments, credits), the send path's own bill."""
    rows = [(i, int(rendered[i][2]) if i in rendered else 0) for i in ids]
    if rows:
        v = values_table("v", {"id": BigInteger, "credits": Integer}, rows)
        _from_messages(v, {"sent": literal(1), "credits": v.c.credits})


def failed(ids) -> None:
    """Messages that failed before the provider took them (rejected, refused)."""
    if ids:
        v = values_table("v", {"id": BigInteger}, [(i,) for i in ids])
        _from_messages(v, {"failed": literal(1)})


def delivery_reports(updates) -> None:
    """Before the delivery-report UPDATE: new status against the stored one per message.

    `updates`: the batch's parameter rows (b_id, b_status). A delivered message reported
    failed later moves from one counter to the other."""
    rows = [(u["b_id"], u["b_status"]) for u in updates]
    if not rows:
        return
    v = values_table("v", {"id": BigInteger, "status": String}, rows)

    def moved(status: str):
        now = case((v.c.status == status, 1), else_=0)
        before = case((messages.c.status == status, 1), else_=0)
        return now - before

    counters = {"delivered": moved(MessageStatus.DELIVERED), "failed": moved(MessageStatus.FAILED)}
    _from_messages(v, counters, messages.c.status != v.c.status)


def consent_changed(contact, previous: str | None, state: str, force: bool = False) -> None:
    """A subscription (new, or back) or an opt-out. An opt-out counts against the source
    of the last message the contact was sent within the window, else 'other'."""
    now = now_utc()
    if state == SUBSCRIBED and (previous != state or force):
        rollups.bump(contact.shop_id, now, "other", 0, new_subscribers=1)
    elif state == UNSUBSCRIBED and previous != state:
        kind, source_id = last_message_source(contact.shop_id, contact.id, now)
        rollups.bump(contact.shop_id, now, kind, source_id, opt_outs=1)


def last_message_source(shop_id: int, contact_id: int, now) -> tuple[str, int]:
    """One indexed read (messages' shop, contact, sent_at index)."""
    joined, kind, source = message_source(messages)
    query = (
        select(kind, source)
        .select_from(joined)
        .where(
            messages.c.shop_id == shop_id,
            messages.c.contact_id == contact_id,
            messages.c.sent_at >= now - OPT_OUT_WINDOW,
        )
        .order_by(messages.c.sent_at.desc())
        .limit(1)
    )
    row = db.session.execute(query).first()
    return (row[0], row[1]) if row else ("other", 0)
