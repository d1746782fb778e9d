"""The inbox: two-way conversations per contact, unread counts, and merchant replies.

A conversation is a contact who has written to the shop. The list is ordered by the
contact's latest inbound message (a campaign never reshuffles it) and paged by keyset
on (latest inbound time, contact id). Every page costs a fixed number of set-based
queries, however many contacts the shop has: one grouped query over inbound messages
(latest time and unread count per contact), then the latest inbound row, the latest
outbound row and the contact rows for just the page's contacts.

A thread merges the contact's inbound messages with every outbound `Message` row
(campaigns, tests, keyword confirmations, replies), ordered by time, newest page first.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, case, false, func, or_, select, true, update

from astronote.errors import ValidationFailed
from astronote.extensions import db
from astronote.models import (
    ConsentState,
    Contact,
    InboundMessage,
    Message,
    MessageStatus,
    Shop,
    now_utc,
)
from astronote.services.credits import InsufficientCredits
from astronote.services.messaging.rendering import body_problem, normalise_body
from astronote.services.sending import single as single_send

REPLY_KIND = "reply"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LIST_CURSOR = re.compile(r"([0-9]{1,19})_([0-9]{1,18})")
THREAD_CURSOR = re.compile(r"([0-9]{1,19})_([01])_([0-9]{1,18})")
INBOUND, OUTBOUND = 0, 1  # tie-break rank when an inbound and an outbound share a time
PENDING = {MessageStatus.QUEUED, MessageStatus.CLAIMED, MessageStatus.SUBMITTING}


def _micros(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


def _moment(micros: str) -> datetime | None:
    try:
        return EPOCH + timedelta(microseconds=int(micros))
    except OverflowError:
        return None


# --------------------------------------------------------------------------- list


@dataclass
class Conversation:
    contact: Contact
    last_inbound_at: datetime  # the ordering key: when the contact last wrote
    last_at: datetime  # the latest message either way
    last_text: str
    last_outbound: bool  # the latest message is ours
    unread: int


@dataclass
class ConversationPage:
    conversations: list[Conversation] = field(default_factory=list)
    next_cursor: str | None = None


def _list_cursor(raw: str | None) -> tuple[datetime, int] | None:
    match = LIST_CURSOR.fullmatch(raw or "")
    if match is None:
        return None
    moment = _moment(match.group(1))
    return (moment, int(match.group(2))) if moment is not None else None


def conversations(shop: Shop, after: str | None = None, limit: int = 30) -> ConversationPage:
    """A page of conversations, newest inbound first; `after` is a `next_cursor`."""
    inbound = InboundMessage.__table__
    last_at = func.max(inbound.c.received_at).label("last_at")
    unread = func.sum(case((inbound.c.read_at.is_(None), 1), else_=0)).label("unread")
    query = (
        select(inbound.c.contact_id, last_at, unread)
        .where(inbound.c.shop_id == shop.id, inbound.c.contact_id.is_not(None))
        .group_by(inbound.c.contact_id)
        .order_by(last_at.desc(), inbound.c.contact_id.desc())
        .limit(limit + 1)
    )
    cursor = _list_cursor(after)
    if cursor is not None:
        at, contact_id = cursor
        newest = func.max(inbound.c.received_at)
        query = query.having(
            or_(newest < at, and_(newest == at, inbound.c.contact_id < contact_id))
        )
    rows = db.session.execute(query).all()
    page, more = rows[:limit], len(rows) > limit
    if not page:
        return ConversationPage()
    ids = [row.contact_id for row in page]
    contacts = {
        c.id: c
        for c in db.session.execute(
            select(Contact).where(Contact.shop_id == shop.id, Contact.id.in_(ids))
        ).scalars()
    }
    latest_in = _latest_inbound(shop, ids)
    latest_out = _latest_outbound(shop, ids)
    result = []
    for row in page:
        contact = contacts.get(row.contact_id)
        if contact is None:  # deleted between the two queries
            continue
        in_at, in_text = latest_in.get(row.contact_id, (row.last_at, ""))
        out_at, out_text = latest_out.get(row.contact_id, (None, None))
        ours = out_at is not None and out_at > in_at
        result.append(
            Conversation(
                contact=contact,
                last_inbound_at=row.last_at,
                last_at=out_at if ours else in_at,
                last_text=(out_text if ours else in_text) or "",
                last_outbound=ours,
                unread=int(row.unread or 0),
            )
        )
    last = page[-1]
    next_cursor = f"{_micros(last.last_at)}_{last.contact_id}" if more else None
    return ConversationPage(result, next_cursor)


def _latest_inbound(shop: Shop, contact_ids: list[int]) -> dict[int, tuple[datetime, str]]:
    inbound = InboundMessage.__table__
    rank = (
        func.row_number()
        .over(
            partition_by=inbound.c.contact_id,
            order_by=(inbound.c.received_at.desc(), inbound.c.id.desc()),
        )
        .label("rank")
    )
    ranked = (
        select(inbound.c.contact_id, inbound.c.received_at.label("at"), inbound.c.text, rank)
        .where(inbound.c.shop_id == shop.id, inbound.c.contact_id.in_(contact_ids))
        .subquery()
    )
    rows = db.session.execute(
        select(ranked.c.contact_id, ranked.c.at, ranked.c.text).where(ranked.c.rank == 1)
    )
    return {row.contact_id: (row.at, row.text) for row in rows}


def _outbound_at():
    messages = Message.__table__
    return func.coalesce(messages.c.sent_at, messages.c.created_at)


def _outbound_to(shop: Shop, contact_match):
    """A conversation's outbound side, in a shape the indexes serve: the merchant's one-off
    messages (campaign_id NULL: the unique (campaign_id, contact_id) index) and campaign
    messages that went out (the partial (shop_id, contact_id, sent_at) index). Without
    the split nothing leads with contact_id and every poll would scan all messages; a
    campaign row that never went out is the campaign report's business."""
    messages = Message.__table__
    return and_(
        messages.c.shop_id == shop.id,
        contact_match,
        or_(messages.c.campaign_id.is_(None), messages.c.sent_at.is_not(None)),
    )


