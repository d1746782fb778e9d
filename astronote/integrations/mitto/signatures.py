"""Verify that a Mitto callback (delivery report, inbound message) came from Mitto."""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Mitto-Signature"


def sign(secret: str, raw: bytes) -> str:
    """The X-Mitto-Signature value for `raw`: hex HMAC-SHA256 over the exact body bytes."""
    return hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def is_authentic(secret: str | None, raw: bytes, signature: str, token: str) -> bool:
    """X-Mitto-Signature (hex HMAC-SHA256 of the raw body) or ?token=, in constant time.

    No secret means no check: config requires one in production. Under `make run` the
    simulator reads the same MITTO_WEBHOOK_SECRET and signs its callbacks with it.
    """
    if not secret:
        return True
    if token and hmac.compare_digest(token.encode(), secret.encode()):
        return True
    signature = signature.strip().lower()
    expected = sign(secret, raw)
    return bool(signature) and hmac.compare_digest(signature.encode(), expected.encode())
