"""Simulate a reply (or a STOP) from a phone, posted to the app as Mitto would post it.

    python -m astronote.devtools.mitto_sim_inbound --from +306900000001 --text STOP

The body is signed with MITTO_WEBHOOK_SECRET (X-Mitto-Signature, hex HMAC-SHA256
of the raw body) when that is set, exactly as the app checks it. The running
simulator offers the same as `POST /_sim/inbound` (see docs/DEVELOPMENT.md).
Loopback only, like the rest of the simulator.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import requests

from astronote.devtools.mitto_sim_config import is_loopback
from astronote.integrations.mitto.signatures import SIGNATURE_HEADER, sign

INBOUND_PATH = "/webhooks/mitto/inbound"


def inbound_payload(sender: str, text: str, to: str | None = None) -> dict:
    """An inbound message in the field names the app's parser reads first."""
    payload = {
        "messageId": f"sim-mo-{uuid.uuid4()}",
        "from": sender,
        "text": text,
        "receivedAt": datetime.now(UTC).isoformat(timespec="milliseconds"),
    }
    if to:
        payload["to"] = to  # the shop's number routes it; without it, the last sender does
    return payload


def inbound_url_next_to(dlr_url: str | None) -> str | None:
    """The app's inbound route beside its delivery-report route (same host and port)."""
    if not dlr_url:
        return None
    parts = urlsplit(dlr_url)
    return urlunsplit((parts.scheme, parts.netloc, INBOUND_PATH, "", ""))


def default_url(environ: Mapping[str, str]) -> str:
    port = environ.get("ASTRONOTE_PORT") or environ.get("PORT") or "8000"
    return f"http://127.0.0.1:{port}{INBOUND_PATH}"


def post_inbound(url: str, payload: dict, secret: str | None, timeout: float = 5.0):
    """POST one inbound message; returns (status code, parsed JSON or text)."""
    if not is_loopback(urlsplit(url).hostname):
        raise ValueError("the inbound URL must be on this machine (loopback)")
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"}
    if secret:
        headers[SIGNATURE_HEADER] = sign(secret, body)
    with requests.Session() as session:
        session.trust_env = False  # no proxies: straight to loopback
        response = session.post(
            url, data=body, headers=headers, timeout=timeout, allow_redirects=False
        )
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, response.text[:500]


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    environ = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(
        prog="python -m astronote.devtools.mitto_sim_inbound",
        description="Post a simulated inbound SMS (a reply, STOP, START, HELP) to the app.",
    )
    parser.add_argument("--from", dest="sender", required=True, help="the phone, E.164")
    parser.add_argument("--text", required=True, help="the reply, e.g. STOP")
    parser.add_argument("--to", default=None, help="the shop's number (optional)")
    parser.add_argument("--url", default=default_url(environ), help="the app's inbound route")
    args = parser.parse_args(argv)
    payload = inbound_payload(args.sender, args.text, args.to)
    try:
        status, answer = post_inbound(
            args.url, payload, environ.get("MITTO_WEBHOOK_SECRET") or None
        )
    except (ValueError, requests.RequestException) as exc:
        print(f"mitto_sim_inbound: {exc}", file=sys.stderr)
        return 2
    print(f"{status} {json.dumps(answer) if not isinstance(answer, str) else answer}")
    return 0 if 200 <= status < 300 else 1


if __name__ == "__main__":
    sys.exit(main())
