"""Verify that a Mitto callback (delivery report, inbound message) came from Mitto."""

from __future__ import annotations

import hashlib
import hmac


def is_authentic(secret: str | None, raw: bytes, signature: str, token: str) -> bool:
    """X-Mitto-Signature (hex HMAC-SHA256 of the raw body) or ?token=, in constant time.

    No secret means no check: config requires one in production, and the simulator
    under `make run` runs without one unless the operator sets it.
    """
    if not secret:
        return True
    if token and hmac.compare_digest(token.encode(), secret.encode()):
        return True
    signature = signature.strip().lower()
    expected = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return bool(signature) and hmac.compare_digest(signature.encode(), expected.encode())
