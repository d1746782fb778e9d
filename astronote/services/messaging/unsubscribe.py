"""Unsubscribe links: /u/<code>, unguessable, bound to one contact of one shop, forever.

The code is the contact id plus an HMAC of (shop, contact) under a key derived
from SECRET_KEY: nothing to store, nothing to expire, and it cannot be forged
or pointed at another contact.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from flask import current_app
from sqlalchemy import select

from astronote.extensions import db
from astronote.models import Contact

ID_WIDTH = 8  # base36 digits: fixed width keeps every opt-out line the same length
MAC_CHARS = 12


def _key() -> bytes:
    return hashlib.sha256(b"unsubscribe:" + current_app.config["SECRET_KEY"].encode()).digest()


def _mac(shop_id: int, contact_id: int) -> str:
    digest = hmac.new(_key(), f"{shop_id}:{contact_id}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode().lower()[:MAC_CHARS]


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while number:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
    return out.rjust(ID_WIDTH, "0")


def code_for(shop_id: int, contact_id: int) -> str:
    return _base36(contact_id) + _mac(shop_id, contact_id)


def link_for(shop_id: int, contact_id: int) -> str:
    base = current_app.config["SHOPIFY_APP_URL"].rstrip("/")
    return f"{base}/u/{code_for(shop_id, contact_id)}"


def contact_for(code: str) -> Contact | None:
    """The contact a code names, or None for anything forged, mangled or deleted."""
    code = (code or "").lower()
    if len(code) != ID_WIDTH + MAC_CHARS or not code.isalnum() or not code.isascii():
        return None
    try:
        contact_id = int(code[:ID_WIDTH], 36)
    except ValueError:
        return None
    contact = db.session.execute(select(Contact).filter_by(id=contact_id)).scalar_one_or_none()
    if contact is None:
        return None
    if not hmac.compare_digest(code[ID_WIDTH:], _mac(contact.shop_id, contact.id)):
        return None
    return contact