def _latest_outbound(shop: Shop, contact_ids: list[int]) -> dict[int, tuple[datetime, str]]:
    messages = Message.__table__
    at = _outbound_at()
    rank = (
        func.row_number()
        .over(partition_by=messages.c.contact_id, order_by=(at.desc(), messages.c.id.desc()))
        .label("rank")
    )
    ranked = (
        select(messages.c.contact_id, at.label("at"), messages.c.body, rank)
        .where(_outbound_to(shop, messages.c.contact_id.in_(contact_ids)))
        .subquery()
    )
    rows = db.session.execute(
        select(ranked.c.contact_id, ranked.c.at, ranked.c.body).where(ranked.c.rank == 1)
    )
    return {row.contact_id: (row.at, row.body) for row in rows}


def unread_total(shop: Shop) -> int:
    """Unread inbound messages from the shop's contacts (the inbox badge)."""
    return db.session.execute(
        select(func.count())
        .select_from(InboundMessage)
        .where(
            InboundMessage.shop_id == shop.id,
            InboundMessage.read_at.is_(None),
            InboundMessage.contact_id.is_not(None),
        )
    ).scalar_one()


def mark_read(shop: Shop, contact: Contact) -> int:
    """Mark the contact's inbound messages read; returns how many were unread. Caller commits."""
    inbound = InboundMessage.__table__
    return db.session.execute(
        update(inbound)
        .where(
            inbound.c.shop_id == shop.id,
            inbound.c.contact_id == contact.id,
            inbound.c.read_at.is_(None),
        )
        .values(read_at=now_utc())
    ).rowcount


# --------------------------------------------------------------------------- thread


@dataclass
class ThreadItem:
    inbound: bool
    id: int
    at: datetime
    text: str
    kind: str | None = None  # outbound: campaign | test | reply | kw:STOP ...
    status: str | None = None  # outbound delivery state
    skip_reason: str | None = None
    not_before: datetime | None = None
    keyword: str | None = None  # inbound: the keyword it was read as
    error: str | None = None

    @property
    def key(self) -> tuple[datetime, int, int]:
        return (self.at, INBOUND if self.inbound else OUTBOUND, self.id)

    @property
    def cursor(self) -> str:
        return f"{_micros(self.at)}_{INBOUND if self.inbound else OUTBOUND}_{self.id}"

    @property
    def pending(self) -> bool:
        return not self.inbound and self.status in PENDING


