"""Parse Mitto delivery reports (DLR) and inbound messages (MO): pure functions.

Which field names Mitto really sends is unverified (mitto-api.md §6/§7), so we
accept every alias the original did; the first non-empty one wins. Reports may
come as a JSON array, a single object or flat query parameters.

Each report is validated on its own (`parse_delivery_batch`): one unusable report
must not cost the batch its good ones. PostgreSQL text cannot hold NUL, so NUL is
stripped from free text, and an id carrying one (or longer than our columns) is
refused rather than silently changed.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

ID_KEYS = ("messageId", "message_id", "id", "MessageId")
STATUS_KEYS = ("deliveryStatus", "status", "Status", "dlr_status", "delivery_status")
TIME_KEYS = ("updatedAt", "doneAt", "timestamp", "Timestamp", "createdAt")
ERROR_KEYS = ("error", "Error", "description", "errorMessage")
REFERENCE_KEYS = ("reference", "Reference")  # client reference echo: third-party docs only
INBOUND_TEXT_KEYS = ("text", "message", "body")
INBOUND_TO_KEYS = ("to", "destination")
INBOUND_FROM_KEYS = ("from", "msisdn")
INBOUND_TIME_KEYS = ("receivedAt", *TIME_KEYS)

DELIVERED = frozenset({"delivered", "delivrd", "completed", "ok"})
FAILED = frozenset({"failure", "failed", "undelivered", "expired", "rejected", "error"})
IN_FLIGHT = frozenset({"sent", "queued", "accepted", "submitted", "enroute"})
FINAL_STATES = frozenset({"delivered", "failed"})
_NUMBER = re.compile(r"[0-9]+(\.[0-9]+)?")
_EPOCH_MS_THRESHOLD = 1e11  # larger epochs are milliseconds (year 5138 in seconds)
MAX_ID = 64  # messages.provider_message_id and the unmatched reports' columns
_OUR_ID = re.compile(r"[0-9]{1,19}")  # ASCII only: str.isdigit() accepts "²"
_MAX_OUR_ID = 2**63 - 1  # a BIGINT; larger never names a message of ours


class InvalidReport(ValueError):
    """One delivery report that cannot be applied; the rest of its batch still is."""


@dataclass(frozen=True)
class DeliveryReport:
    message_id: str
    raw_status: str | None  # store verbatim in delivery_status
    state: str  # delivered | failed | in_flight | unknown
    occurred_at: datetime | None  # UTC; None when absent/invalid: the caller uses now
    error: str | None
    reference: str | None
    raw: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def reference_id(self) -> int | None:
        """Our message id when the reference echoes one, else None (never matched)."""
        ref = self.reference or ""
        if _OUR_ID.fullmatch(ref) and 0 < int(ref) <= _MAX_OUR_ID:
            return int(ref)
        return None


@dataclass(frozen=True)
class RejectedReport:
    index: int  # position in the batch, for the log line
    reason: str


@dataclass(frozen=True)
class InboundSms:
    from_number: str | None  # as sent by Mitto; normalise to E.164 in the caller
    to: str | None
    text: str | None
    message_id: str | None
    received_at: datetime | None
    raw: dict = field(default_factory=dict, compare=False, hash=False)


def state_for(raw_status: str | None) -> str:
    status = (raw_status or "").strip().lower()
    if status in DELIVERED:
        return "delivered"
    if status in FAILED:
        return "failed"
    if status in IN_FLIGHT:
        return "in_flight"
    return "unknown"  # keep raw, log, leave the message state unchanged


def parse_delivery_batch(payload: object) -> tuple[list[DeliveryReport], list[RejectedReport]]:
    """The usable reports in `payload`, and why each other one was refused."""
    events = payload if isinstance(payload, list) else [payload]
    reports, rejected = [], []
    for index, event in enumerate(events):
        try:
            reports.append(_report(event))
        except InvalidReport as exc:
            rejected.append(RejectedReport(index, str(exc)))
    return reports, rejected


def parse_delivery_reports(payload: object) -> list[DeliveryReport]:
    """Every usable report in `payload`; unusable ones are left out."""
    return parse_delivery_batch(payload)[0]


def parse_inbound(payload: object) -> InboundSms:
    if not isinstance(payload, Mapping):
        raise ValueError("inbound payload must be an object or query parameters")
    text = _pick(payload, INBOUND_TEXT_KEYS)
    text = text if isinstance(text, str) else _scalar(text)  # keep spacing: STOP parsing
    return InboundSms(
        from_number=_strip_nul(_scalar(_pick(payload, INBOUND_FROM_KEYS))),
        to=_strip_nul(_scalar(_pick(payload, INBOUND_TO_KEYS))),
        text=_strip_nul(text),
        message_id=_inbound_id(_scalar(_pick(payload, ID_KEYS))),
        received_at=parse_time(_pick(payload, INBOUND_TIME_KEYS)),
        raw=dict(payload),
    )


def _inbound_id(message_id: str | None) -> str | None:
    """An id that fits the column and still deduplicates: a reply (maybe a STOP) is
    worth keeping even when its id is odd, so an oversized id becomes its digest."""
    if message_id is None or (len(message_id) <= MAX_ID and "\x00" not in message_id):
        return message_id
    return "sha256:" + hashlib.sha256(message_id.encode("utf-8", "replace")).hexdigest()[:57]


def parse_time(value: object) -> datetime | None:
    """ISO 8601 (naive = UTC) or epoch seconds/milliseconds; anything else -> None."""
    if value is None or isinstance(value, bool):
        return None
    text = value.strip() if isinstance(value, str) else None
    try:
        if isinstance(value, int | float) or (text and _NUMBER.fullmatch(text)):
            return _from_epoch(float(value))
        if text:
            parsed = datetime.fromisoformat(text)
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return None


def _from_epoch(number: float) -> datetime | None:
    if not math.isfinite(number) or number <= 0:
        return None
    if number > _EPOCH_MS_THRESHOLD:
        number /= 1000
    return datetime.fromtimestamp(number, UTC)


def _report(event: object) -> DeliveryReport:
    if not isinstance(event, Mapping):
        raise InvalidReport("a report must be an object")
    message_id = _scalar(_pick(event, ID_KEYS))
    if message_id is None:
        raise InvalidReport("messageId is missing")
    if len(message_id) > MAX_ID or "\x00" in message_id:
        raise InvalidReport(f"messageId must be at most {MAX_ID} characters, without NUL")
    raw_status = _strip_nul(_scalar(_pick(event, STATUS_KEYS)))
    error = _pick(event, ERROR_KEYS)
    reference = _strip_nul(_scalar(_pick(event, REFERENCE_KEYS)))
    return DeliveryReport(
        message_id=message_id,
        raw_status=raw_status,
        state=state_for(raw_status),
        occurred_at=parse_time(_pick(event, TIME_KEYS)),
        error=_strip_nul(error if error is None or isinstance(error, str) else str(error)),
        reference=reference if reference is None or len(reference) <= MAX_ID else None,
        raw=dict(event),
    )


def _strip_nul(text: str | None) -> str | None:
    """Free text keeps its meaning without NUL, which PostgreSQL text cannot store."""
    return text.replace("\x00", "") if text else text


def _pick(mapping: Mapping, keys: tuple[str, ...]) -> object:
    """First non-empty value among `keys`; parse_qs-style lists give their first item."""
    for key in keys:
        value = mapping.get(key)
        if isinstance(value, list | tuple):
            value = value[0] if value else None
        if value is not None and value != "":
            return value
    return None


def _scalar(value: object) -> str | None:
    if value is None or isinstance(value, bool | dict | list):
        return None
    return str(value).strip() or None
