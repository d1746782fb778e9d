"""Typed Mitto failures, classified by what the caller may safely do next.

- `MittoRetryableError`: resend later (with backoff / after `retry_after`).
- `MittoPermanentError`: never resend the same request; `MittoAuthError` means the
  account is misconfigured: alert and pause sending instead of failing every message.
- `MittoUnknownOutcomeError`: the request may have been accepted. Never resend
  blindly: mark the messages `unknown` and reconcile (status lookup / DLRs).
"""

from __future__ import annotations

BODY_LIMIT = 500  # provider bodies can be large; keep enough to diagnose, no more


def truncate(text: str | None, limit: int = BODY_LIMIT) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[:limit] + "...[truncated]"


class MittoError(Exception):
    """Base class; `status` is the HTTP status when there was a response."""

    retryable = False
    outcome_unknown = False

    def __init__(self, message: str, *, status: int | None = None, body: str | None = None):
        super().__init__(message)
        self.status = status
        self.body = truncate(body)


class MittoRetryableError(MittoError):
    """Safe to retry: connect failure, 429 or 5xx.

    `reached_provider` is False when the request never left us (DNS, refused,
    connect timeout) and True for 429/5xx. A 5xx *may* still mean Mitto processed
    the message (gateway error after acceptance); the reference says retry, so we
    do, but callers that can should resend with the same per-message reference.
    """

    retryable = True

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        body: str | None = None,
        retry_after: float | None = None,
        reached_provider: bool = False,
    ):
        super().__init__(message, status=status, body=body)
        self.retry_after = retry_after
        self.reached_provider = reached_provider


class MittoPermanentError(MittoError):
    """A 4xx (other than 429) or a local refusal: resending cannot succeed."""


class MittoAuthError(MittoPermanentError):
    """401/403: wrong API key or traffic account. A configuration problem."""


class MittoValidationError(MittoPermanentError):
    """Refused locally before any HTTP call (bad destination, empty batch...)."""

    def __init__(self, message: str, *, references: list[str] | None = None):
        super().__init__(message)
        self.references = references or []  # the offending OutboundSms references


class MittoUnknownOutcomeError(MittoError):
    """The request reached (or may have reached) Mitto but we cannot tell the result."""

    outcome_unknown = True


class MittoProtocolError(MittoUnknownOutcomeError):
    """A 2xx whose body we cannot trust (missing bulkId, count or reference mismatch).

    `bulk_id` and `matched` (reference -> MessageResult) carry whatever could be
    identified with certainty so the caller can record those and reconcile the rest.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        body: str | None = None,
        bulk_id: str | None = None,
        matched: dict | None = None,
    ):
        super().__init__(message, status=status, body=body)
        self.bulk_id = bulk_id
        self.matched = matched or {}
