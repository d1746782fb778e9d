"""Campaign lifecycle: compose, schedule, start (snapshot + reserve), pause, cancel, finish."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, literal, select, update

from astronote.errors import AstronoteError, ValidationFailed
from astronote.extensions import db
from astronote.models import (
    PENDING_STATES,
    Campaign,
    CampaignStatus,
    Contact,
    LedgerKind,
    Message,
    MessageStatus,
    Shop,
    now_utc,
)
from astronote.services import credits
from astronote.services.billing import pricing
from astronote.services.campaigns import audience as audiences
from astronote.services.discounts import settings as unique_codes
from astronote.services.messaging.rendering import (
    body_problem,
    discount_problem,
    normalise_body,
)
from astronote.services.scoped import get_owned

campaigns = Campaign.__table__
messages = Message.__table__
EDITABLE = (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED)
NOBODY = "No subscribed contacts match this audience."
MAX_SCHEDULE_AHEAD = timedelta(days=365)


class InvalidTransition(AstronoteError):
    status = 409


@dataclass
class Draft:
    name: str
    body: str
    audience: audiences.Audience
    discount_code: str | None
    scheduled_at: datetime | None
    unique: unique_codes.UniqueCodes | None = None  # a code of their own per recipient


def parse_form(shop: Shop, form) -> Draft:
    """Validate the compose form; every problem is reported against its field."""
    errors: dict[str, str] = {}
    name = " ".join((form.get("name") or "").split())
    if not 1 <= len(name) <= 200:
        errors["name"] = "Give the campaign a name (up to 200 characters)."
    body = normalise_body(form.get("body"))
    if problem := body_problem(body):
        errors["body"] = problem
    discount = (form.get("discount_code") or "").strip() or None
    if problem := discount_problem(discount):
        errors["discount_code"] = problem
    when = _schedule(shop, form.get("scheduled_at"), errors)
    unique = unique_codes.parse(shop, form, body, discount, errors)
    try:
        audience = audiences.parse(form)
    except ValidationFailed as exc:
        errors.update(exc.field_errors)
        audience = audiences.Audience()
    if errors:
        raise ValidationFailed(errors)
    return Draft(name, body, audience, discount, when, unique)


def _schedule(shop: Shop, raw: str | None, errors: dict) -> datetime | None:
    """A local date-time in the shop's time zone, stored in UTC."""
    if not raw:
        return None
    try:
        local = datetime.fromisoformat(raw).replace(tzinfo=ZoneInfo(shop.timezone))
        when = local.astimezone(UTC)  # overflows for a date at the end of the calendar
    except (ValueError, OverflowError):
        errors["scheduled_at"] = "Pick a date and time."
        return None
    if when <= now_utc():
        errors["scheduled_at"] = "Pick a time in the future."
    elif when > now_utc() + MAX_SCHEDULE_AHEAD:
        errors["scheduled_at"] = "Pick a time within the next year."
    return when


def get(shop: Shop, campaign_id: int, for_update: bool = False) -> Campaign:
    """The shop's campaign; `for_update` locks it (PostgreSQL) until the transaction ends,
    so an edit waits for a start that is under way and then sees it is no longer editable."""
    return get_owned(Campaign, shop.id, campaign_id, "campaign", lock=for_update)


def ensure_editable(campaign: Campaign) -> None:
    if campaign.status not in EDITABLE:
        raise InvalidTransition("Only draft or scheduled campaigns can be edited.")
    if is_starting(campaign):
        raise InvalidTransition("This campaign is starting; it can no longer be edited.")


def save(shop: Shop, draft: Draft, campaign: Campaign | None = None) -> Campaign:
    if campaign is None:
        campaign = Campaign(shop_id=shop.id)
        db.session.add(campaign)
    else:
        ensure_editable(campaign)
    campaign.name, campaign.body = draft.name, draft.body
    campaign.audience = draft.audience.to_json()
    campaign.discount_code = draft.discount_code
    campaign.scheduled_at = draft.scheduled_at
    campaign.status = CampaignStatus.SCHEDULED if draft.scheduled_at else CampaignStatus.DRAFT
    db.session.flush()
    unique_codes.save(shop, campaign, draft.unique)
    return campaign


