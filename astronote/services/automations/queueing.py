"""Runs whose text needs Python (trigger placeholders, personal opt-out links) become
messages a batch at a time: each run is checked (`guards.check`) and rendered in Python
as `single.queue_single` would, then every message of the batch is written by one
INSERT, each shop's cost reserved once, and the runs marked by one UPDATE.

A message per statement (and a ledger entry per message) cost ~7 round trips per run;
at a thousand order confirmations a minute that is the whole budget. Flush only; raises
InsufficientCredits (the dispatcher then goes run by run, and the run that does not fit
is skipped with `no_credits`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime

from sqlalchemy import select

from astronote.extensions import db
from astronote.models import AutomationRun, Contact, Message, MessageStatus
from astronote.services import credits, links
from astronote.services.automations import bulk, guards
from astronote.services.automations.catalogue import flow as flow_of
from astronote.services.billing import pricing
from astronote.services.messaging.segments import segment_count
from astronote.services.sending import single
from astronote.services.sql import in_list, insert

messages = Message.__table__


def queue_runs(batch: list[AutomationRun], shops, automations, now: datetime) -> list[int]:
    """The batch's message ids; its other runs ended with their reasons."""
    contacts = _contacts(batch)
    ended: dict[tuple[str, str], list[int]] = defaultdict(list)
    later: dict[datetime, list[int]] = defaultdict(list)
    rows, run_ids, cost, first_run = [], [], Counter(), {}
    for run in batch:
        shop, automation = shops.get(run.shop_id), automations.get((run.shop_id, run.flow))
        contact = contacts.get(run.contact_id)
        if contact is not None and contact.shop_id != run.shop_id:
            contact = None  # never another shop's contact, whatever the run says
        verdict = guards.check(db.session, run, shop, automation, contact, now)
        if verdict is not None and verdict.status == guards.DEFERRED:
            later[verdict.until].append(run.id)
            continue
        if verdict is not None:
            ended[verdict.status, verdict.reason].append(run.id)
            continue
        row = _message(shop, contact, automation, run, now)
        rows.append(row)
        run_ids.append(run.id)
        cost[shop.id] += row["credits"]
        first_run.setdefault(shop.id, run.id)
    for (status, reason), ids in ended.items():
        bulk.end(ids, status, reason, now)
    bulk.defer(later)
    if not rows:
        return []
    stmt = insert(messages).returning(messages.c.id, sort_by_parameter_order=True)
    message_ids = list(db.session.execute(stmt, rows).scalars())
    flows = {r.id: (r.shop_id, r.flow) for r in batch}
    _shorten(shops, automations, [flows[r] for r in run_ids], rows, message_ids, cost)
    for shop_id, amount in cost.items():  # one entry per shop and batch: runs go once
        credits.reserve(shop_id, amount, f"automations:runs:{first_run[shop_id]}:reserve")
    bulk.mark_queued(list(zip(run_ids, message_ids, strict=True)), now)
    return message_ids


def _shorten(shops, automations, flows, rows, message_ids, cost: Counter) -> None:
    """URLs become each message's short link (one UPDATE per flow with a URL); `cost`
    follows the new prices before anything is reserved. `flows`: (shop id, flow) per row."""
    written: dict[tuple[int, str], list[int]] = defaultdict(list)
    for key, message_id in zip(flows, message_ids, strict=True):
        written[key].append(message_id)
    before = {m: row["credits"] for row, m in zip(rows, message_ids, strict=True)}
    for (shop_id, flow), ids in written.items():
        priced = links.shorten_flow(shops[shop_id], automations[shop_id, flow], ids)
        cost[shop_id] += sum(price - before[m] for m, price in priced.items())


def _contacts(batch: list[AutomationRun]) -> dict[int, Contact]:
    ids = [r.contact_id for r in batch if r.contact_id is not None]
    if not ids:
        return {}
    query = select(Contact).where(in_list(Contact.id, ids))
    query = query.execution_options(populate_existing=True)  # consent as it is now
    return {c.id: c for c in db.session.execute(query).scalars()}


def _message(shop, contact: Contact, automation, run: AutomationRun, now: datetime) -> dict:
    kind = flow_of(run.flow).kind
    text = single.text_for(
        shop, contact, automation.body, kind, automation.discount_code, run.context
    )
    segments = segment_count(text)
    return {
        "shop_id": shop.id,
        "contact_id": contact.id,
        "kind": kind,
        "phone": contact.phone,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "body": text,
        "segments": segments,
        "credits": pricing.credits_for(shop, contact.phone, segments),
        "status": MessageStatus.QUEUED.value,
        "attempts": 0,
        "created_at": now,
    }
