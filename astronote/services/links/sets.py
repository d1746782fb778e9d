"""Link sets: a source's URL list, written once, and the redirect's cached view of it.

A set is found again by (shop, source, hash of its URLs), so preparing the same body
in every chunk of a send costs one indexed read, and a flow whose links change gets a
new set while codes already sent keep theirs. The redirect reads sets by id through a
small per-process cache (rows never change; the TTL bounds how long a deleted shop's
links keep working).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field

from flask import Flask, current_app
from sqlalchemy import select

from astronote.extensions import db
from astronote.models import LinkSet
from astronote.services.links import codec
from astronote.services.links import urls as url_rules
from astronote.services.links.codec import MAX_LINKS
from astronote.services.sql import insert

CAMPAIGN = "campaign"
AUTOMATION = "automation"
SOURCE_KINDS = (CAMPAIGN, AUTOMATION)
CACHE_SECONDS = 300
CACHE_SIZE = 10_000


@dataclass(frozen=True)
class Source:
    """Where a message's links come from: a campaign or a flow (its automations row)."""

    kind: str
    id: int
    name: str  # utm_campaign: the campaign's name or the flow's title

    def __post_init__(self) -> None:
        if self.kind not in SOURCE_KINDS:
            raise ValueError(f"unknown link source kind {self.kind!r}")


@dataclass(frozen=True)
class PreparedSet:
    """What the send path needs: the set id and each URL's index; the link base and the
    signing key, read once per set instead of once per message."""

    id: int
    index: dict[str, int]
    base: str = ""
    key: bytes = field(default=b"", repr=False)  # never in a log line


@dataclass(frozen=True)
class Target:
    """What the redirect needs: the shop, the source, and each index's final URL."""

    shop_id: int
    source_kind: str
    source_id: int
    targets: tuple[str, ...]


def _hash(links: list[str]) -> str:
    return hashlib.sha256(json.dumps(links).encode()).hexdigest()


def prepare(shop_id: int, source: Source, text: str) -> PreparedSet | None:
    """The set holding the text's URLs (the first 16), created if new; None if it has none.

    `text`: the body with its shop-wide placeholders filled (the same for every
    recipient), so its URLs are the ones each rendered message carries.
    Writes at most one row, in the caller's transaction; the caller commits.
    """
    links = url_rules.distinct(text)[:MAX_LINKS]
    if not links:
        return None
    digest = _hash(links)
    key = (
        LinkSet.shop_id == shop_id,
        LinkSet.source_kind == source.kind,
        LinkSet.source_id == source.id,
        LinkSet.urls_hash == digest,
    )
    found = db.session.execute(select(LinkSet.id).where(*key)).scalar_one_or_none()
    if found is None:
        row = dict(shop_id=shop_id, source_kind=source.kind, source_id=source.id)
        row.update(name=source.name[:200], urls_hash=digest, urls=links)
        statement = insert(LinkSet.__table__).values(**row).on_conflict_do_nothing()
        db.session.execute(statement)  # a racing worker's row wins; read it back either way
        found = db.session.execute(select(LinkSet.id).where(*key)).scalar_one()
    from astronote.services.links.shortening import base_url  # it imports this module

    index = {url: i for i, url in enumerate(links)}
    return PreparedSet(found, index, base_url(), codec.signing_key())


class TargetCache:
    """Set id -> Target for the redirect: a read per set per process per TTL."""

    def __init__(self) -> None:
        self._entries: dict[int, tuple[float, Target]] = {}
        self._lock = threading.Lock()

    def get(self, set_id: int) -> Target | None:
        now = time.monotonic()
        entry = self._entries.get(set_id)
        if entry is not None and entry[0] > now:
            return entry[1]
        target = _load(set_id)
        if target is not None:
            with self._lock:
                if len(self._entries) >= CACHE_SIZE:
                    self._entries.clear()  # rare; simpler than an LRU and just as bounded
                self._entries[set_id] = (now + CACHE_SECONDS, target)
        return target


def _load(set_id: int) -> Target | None:
    query = select(
        LinkSet.shop_id, LinkSet.source_kind, LinkSet.source_id, LinkSet.name, LinkSet.urls
    ).where(LinkSet.id == set_id)
    with db.engine.connect() as connection:  # its own short read; no session state touched
        row = connection.execute(query).one_or_none()
    if row is None:
        return None
    shop_id, kind, source_id, name, links = row
    targets = tuple(url_rules.with_utm(url, name) for url in links)
    return Target(shop_id, kind, source_id, targets)


def cache(app: Flask | None = None) -> TargetCache:
    """The app's cache (one per app, so each test app starts empty)."""
    app = app or current_app._get_current_object()
    found = app.extensions.get("astronote_link_targets")
    if found is None:  # built once: a Lock per request would cost more than the lookup
        found = app.extensions.setdefault("astronote_link_targets", TargetCache())
    return found