def _transition(campaign: Campaign, allowed, target: CampaignStatus, **values) -> None:
    """Conditional UPDATE: of two racing callers exactly one wins."""
    result = db.session.execute(
        update(campaigns)
        .where(campaigns.c.id == campaign.id, campaigns.c.status.in_([s.value for s in allowed]))
        .values(status=target.value, **values)
    )
    if result.rowcount != 1:
        raise InvalidTransition(f"The campaign is {campaign.status}; it cannot become {target}.")
    db.session.refresh(campaign)


def start_soon(campaign: Campaign) -> None:
    """Send now, from a request: due at once; caller commits and enqueues the start.

    The snapshot and reservation (`start`, run by tasks.campaigns.start_scheduled) take
    seconds at a million recipients: too long for a request inside the admin.
    """
    _transition(campaign, EDITABLE, CampaignStatus.SCHEDULED, scheduled_at=now_utc())


def is_starting(campaign: Campaign) -> bool:
    """Scheduled and due: a worker is about to take (or is taking) the snapshot."""
    due = campaign.scheduled_at is not None and campaign.scheduled_at <= now_utc()
    return campaign.status == CampaignStatus.SCHEDULED and due


def start(shop: Shop, campaign: Campaign) -> int:
    """Snapshot the audience (one INSERT ... SELECT), reserve the exact cost; caller commits.

    Returns the number of recipients. Raises InsufficientCredits (and the
    caller rolls everything back) when the balance cannot cover the send.
    """
    _transition(campaign, EDITABLE, CampaignStatus.SENDING, started_at=now_utc())
    chosen = audiences.recipients(shop, audiences.Audience.from_json(campaign.audience))
    columns = [
        "shop_id",
        "campaign_id",
        "contact_id",
        "kind",
        "phone",
        "first_name",
        "last_name",
        "status",
        "segments",
        "attempts",
    ]
    source = chosen.with_only_columns(
        Contact.shop_id,
        literal(campaign.id),
        Contact.id,
        literal("campaign"),
        Contact.phone,
        Contact.first_name,
        Contact.last_name,
        literal(MessageStatus.QUEUED.value),
        literal(0),
        literal(0),
    )
    db.session.execute(insert(messages).from_select(columns, source))
    people, cost = _snapshot_cost(shop, campaign)
    campaign.recipient_count, campaign.send_run = people, campaign.send_run + 1
    if people == 0:
        campaign.status, campaign.finished_at = CampaignStatus.FAILED, now_utc()
        campaign.failure_reason = NOBODY
        return 0
    credits.reserve(
        shop.id, cost, f"campaign:{campaign.id}:reserve:{campaign.send_run}", campaign.id
    )
    campaign.reserved_credits += cost
    campaign.credits_settled = False
    return people


def _snapshot_cost(shop: Shop, campaign: Campaign, statuses=(MessageStatus.QUEUED,), *extra):
    """(people, credits) of the campaign's rows in these statuses: each recipient's
    segments times their destination's price, as the fence will charge them."""
    rows = select(Message).where(
        Message.campaign_id == campaign.id,
        Message.status.in_([s.value for s in statuses]),
        *extra,
    )
    groups = pricing.priced_groups(rows, Message.phone, Message.first_name, Message.last_name)
    code = unique_codes.pricing_code(campaign)
    return audiences.priced_total(shop, groups, campaign.body, code, written=True)


def pause(campaign: Campaign) -> None:
    _transition(campaign, (CampaignStatus.SENDING,), CampaignStatus.PAUSED)


def resume(campaign: Campaign) -> None:
    """Carry on; the reason it paused (say, Shopify throttling its codes) is gone from
    the page, and comes back if it pauses again."""
    _transition(campaign, (CampaignStatus.PAUSED,), CampaignStatus.SENDING, failure_reason=None)


def cancel(campaign: Campaign) -> None:
    allowed = (
        CampaignStatus.DRAFT,
        CampaignStatus.SCHEDULED,
        CampaignStatus.SENDING,
        CampaignStatus.PAUSED,
    )
    _transition(campaign, allowed, CampaignStatus.CANCELLED, finished_at=now_utc())
    db.session.execute(
        update(messages)
        .where(messages.c.campaign_id == campaign.id, messages.c.status == MessageStatus.QUEUED)
        .values(status=MessageStatus.CANCELLED)
    )


