"""Mitto request/result types and the parsing of send responses.

Bulk results are matched to our messages by the echoed client `reference` when
every result carries one, otherwise by position after checking the counts. The
original matched by index alone; Mitto keeping the order is unverified, so any
doubt raises `MittoProtocolError` (outcome unknown) instead of guessing.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from astronote.integrations.mitto.errors import MittoProtocolError

NO_ID_ERROR = "no messageId in provider result"


@dataclass(frozen=True)
class OutboundSms:
    reference: str  # our per-message id, echoed back by Mitto when it supports it
    destination: str
    text: str
    sender: str


@dataclass(frozen=True)
class SendResult:
    message_id: str | None
    status: str
    error: str | None = None
    reference: str | None = None

    @property
    def accepted(self) -> bool:
        return self.message_id is not None


@dataclass(frozen=True)
class MessageResult:
    reference: str
    message_id: str | None
    error: str | None

    @property
    def accepted(self) -> bool:
        return self.message_id is not None


@dataclass(frozen=True)
class BulkResult:
    bulk_id: str
    results: list[MessageResult]  # in the order of the messages we sent

    @property
    def accepted(self) -> list[MessageResult]:
        return [r for r in self.results if r.accepted]

    @property
    def rejected(self) -> list[MessageResult]:
        return [r for r in self.results if not r.accepted]


def as_id(value: object) -> str | None:
    """A provider id or reference as a non-empty string (JSON numbers allowed)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return str(value).strip() or None


def as_text(value: object) -> str | None:
    """Free text such as an error; structured values are kept as JSON, not dropped."""
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else json.dumps(value, default=str)


def parse_single(data: object, reference: str | None) -> SendResult:
    """Accept both shapes seen: `messages[0].messageId/status` or top-level `id/status`."""
    if not isinstance(data, dict):
        raise MittoProtocolError("send response is not a JSON object")
    messages = data.get("messages")
    first = messages[0] if isinstance(messages, list) and messages else {}
    first = first if isinstance(first, dict) else {}
    message_id = as_id(first.get("messageId")) or as_id(data.get("id"))
    error = as_text(first.get("error")) or as_text(data.get("error"))
    if message_id is None and error is None:
        raise MittoProtocolError("send response has neither a messageId nor an error")
    status = as_id(first.get("status")) or as_id(data.get("status")) or "sent"
    return SendResult(message_id, status, error, reference)


def parse_bulk(data: object, sent: Sequence[OutboundSms]) -> BulkResult:
    if not isinstance(data, dict):
        raise MittoProtocolError("bulk response is not a JSON object")
    bulk_id = as_id(data.get("bulkId"))
    results = data.get("messages")
    if bulk_id is None or not isinstance(results, list):
        raise MittoProtocolError("bulk response lacks bulkId or a messages list", bulk_id=bulk_id)
    if not all(isinstance(item, dict) for item in results):
        raise MittoProtocolError("bulk response messages are not objects", bulk_id=bulk_id)
    references = [as_id(item.get("reference")) for item in results]
    if results and all(references):
        return BulkResult(bulk_id, _by_reference(bulk_id, results, references, sent))
    return BulkResult(bulk_id, _by_position(bulk_id, results, sent))


def _by_reference(bulk_id, results, references, sent) -> list[MessageResult]:
    wanted = {sms.reference: sms for sms in sent}
    counts = Counter(references)
    matched: dict[str, MessageResult] = {}
    for ref, item in zip(references, results, strict=True):
        if ref in wanted and counts[ref] == 1 and _same_destination(item, wanted[ref]):
            matched[ref] = _message_result(ref, item)
    if len(matched) != len(sent) or len(results) != len(sent):
        raise MittoProtocolError(
            f"bulk references do not match the request ({len(matched)}/{len(sent)} matched, "
            f"{len(results)} results)",
            bulk_id=bulk_id,
            matched=matched,
        )
    return [matched[sms.reference] for sms in sent]


def _by_position(bulk_id, results, sent) -> list[MessageResult]:
    if len(results) != len(sent):
        raise MittoProtocolError(
            f"bulk returned {len(results)} results for {len(sent)} messages", bulk_id=bulk_id
        )
    for index, (item, sms) in enumerate(zip(results, sent, strict=True)):
        # Cheap guards against a reordered response: whatever is echoed must agree.
        ref = as_id(item.get("reference"))
        if (ref is not None and ref != sms.reference) or not _same_destination(item, sms):
            raise MittoProtocolError(
                f"bulk result {index} does not belong to message {index}", bulk_id=bulk_id
            )
    return [_message_result(sms.reference, item) for item, sms in zip(results, sent, strict=True)]


def _same_destination(item: dict, sms: OutboundSms) -> bool:
    echoed = as_id(item.get("destination"))
    if echoed is None:
        return True
    # Compare digits only: an echo without the leading '+' is still the same number.
    return re.sub(r"\D", "", echoed) == re.sub(r"\D", "", sms.destination)


def _message_result(reference: str, item: dict) -> MessageResult:
    message_id = as_id(item.get("messageId"))
    error = as_text(item.get("error"))
    if message_id is None and error is None:
        error = NO_ID_ERROR  # accepted <=> messageId; keep the refusal explainable
    return MessageResult(reference, message_id, error)
