"""Thin Mitto SMS client: one HTTP call per method, typed results and errors.

The client never retries: the send task owns backoff, claims and the bookkeeping
of unknown outcomes (see `mitto_errors` for what each error allows). Contract:
/work/shared/reference/mitto-api.md. The API key never appears in logs or repr.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, NewConnectionError

from astronote.integrations.mitto.callbacks import (
    DeliveryReport,
    InboundSms,
    parse_delivery_reports,
    parse_inbound,
)
from astronote.integrations.mitto.errors import (
    MittoAuthError,
    MittoError,
    MittoPermanentError,
    MittoProtocolError,
    MittoRetryableError,
    MittoUnknownOutcomeError,
    MittoValidationError,
)
from astronote.integrations.mitto.results import (
    BulkResult,
    MessageResult,
    OutboundSms,
    SendResult,
    parse_bulk,
    parse_single,
)

__all__ = [
    "BulkResult",
    "DeliveryReport",
    "InboundSms",
    "MessageResult",
    "MittoAuthError",
    "MittoClient",
    "MittoError",
    "MittoPermanentError",
    "MittoProtocolError",
    "MittoRetryableError",
    "MittoUnknownOutcomeError",
    "MittoValidationError",
    "OutboundSms",
    "PreparedBulk",
    "SendResult",
    "parse_delivery_reports",
    "parse_inbound",
    "parse_retry_after",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PreparedBulk:
    """A checked bulk request, its JSON already encoded: sending it is only the HTTP call,
    so the time from a rate-limit grant to the provider is short and steady."""

    messages: tuple[OutboundSms, ...]
    body: bytes


SEND_PATH = "/api/v1.1/Messages/send"
BULK_PATH = "/api/v1.1/Messages/sendmessagesbulk"
STATUS_PATH = "/api/v1.1/Messages/{}"
E164 = re.compile(r"\+[1-9][0-9]{1,14}")  # used with fullmatch: no trailing-newline slip
# Raised by requests before anything is sent: a deployment error, not a provider one.
_LOCAL_REQUEST_ERRORS = (
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    requests.exceptions.InvalidHeader,
)


class MittoClient:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        traffic_account_id: str,
        session: requests.Session | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        pool_size: int = 10,
    ):
        if not (base_url and api_key and traffic_account_id):
            raise ValueError("base_url, api_key and traffic_account_id are required")
        self.base_url = base_url.rstrip("/")
        self.traffic_account_id = traffic_account_id
        self._api_key = api_key
        self._timeout = (connect_timeout, read_timeout)
        self.session = session or pooled_session(pool_size)

    def __repr__(self) -> str:
        return f"MittoClient(base_url={self.base_url!r}, account={self.traffic_account_id!r})"

    def send(
        self, destination: str, text: str, sender: str, reference: str | None = None
    ) -> SendResult:
        check_message(OutboundSms(reference or "", destination, text, sender))
        body = self._message_body(destination, text, sender, reference)
        return parse_single(self._call("POST", SEND_PATH, body), reference)

    def prepare_bulk(self, messages: Sequence[OutboundSms]) -> PreparedBulk:
        """Check and encode a bulk request; raises MittoValidationError before any I/O."""
        check_batch(messages)
        body = {
            "messages": [
                self._message_body(m.destination, m.text, m.sender, m.reference) for m in messages
            ]
        }
        return PreparedBulk(tuple(messages), json.dumps(body, separators=(",", ":")).encode())

    def send_bulk(self, messages: Sequence[OutboundSms] | PreparedBulk) -> BulkResult:
        prepared = messages if isinstance(messages, PreparedBulk) else self.prepare_bulk(messages)
        result = parse_bulk(self._call("POST", BULK_PATH, prepared.body), prepared.messages)
        log.info(
            "mitto bulk %s: %d accepted, %d rejected",
            result.bulk_id,
            len(result.accepted),
            len(result.rejected),
        )
        return result

    def get_status(self, message_id: str) -> dict:
        if not message_id:
            raise MittoValidationError("message_id is required")
        data = self._call("GET", STATUS_PATH.format(quote(str(message_id), safe="")), None)
        if not isinstance(data, dict):
            raise MittoProtocolError("status response is not a JSON object")
        return data

    def close(self) -> None:
        self.session.close()

    def _message_body(self, destination, text, sender, reference) -> dict:
        body = {
            "trafficAccountId": self.traffic_account_id,
            "destination": destination,
            "sms": {"text": text, "sender": sender},
        }
        if reference is not None:
            body["reference"] = reference
        return body

    def _call(self, method: str, path: str, body: dict | bytes | None) -> object:
        # Per-request header, not session-wide: a shared session may serve several accounts.
        headers = {"X-Mitto-API-Key": self._api_key, "Accept": "application/json"}
        if isinstance(body, bytes):
            headers["Content-Type"] = "application/json"
        try:
            response = self.session.request(
                method,
                self.base_url + path,
                data=body if isinstance(body, bytes) else None,
                json=None if isinstance(body, bytes) else body,
                headers=headers,
                timeout=self._timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            error = transport_error(exc, idempotent=method == "GET")
            log.warning("mitto %s %s failed: %s", method, path, error)
            raise error from exc
        return _decode(response, method, path)


def pooled_session(pool_size: int = 10) -> requests.Session:
    session = requests.Session()
    # max_retries=0: urllib3 must never resend a POST behind our back.
    adapter = HTTPAdapter(pool_connections=2, pool_maxsize=pool_size, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def check_message(sms: OutboundSms) -> None:
    references = [sms.reference] if sms.reference else []
    if not isinstance(sms.destination, str) or not E164.fullmatch(sms.destination):
        raise MittoValidationError(
            f"destination is not E.164: {sms.destination!r}", references=references
        )
    if not sms.text or not sms.sender:
        raise MittoValidationError("text and sender are required", references=references)


def check_batch(messages: Sequence[OutboundSms]) -> None:
    """Refuse the whole batch before any call; `references` names the culprits."""
    if not messages:
        raise MittoValidationError("empty bulk")
    bad = []
    for sms in messages:
        try:
            check_message(sms)
        except MittoValidationError:
            bad.append(sms.reference)
    if bad:
        raise MittoValidationError(f"{len(bad)} invalid message(s) in bulk", references=bad)
    references = [sms.reference for sms in messages]
    if not all(references) or len(set(references)) != len(references):
        raise MittoValidationError("bulk references must be unique and non-empty")


def transport_error(exc: requests.RequestException, idempotent: bool) -> MittoError:
    """No HTTP response: decide whether the request could have reached Mitto."""
    name = type(exc).__name__
    if isinstance(exc, requests.ConnectTimeout) or _never_connected(exc):
        return MittoRetryableError(f"cannot reach Mitto ({name})")
    if isinstance(exc, _LOCAL_REQUEST_ERRORS):
        return MittoPermanentError(f"invalid Mitto request configuration ({name})")
    if idempotent:  # a lost GET is simply asked again
        return MittoRetryableError(f"Mitto read failed ({name})", reached_provider=True)
    # Read timeout, reset, broken chunked body...: the request was (maybe) processed.
    return MittoUnknownOutcomeError(f"no usable response after sending ({name})")


def _never_connected(exc: requests.RequestException) -> bool:
    # DNS failure and "connection refused" reach us as MaxRetryError(NewConnectionError);
    # a reset after sending is a bare ProtocolError, which must NOT count as this.
    if not isinstance(exc, requests.ConnectionError) or not exc.args:
        return False
    reason = exc.args[0]
    return isinstance(reason, MaxRetryError) and isinstance(reason.reason, NewConnectionError)


def _decode(response: requests.Response, method: str, path: str) -> object:
    status = response.status_code
    if 200 <= status < 300:
        try:
            return response.json()
        except ValueError:
            raise MittoProtocolError(
                "2xx response is not JSON", status=status, body=response.text
            ) from None
    log.warning("mitto %s %s answered HTTP %d", method, path, status)
    message = f"Mitto API error: HTTP {status}"
    if status in (401, 403):
        raise MittoAuthError(
            message + " (check API key / traffic account)", status=status, body=response.text
        )
    if status == 429 or status >= 500:
        raise MittoRetryableError(
            message,
            status=status,
            body=response.text,
            reached_provider=True,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
    raise MittoPermanentError(message, status=status, body=response.text)


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds from now: either delta-seconds or an HTTP date."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None