def _requeue(shop: Shop, campaign: Campaign, status: MessageStatus, *conditions) -> int:
    """Send a finished campaign's chosen rows again as a new run; reserve their cost.

    Each row starts afresh (no provider id, report or error), so its new report can match
    it by reference again. Caller commits."""
    people, cost = _snapshot_cost(shop, campaign, (status,), *conditions)
    if people == 0:
        return 0
    done = (CampaignStatus.COMPLETED, CampaignStatus.FAILED)
    _transition(campaign, done, CampaignStatus.SENDING, finished_at=None)
    campaign.send_run += 1
    credits.reserve(
        shop.id, cost, f"campaign:{campaign.id}:reserve:{campaign.send_run}", campaign.id
    )
    campaign.reserved_credits += cost
    campaign.credits_settled = False
    db.session.execute(
        update(messages)
        .where(messages.c.campaign_id == campaign.id, messages.c.status == status, *conditions)
        .values(
            status=MessageStatus.QUEUED,
            skip_reason=None,
            claim_token=None,
            error=None,
            failed_at=None,
            provider_message_id=None,
            delivery_status=None,
            report_at=None,
        )
    )
    return people


def retry_failed(shop: Shop, campaign: Campaign) -> int:
    """Queue again only the rows that definitely failed; reserve their cost. Caller commits."""
    people = _requeue(shop, campaign, MessageStatus.FAILED)
    if people == 0:
        raise InvalidTransition("No failed messages to retry.")
    return people


NOT_SENT = "not_sent"  # services/sending/never_sent.py marks them


def resend_not_sent(shop: Shop, campaign: Campaign) -> int:
    """Queue again the rows found never sent (the merchant asked: never automatic).

    Their credits were refunded when they were found; the resend reserves them again.
    Caller commits."""
    people = _requeue(shop, campaign, MessageStatus.SKIPPED, messages.c.skip_reason == NOT_SENT)
    if people == 0:
        raise InvalidTransition("No messages that were never sent.")
    return people


def has_pending(campaign_id: int) -> bool:
    """Anything still queued or in flight? EXISTS stops at the first row (a count would
    walk all of a million-row campaign after every batch)."""
    query = select(Message.id).where(
        Message.campaign_id == campaign_id, Message.status.in_([s.value for s in PENDING_STATES])
    )
    return db.session.execute(query.limit(1)).first() is not None


def finish_if_done(campaign_id: int) -> bool:
    """Close a campaign with nothing left in flight and settle its credits, once.

    Flushes only; the caller commits. Closing is a conditional status update and settling
    is keyed in the ledger, so two callers racing here close and settle it once."""
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None or campaign.credits_settled:
        return False
    if campaign.status == CampaignStatus.CANCELLED:  # rows a dead worker held came back queued
        db.session.execute(
            update(messages)
            .where(messages.c.campaign_id == campaign_id, messages.c.status == MessageStatus.QUEUED)
            .values(status=MessageStatus.CANCELLED)
        )
    if has_pending(campaign_id):
        return False
    if campaign.status == CampaignStatus.SENDING:
        sent = db.session.execute(
            select(func.count()).where(
                Message.campaign_id == campaign_id,
                Message.status.in_(
                    [MessageStatus.ACCEPTED, MessageStatus.DELIVERED, MessageStatus.UNKNOWN]
                ),
            )
        ).scalar_one()
        target = CampaignStatus.COMPLETED if sent else CampaignStatus.FAILED
        try:
            _transition(campaign, (CampaignStatus.SENDING,), target, finished_at=now_utc())
        except InvalidTransition:
            return False
    if campaign.status not in (
        CampaignStatus.COMPLETED,
        CampaignStatus.FAILED,
        CampaignStatus.CANCELLED,
    ):
        return False
    _settle_credits(campaign)
    return True


def _settle_credits(campaign: Campaign) -> None:
    won = db.session.execute(
        update(campaigns)
        .where(campaigns.c.id == campaign.id, campaigns.c.credits_settled.is_(False))
        .values(credits_settled=True)
    ).rowcount
    if not won:
        return
    consumed = credits.consumed_for(campaign.shop_id, campaign.id)
    released = credits.total_for(campaign.shop_id, campaign.id, LedgerKind.RELEASE)
    leftover = campaign.reserved_credits - consumed - released
    if leftover > 0:
        key = f"campaign:{campaign.id}:release:{campaign.send_run}"
        credits.release(campaign.shop_id, leftover, key, campaign.id)
