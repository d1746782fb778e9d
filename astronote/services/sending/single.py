"""One-off messages (test sends, automations) through the campaign guards.

Same path as campaign chunks: consent re-checked, rate-limited, fenced before
the provider call; the cost is reserved when queued and settled on the answer.

Transaction owner, like `chunks`: it commits before the provider call and after it.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import or_, select, update

from astronote.errors import ValidationFailed
from astronote.extensions import db
from astronote.models import ConsentState, Contact, Message, MessageStatus, Shop
from astronote.services import credits
from astronote.services.billing import pricing
from astronote.services.messaging.rendering import EVENT_VARIABLES, opt_out_text, render, values_for
from astronote.services.messaging.segments import segment_count
from astronote.services.sending.chunks import ChunkResult, SendRules, send_chunk, take_message

messages = Message.__table__
SYSTEM_PREFIX = "kw:"
TRANSACTIONAL = "transactional"  # order and shipping updates: need only no opt-out
STALE_AFTER = timedelta(days=3)  # a one-off message this late does more harm than good


def rules_for(shop: Shop, kind: str) -> SendRules:
    """Guards per kind: marketing gets them all; a keyword reply only the rate limits."""
    if kind.startswith(SYSTEM_PREFIX):
        return SendRules(
            recheck_consent=False, frequency_cap=False, quiet_hours=False, billable=False
        )
    if kind in ("test", "reply"):  # merchant-initiated: a test to oneself, or a conversation
        return SendRules(frequency_cap=False, quiet_hours=False)
    if kind == TRANSACTIONAL:
        return SendRules(
            frequency_cap=False,
            quiet_hours=not shop.transactional_ignores_quiet_hours,
            marketing_consent=False,
        )
    return SendRules()


def may_receive(contact: Contact, kind: str) -> bool:
    """Marketing needs a subscribed contact; a transactional message one not opted out."""
    if kind == TRANSACTIONAL:
        return contact.consent_state != ConsentState.UNSUBSCRIBED.value
    return contact.consent_state == ConsentState.SUBSCRIBED.value


def text_for(shop: Shop, contact, body: str, kind: str, discount_code=None, context=None) -> str:
    """The text a one-off message sends: placeholders filled (`context`: the event ones,
    other keys ignored), the opt-out line appended except on system replies."""
    opt_out = None if kind.startswith(SYSTEM_PREFIX) else opt_out_text(shop, contact.id)
    values = values_for(shop, contact.first_name, contact.last_name, discount_code)
    values.update({k: str(v) for k, v in (context or {}).items() if k in EVENT_VARIABLES and v})
    return render(body, values, opt_out)


def queue_single(
    shop: Shop,
    contact: Contact,
    body: str,
    kind: str,
    discount_code: str | None = None,
    context: dict | None = None,
) -> Message:
    """A one-off message (test send, automation, keyword reply). Caller commits.

    Consent is required except for system replies (a STOP confirmation goes to
    someone who just opted out); billable kinds reserve their cost (`message.credits`:
    segments x the destination's price) now. `context` fills the event placeholders
    (order_number, checkout_url, ...); other keys are ignored.
    """
    system = kind.startswith(SYSTEM_PREFIX)
    if not system and not may_receive(contact, kind):
        raise ValidationFailed({"phone": f"{contact.phone} is not subscribed to SMS marketing."})
    text = text_for(shop, contact, body, kind, discount_code, context)
    message = Message(
        shop_id=shop.id,
        contact_id=contact.id,
        kind=kind[:16],
        phone=contact.phone,
        first_name=contact.first_name,
        last_name=contact.last_name,
        body=text,
        segments=segment_count(text),
    )
    message.credits = pricing.credits_for(shop, contact.phone, message.segments)
    db.session.add(message)
    db.session.flush()
    if rules_for(shop, kind).billable:
        credits.reserve(shop.id, message.credits, f"single:{message.id}:reserve")
    return message


def send(message_id: int) -> ChunkResult:
    """Task body for a queued one-off message; releases its reservation unless accepted."""
    message = db.session.get(Message, message_id)
    if message is None or message.status != MessageStatus.QUEUED or message.campaign_id:
        return ChunkResult()
    shop = db.session.get(Shop, message.shop_id)
    if shop is None or not shop.is_active:  # uninstalled while it waited, as in `batches`
        _skip_inactive(shop, message)
        return ChunkResult()
    taken = take_message(message_id)
    if not taken:  # another worker has it, or it went meanwhile
        db.session.commit()
        return ChunkResult()
    rules = rules_for(shop, message.kind)
    prices = {message_id: cost(message)}  # what its reservation took, whatever prices do
    result = send_chunk(
        shop, None, taken, message.body, None, prerendered=True, rules=rules, prices=prices
    )
    # Read again, not refresh: a result write retried on a new session (submission.durably)
    # may have detached the objects loaded before it.
    db.session.expire_all()
    message = db.session.get(Message, message_id)
    if message.status in (MessageStatus.FAILED, MessageStatus.SKIPPED):
        release(db.session.get(Shop, message.shop_id), message.id, cost(message), message.kind)
        db.session.commit()
    return result


def _skip_inactive(shop: Shop | None, message: Message) -> None:
    """Never sent: skipped (if still queued: a rival may have taken it), credits released."""
    skipped = db.session.execute(
        update(messages)
        .where(messages.c.id == message.id, messages.c.status == MessageStatus.QUEUED.value)
        .values(status=MessageStatus.SKIPPED.value, skip_reason="shop_inactive")
    )
    if skipped.rowcount == 1 and shop is not None:
        release(shop, message.id, cost(message), message.kind)
    db.session.commit()


def cost(message: Message) -> int:
    """What the message reserved: its credits (NULL on rows older than 0010: segments)."""
    return message.segments if message.credits is None else message.credits


def release(shop: Shop, message_id: int, amount: int, kind: str) -> None:
    """Give back a one-off message's reservation (`amount`: its credits, see `cost`):
    it will never be sent. Caller commits."""
    if rules_for(shop, kind).billable:
        credits.release(shop.id, amount, f"single:{message_id}:release")


def waiting_ids(now, grace, limit: int = 500) -> list[int]:
    """One-off messages still queued and due: their task was lost (queue outage, crash)
    or deferred by quiet hours. Older than `grace`, so a message whose task is about to
    run is left to it (taking a message twice sends it once anyway: see `send`)."""
    query = (
        select(messages.c.id)
        .where(
            messages.c.campaign_id.is_(None),
            messages.c.status == MessageStatus.QUEUED.value,
            or_(messages.c.not_before.is_(None), messages.c.not_before <= now),
            messages.c.created_at < now - grace,
        )
        .order_by(messages.c.not_before, messages.c.id)
        .limit(limit)
    )
    return list(db.session.execute(query).scalars())


def expire_stale(now, max_age: timedelta = STALE_AFTER, limit: int = 500) -> int:
    """One-off messages still queued `max_age` after they were created never go (a reply,
    an order update or a welcome days late): skipped as `expired`, credits released.

    One conditional UPDATE … RETURNING: a message a worker is sending right now is no
    longer `queued` once its fence commits, so it is never expired under its feet.
    Caller commits."""
    stale = (
        select(messages.c.id)
        .where(
            messages.c.campaign_id.is_(None),
            messages.c.status == MessageStatus.QUEUED.value,
            messages.c.created_at < now - max_age,
        )
        .limit(limit)
    )
    expired = db.session.execute(
        update(messages)
        .where(messages.c.id.in_(stale), messages.c.status == MessageStatus.QUEUED.value)
        .values(status=MessageStatus.SKIPPED.value, skip_reason="expired")
        .returning(
            messages.c.id,
            messages.c.shop_id,
            messages.c.kind,
            messages.c.segments,
            messages.c.credits,
        )
    ).all()
    for row in expired:
        shop = db.session.get(Shop, row.shop_id)
        amount = row.segments if row.credits is None else row.credits
        release(shop, row.id, amount, row.kind)
    return len(expired)
