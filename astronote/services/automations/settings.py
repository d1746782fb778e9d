"""A shop's flow settings: read (catalogue defaults where no row exists), validate, save.

Pages read without writing (no writes on GET): a flow the shop never touched is shown
from the catalogue. The first change creates all eight rows at once (one INSERT … ON
CONFLICT DO NOTHING), so the engine always finds a row for a flow that is on.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from astronote.errors import NotFound, ValidationFailed
from astronote.extensions import db
from astronote.models import Automation, Shop, now_utc
from astronote.services.automations.catalogue import FLOWS, Flow
from astronote.services.messaging import rendering
from astronote.services.sql import insert

MINUTES_PER = {"minutes": 1, "hours": 60, "days": 24 * 60}
# Sane bounds per unit: a cart reminder within a day (the US rule allows one message
# within 48 h, and quiet hours may push it further), follow-ups within a year.
DELAY_BOUNDS = {"minutes": (5, 24 * 60), "hours": (1, 7 * 24), "days": (1, 365)}


@dataclass(frozen=True)
class Edit:
    """A validated edit of one flow."""

    body: str
    discount_code: str | None
    delay_minutes: int
    send_hour: int | None
    include_imports: bool


def flow_or_404(key: str) -> Flow:
    if key not in FLOWS:
        raise NotFound("There is no such automation.")
    return FLOWS[key]


def defaults(shop_id: int, flow: Flow) -> dict:
    return {
        "shop_id": shop_id,
        "flow": flow.key,
        "enabled": flow.default_enabled,
        "body": flow.default_body,
        "discount_code": None,
        "delay_minutes": flow.delay_minutes,
        "send_hour": flow.default_send_hour,
        "include_imports": False,
    }


def ensure(shop_id: int) -> None:
    """Create the shop's missing flow rows from the catalogue, in one statement. Flush only."""
    now = now_utc()
    rows = [
        {**defaults(shop_id, flow), "created_at": now, "updated_at": now} for flow in FLOWS.values()
    ]
    stmt = insert(Automation.__table__).values(rows)
    db.session.execute(stmt.on_conflict_do_nothing(index_elements=["shop_id", "flow"]))


def all_for(shop: Shop) -> dict[str, Automation]:
    """Every flow's settings in catalogue order; untouched flows as unsaved defaults."""
    query = select(Automation).where(Automation.shop_id == shop.id)
    stored = {row.flow: row for row in db.session.execute(query).scalars()}
    return {
        key: stored.get(key) or Automation(**defaults(shop.id, flow)) for key, flow in FLOWS.items()
    }


def one(shop: Shop, key: str) -> Automation:
    flow = flow_or_404(key)
    query = select(Automation).filter_by(shop_id=shop.id, flow=key)
    return db.session.execute(query).scalar_one_or_none() or Automation(**defaults(shop.id, flow))


def _locked(shop: Shop, key: str) -> Automation:
    ensure(shop.id)
    query = select(Automation).filter_by(shop_id=shop.id, flow=key).with_for_update()
    return db.session.execute(query).scalar_one()


def switch(shop: Shop, key: str, on: bool) -> Automation:
    """Set a flow on or off (a state, not a toggle: a double click changes nothing)."""
    flow_or_404(key)
    row = _locked(shop, key)
    row.enabled = on
    return row


def save(shop: Shop, key: str, edit: Edit) -> Automation:
    row = _locked(shop, key)
    row.body, row.discount_code = edit.body, edit.discount_code
    row.delay_minutes, row.send_hour = edit.delay_minutes, edit.send_hour
    row.include_imports = edit.include_imports
    return row


def delay_in_unit(flow: Flow, minutes: int) -> int | None:
    return minutes // MINUTES_PER[flow.delay_unit] if flow.delay_unit else None


def delay_words(minutes: int) -> str:
    """A delay as a merchant says it: "1 hour", "7 days", "90 minutes"."""
    unit = next(u for u in ("days", "hours", "minutes") if minutes % MINUTES_PER[u] == 0)
    n = minutes // MINUTES_PER[unit]
    return f"{n:,} {unit[:-1] if n == 1 else unit}"


def _whole_number(raw: str | None, what: str) -> int:
    text = (raw or "").strip()
    if not text:
        raise ValueError(f"Enter the {what}.")
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"Enter a whole number of {what}.") from None


def _delay(flow: Flow, raw: str | None) -> int:
    low, high = DELAY_BOUNDS[flow.delay_unit]
    value = _whole_number(raw, flow.delay_unit)
    if not low <= value <= high:
        raise ValueError(f"Choose between {low:,} and {high:,} {flow.delay_unit}.")
    return value * MINUTES_PER[flow.delay_unit]


def _hour(raw: str | None) -> int:
    value = _whole_number(raw, "hour")
    if not 0 <= value <= 23:
        raise ValueError("Choose an hour from 0 to 23.")
    return value


def parse(flow: Flow, form) -> Edit:
    """Validate the editor's form; every problem is a field error, never an exception."""
    errors: dict[str, str] = {}
    body = rendering.normalise_body(form.get("body"))
    if problem := rendering.body_problem(body, extra=flow.event_variables):
        errors["body"] = problem
    discount = (form.get("discount_code") or "").strip() or None
    if problem := rendering.discount_problem(discount):
        errors["discount_code"] = problem
    delay, hour = flow.delay_minutes, None
    try:
        delay = _delay(flow, form.get("delay")) if flow.delay_unit else flow.delay_minutes
    except ValueError as exc:
        errors["delay"] = str(exc)
    try:
        hour = _hour(form.get("send_hour")) if flow.default_send_hour is not None else None
    except ValueError as exc:
        errors["send_hour"] = str(exc)
    if errors:
        raise ValidationFailed(errors)
    imports = flow.key == "welcome" and form.get("include_imports") in ("on", "1", "true")
    return Edit(body, discount, delay, hour, imports)
