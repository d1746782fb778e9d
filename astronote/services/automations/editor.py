"""The flow editor's composer: sample preview, exact cost per message, test sends.

A flow has no audience to preview against, so it renders with a sample person and the
flow's catalogue sample values (order number, tracking link, ...), and prices that text
for the shop's main destination country, as the single-send path will price it.
"""

from __future__ import annotations

import phonenumbers
from werkzeug.datastructures import MultiDict

from astronote.models import Automation, Message, Shop
from astronote.services import credits, links
from astronote.services.automations.catalogue import Flow
from astronote.services.automations.settings import DELAY_BOUNDS, delay_in_unit
from astronote.services.billing import pricing
from astronote.services.campaigns import composer
from astronote.services.messaging import rendering
from astronote.services.messaging.segments import count_segments

SAMPLE_FIRST, SAMPLE_LAST = "Alex", "Morgan"


def form_of(flow: Flow, row: Automation) -> MultiDict:
    """The editor's fields filled from stored settings."""
    form = MultiDict({"body": row.body, "discount_code": row.discount_code or ""})
    if flow.delay_unit:
        form["delay"] = str(delay_in_unit(flow, row.delay_minutes))
    if flow.default_send_hour is not None:
        form["send_hour"] = str(row.send_hour if row.send_hour is not None else "")
    if row.include_imports:
        form["include_imports"] = "on"
    return form


def with_default_copy(flow: Flow, form) -> MultiDict:
    """The form as typed, with the message back to the catalogue's copy (not saved yet)."""
    reset = MultiDict(form)
    reset["body"] = flow.default_body
    reset.pop("template", None)  # the catalogue's copy, not a template's: no use to count
    return reset


def choices(shop: Shop, flow: Flow) -> dict:
    """What every editor template needs: placeholders, opt-out line, units, hours."""
    return {
        "variables": rendering.VARIABLES,
        "event_variables": flow.event_variables,
        "opt_out": rendering.opt_out_text(shop),
        "hours": [(str(h), f"{h:02d}:00") for h in range(24)],
        "bounds": DELAY_BOUNDS.get(flow.delay_unit or "", (0, 0)),
    }


def destination(shop: Shop) -> dict:
    """The country the cost assumes: the shop's own, else where its numbers are read."""
    country = (shop.country or shop.default_region or "US").upper()
    code = phonenumbers.country_code_for_region(country)
    per_segment = pricing.per_segment(country)
    return {
        "country": country,
        "calling_code": f"+{code}" if code else "",
        "per_segment": per_segment,
    }


def sample_values(shop: Shop, flow: Flow, discount: str | None) -> dict:
    values = rendering.values_for(shop, SAMPLE_FIRST, SAMPLE_LAST, discount)
    values.update(flow.sample)
    return values


def uses_discount(body: str) -> bool:
    """Whether the message shows the discount code (which is empty until one is set)."""
    names = (rendering.ALIASES.get(m.group(1).lower()) for m in rendering.VARIABLE.finditer(body))
    return "discount_code" in names


def preview(shop: Shop, flow: Flow, form) -> dict:
    """The message with sample data, its segments and its exact cost per message."""
    body = rendering.normalise_body(form.get("body"))
    discount = (form.get("discount_code") or "").strip() or None
    result = {"body": body, "balance": credits.balance(shop.id), **destination(shop)}
    problem = rendering.body_problem(body, extra=flow.event_variables) if body else None
    problem = problem or rendering.discount_problem(discount)
    result["problem"] = problem
    if not body or problem:
        return result
    result["needs_discount"] = discount is None and uses_discount(body)
    values = sample_values(shop, flow, discount)
    sent = links.measure_body(shop, body, discount)  # its URLs as the short links sent
    text = rendering.render(sent, values, rendering.opt_out_text(shop))
    info = count_segments(text)
    result.update(text=text, info=info, cost=info.segments * result["per_segment"])
    return result


def queue_test(shop: Shop, flow: Flow, form) -> Message:
    """One test of the message as typed, with the flow's sample values; caller commits."""
    return composer.queue_test(
        shop,
        form.get("body"),
        form.get("discount_code"),
        form.get("test_phone"),
        extra=flow.event_variables,
        context=dict(flow.sample),
    )