@dataclass
class ThreadPage:
    items: list[ThreadItem] = field(default_factory=list)  # oldest first
    older_cursor: str | None = None
    before: str | None = None  # the cursor this page was read before; None: the latest page

    @property
    def version(self) -> str:
        """Changes when a message arrives or an outbound status moves: the poll's ETag."""
        state = "|".join(f"{i.cursor}:{i.status or ''}" for i in self.items)
        return hashlib.sha256(state.encode()).hexdigest()[:16]


def _thread_cursor(raw: str | None) -> tuple[datetime, int, int] | None:
    match = THREAD_CURSOR.fullmatch(raw or "")
    if match is None:
        return None
    moment = _moment(match.group(1))
    return (moment, int(match.group(2)), int(match.group(3))) if moment is not None else None


def _before(at_column, id_column, rank: int, cursor: tuple[datetime, int, int] | None):
    """(at, rank, id) < cursor, lexicographically."""
    if cursor is None:
        return true()
    at, c_rank, c_id = cursor
    if rank < c_rank:
        same_time = true()
    elif rank == c_rank:
        same_time = id_column < c_id
    else:
        same_time = false()
    return or_(at_column < at, and_(at_column == at, same_time))


def thread(shop: Shop, contact: Contact, before: str | None = None, limit: int = 50) -> ThreadPage:
    """The latest `limit` messages either way (older than `before`), oldest first."""
    cursor = _thread_cursor(before)
    inbound = InboundMessage.__table__
    in_rows = db.session.execute(
        select(inbound.c.id, inbound.c.received_at, inbound.c.text, inbound.c.keyword)
        .where(
            inbound.c.shop_id == shop.id,
            inbound.c.contact_id == contact.id,
            _before(inbound.c.received_at, inbound.c.id, INBOUND, cursor),
        )
        .order_by(inbound.c.received_at.desc(), inbound.c.id.desc())
        .limit(limit + 1)
    )
    messages = Message.__table__
    at = _outbound_at()
    out_rows = db.session.execute(
        select(
            messages.c.id,
            at.label("at"),
            messages.c.body,
            messages.c.kind,
            messages.c.status,
            messages.c.skip_reason,
            messages.c.not_before,
            messages.c.error,
        )
        .where(
            _outbound_to(shop, messages.c.contact_id == contact.id),
            _before(at, messages.c.id, OUTBOUND, cursor),
        )
        .order_by(at.desc(), messages.c.id.desc())
        .limit(limit + 1)
    )
    items = [
        ThreadItem(True, r.id, r.received_at, r.text or "", keyword=r.keyword) for r in in_rows
    ]
    items += [
        ThreadItem(
            False,
            r.id,
            r.at,
            r.body or "",
            kind=r.kind,
            status=r.status,
            skip_reason=r.skip_reason,
            not_before=r.not_before,
            error=r.error,
        )
        for r in out_rows
    ]
    items.sort(key=lambda item: item.key, reverse=True)
    shown, more = items[:limit], len(items) > limit
    older = shown[-1].cursor if more and shown else None
    return ThreadPage(list(reversed(shown)), older, before if cursor is not None else None)


# --------------------------------------------------------------------------- reply


def can_reply(contact: Contact) -> bool:
    return contact.consent_state == ConsentState.SUBSCRIBED.value


def refusal(contact: Contact) -> str:
    state = contact.consent_state.replace("_", " ")
    return (
        f"{contact.full_name or contact.phone} cannot receive messages: their SMS consent is "
        f"“{state}”. Only subscribed contacts can be sent a reply."
    )


def reply(shop: Shop, contact: Contact, text: str | None) -> Message:
    """Queue the merchant's reply (sent with the shop's opt-out line). Caller commits,
    then enqueues the `tasks.campaigns.send_single` task."""
    body = normalise_body(text)
    if problem := body_problem(body, empty="Write a reply first."):
        raise ValidationFailed({"text": problem})
    if not can_reply(contact):
        raise ValidationFailed({"text": refusal(contact)})
    try:
        return single_send.queue_single(shop, contact, body, REPLY_KIND)
    except InsufficientCredits as exc:
        raise ValidationFailed(
            {
                "text": f"This reply needs {exc.needed:,} credits but only {exc.available:,} "
                "are available. Buy more credits to reply."
            }
        ) from None
