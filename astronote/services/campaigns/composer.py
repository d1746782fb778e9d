"""The composer's rules: the compose form, its live preview and exact cost, the send
confirmation (cost against balance), test sends and the failed-recipients CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime

from werkzeug.datastructures import MultiDict

from astronote.errors import ValidationFailed
from astronote.extensions import db
from astronote.models import Campaign, CampaignStatus, Contact, Gender, Message, Shop
from astronote.services import credits, links, timezones
from astronote.services.billing import account as billing_account
from astronote.services.campaigns import audience as audiences
from astronote.services.campaigns import lifecycle as campaigns
from astronote.services.campaigns import stats as campaign_stats
from astronote.services.contacts import editing as contacts
from astronote.services.contacts.export import csv_safe
from astronote.services.contacts.phones import InvalidPhone, normalize_phone
from astronote.services.discounts import codes as discount_codes
from astronote.services.discounts import settings as unique_codes
from astronote.services.messaging import rendering
from astronote.services.messaging.segments import count_segments
from astronote.services.sending import single as single_send

INTENTS = ("draft", "schedule", "review")
LOCAL_INPUT = "%Y-%m-%dT%H:%M"  # what <input type="datetime-local"> sends and shows


def choices(shop: Shop) -> dict:
    """Option lists every compose template needs."""
    return {
        "genders": [(g.value, g.value.capitalize()) for g in Gender],
        "age_bands": list(audiences.AGE_BANDS),
        "variables": rendering.VARIABLES,
        "opt_out": rendering.opt_out_text(shop),
        "discount_kinds": unique_codes.KINDS,
        "currency": shop.currency,
    }


def failed_csv_lines(campaign: Campaign) -> Iterator[str]:
    """The failed recipients as CSV, in keyset batches: flat memory at any size."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["phone", "first_name", "last_name", "error", "failed_at"])
    after = 0
    while batch := campaign_stats.failed_rows(campaign, after_id=after):
        for row in batch:
            failed_at = row.failed_at.isoformat() if row.failed_at else None
            values = (row.phone, row.first_name, row.last_name, row.error, failed_at)
            writer.writerow([csv_safe(v) for v in values])
        after = batch[-1].id
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


def local_time(shop: Shop, moment: datetime | None, fmt: str | None = None) -> str:
    """Shown in the shop's zone with its name (the one rule of `timezones.shown`); with
    `fmt`, unlabelled for a form input."""
    if fmt is None:
        return timezones.shown(moment, shop.timezone)
    return timezones.in_zone(moment, shop.timezone, fmt)


def _iso(day) -> str:
    return day.isoformat() if day else ""


def form_of(shop: Shop, campaign: Campaign) -> MultiDict:
    """The compose form filled from a stored campaign."""
    audience = audiences.Audience.from_json(campaign.audience)
    form = MultiDict(
        {
            "name": campaign.name,
            "body": campaign.body,
            "discount_code": campaign.discount_code or "",
            "scheduled_at": local_time(shop, campaign.scheduled_at, LOCAL_INPUT),
            "tags": ", ".join(audience.tags),
            "gender": audience.gender,
            "purchased": audience.purchased,
            "last_order_after": _iso(audience.last_order_after),
            "last_order_before": _iso(audience.last_order_before),
        }
    )
    form.setlist("age_bands", audience.age_bands)
    form.update(unique_codes.form_values(shop, campaign.id))
    return form


def parse_compose(shop: Shop, form, intent: str) -> campaigns.Draft:
    """Validate for the button pressed: only "Schedule" keeps the date; it also needs one."""
    data = form.copy()
    if intent != "schedule":
        data["scheduled_at"] = ""
    errors: dict[str, str] = {}
    try:
        draft = campaigns.parse_form(shop, data)
    except ValidationFailed as exc:
        errors = dict(exc.field_errors)
    if intent == "schedule" and not form.get("scheduled_at"):
        errors.setdefault("scheduled_at", "Pick the date and time to send it.")
    if errors:
        raise ValidationFailed(errors)
    return draft


def audience_count(shop: Shop, form) -> dict:
    try:
        audience = audiences.parse(form)
    except ValidationFailed as exc:
        return {"count": None, "errors": exc.field_errors}
    return {"count": audiences.count(shop, audience), "errors": {}}


