"""Each URL of a rendered message becomes its recipient's short link; the composer's
counter, cost and preview measure the text with short links of the same length.

A code's length depends on the set and message ids (codec.py), so `measure` uses the
ids the next send will get: the highest ids so far plus the messages about to be
written. A send can come out one character longer only if other shops wrote enough
messages in between to cross a base62 boundary.
"""

from __future__ import annotations

from flask import current_app
from sqlalchemy import func, select

from astronote.extensions import db
from astronote.models import LinkSet, Message
from astronote.services.links import codec
from astronote.services.links import urls as url_rules
from astronote.services.links.codec import MAX_LINKS
from astronote.services.links.sets import PreparedSet

FILLER = "x"


def base_url() -> str:
    """Where short links point: the operator's short domain, else the app's own URL."""
    config = current_app.config
    return (config.get("LINK_BASE_URL") or config["SHOPIFY_APP_URL"]).rstrip("/")


def short_link(code: str) -> str:
    return f"{base_url()}/l/{code}"


def _replace(text: str, link_for) -> str:
    """The text with each found URL swapped for link_for(url); None leaves it as it is."""
    out, at = [], 0
    for start, end, url in url_rules.find(text):
        replacement = link_for(url)
        if replacement is None:
            continue
        out.append(text[at:start])
        out.append(replacement)
        at = end
    out.append(text[at:])
    return "".join(out)


def shorten(text: str, message_id: int, prepared: PreparedSet | None) -> str:
    """The rendered text with every URL of the set replaced by this message's short link.

    URLs not in the set (the opt-out link, a URL built from a personal placeholder)
    stay as they are. Pure: no query, no write.
    """
    if prepared is None:
        return text
    base, key = prepared.base or base_url(), prepared.key or codec.signing_key()

    def link_for(url: str) -> str | None:
        index = prepared.index.get(url)
        if index is None:
            return None
        return f"{base}/l/{codec.encode(prepared.id, message_id, index, key)}"

    return _replace(text, link_for)


def representative_link(upcoming: int = 1) -> str:
    """A short link as long as the ones the next `upcoming` messages will carry."""
    last_set = db.session.execute(select(func.max(LinkSet.id))).scalar() or 0
    last_message = db.session.execute(select(func.max(Message.id))).scalar() or 0
    length = codec.code_length(last_set + 1, last_message + max(upcoming, 1))
    return short_link(FILLER * length)


def measure(text: str, upcoming: int = 1) -> str:
    """The text as recipients will get it, link-wise: what the segment counter, the cost
    and the preview should count. Works on a body template or on a rendered message."""
    distinct = url_rules.distinct(text)[:MAX_LINKS]
    if not distinct:
        return text
    link = representative_link(upcoming)
    shortened = set(distinct)
    return _replace(text, lambda url: link if url in shortened else None)