def preview(shop: Shop, form) -> dict:
    """Exact cost and a real recipient's message for the compose form as it stands."""
    body = rendering.normalise_body(form.get("body"))
    body_error = rendering.body_problem(body) if body else None  # empty: nothing to say yet
    result = {"body": body, "body_error": body_error, "errors": {}, "sample": None}
    result["balance"] = credits.balance(shop.id)
    try:
        audience = audiences.parse(form)
    except ValidationFailed as exc:
        result["errors"] = exc.field_errors
        return result
    discount = (form.get("discount_code") or "").strip() or None
    if form.get("unique_codes") == "on":  # each recipient's own: priced at its fixed length
        discount = discount_codes.SAMPLE
    if not body or body_error:
        result["recipients"] = audiences.count(shop, audience)
        return result
    result["recipients"], result["credits"] = audiences.cost(shop, audience, body, discount)
    result["enough"] = result["balance"].available >= result["credits"]
    first = db.session.execute(
        audiences.recipients(shop, audience).order_by(Contact.id).limit(1)
    ).scalar_one_or_none()
    if first is not None:
        values = rendering.values_for(shop, first.first_name, first.last_name, discount)
        unique = form.get("unique_codes") == "on"  # the sample shows its links as sent
        sent = links.measure_body(shop, body, discount, result["recipients"], unique)
        text = rendering.render(sent, values, rendering.opt_out_text(shop, first.id))
        result["sample"] = {"contact": first, "text": text, "info": count_segments(text)}
    return result


def confirmation(shop: Shop, campaign: Campaign) -> dict:
    """What "Send now" will do: recipients and exact cost against the balance."""
    if campaign.status not in campaigns.EDITABLE:
        raise campaigns.InvalidTransition(f"The campaign is {campaign.status}; it cannot be sent.")
    audience = audiences.Audience.from_json(campaign.audience)
    code = unique_codes.pricing_code(campaign)
    people, cost = audiences.cost(shop, audience, campaign.body, code)
    balance = credits.balance(shop.id)
    threshold = billing_account.settings_of(shop.id).low_balance_threshold
    return {
        "recipients": people,
        "cost": cost,
        "balance": balance,
        "enough": balance.available >= cost,
        # Sending leaves less than the merchant's low-balance alert: say so before.
        "below_threshold": threshold if 0 <= balance.available - cost < threshold else None,
    }


def scheduled_shortfall(shop: Shop, campaign: Campaign) -> dict | None:
    """A scheduled campaign the balance won't cover: said on its page now, not only when
    it fails to start. None when it is covered (or not scheduled)."""
    if campaign.status != CampaignStatus.SCHEDULED or campaigns.is_starting(campaign):
        return None
    plan = confirmation(shop, campaign)
    return None if plan["enough"] else plan


def queue_test(
    shop: Shop,
    body: str,
    discount: str | None,
    raw_phone: str | None,
    extra: tuple[str, ...] = (),
    context: dict[str, str] | None = None,
) -> Message:
    """Reserve and queue one test message to a subscribed contact; caller commits, enqueues.

    A flow's test passes its trigger placeholders (`extra`) and their sample values
    (`context`), so the test reads as the real message will."""
    body, discount = rendering.normalise_body(body), (discount or "").strip() or None
    empty = "Write the message first."
    if problem := rendering.body_problem(body, empty=empty, extra=extra):
        raise ValidationFailed({"body": problem})
    if problem := rendering.discount_problem(discount):
        raise ValidationFailed({"discount_code": problem})
    try:
        phone = normalize_phone(raw_phone, shop.default_region)
    except InvalidPhone as exc:
        raise ValidationFailed({"test_phone": str(exc)}) from None
    contact = contacts.by_phone(shop, phone)
    if contact is None:
        raise ValidationFailed(
            {"test_phone": f"No contact has the number {phone}. Add it as a subscribed contact."}
        )
    try:
        return single_send.queue_single(
            shop, contact, body, "test", discount_code=discount, context=context
        )
    except ValidationFailed as exc:
        raise ValidationFailed({"test_phone": " ".join(exc.field_errors.values())}) from None


def status_options() -> list[tuple[str, str]]:
    return [(s.value, s.value.capitalize()) for s in CampaignStatus]
