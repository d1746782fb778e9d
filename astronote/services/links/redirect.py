"""Following a short link: verify the code, find the target, count the click.

The code is checked before anything is read (a forged one costs an HMAC, nothing
more); the set comes from the process cache; the click goes to the buffer. In the
common case the redirect touches no database at all.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError

from astronote.services.links import bots, clicks, codec, sets

log = logging.getLogger("astronote.links")


class Unavailable(Exception):
    """The set is not cached and the database cannot be read: try again later."""


@dataclass(frozen=True)
class Hit:
    location: str
    counted: bool


def follow(code: str, method: str, user_agent: str | None, headers: Mapping) -> Hit | None:
    """Where the code leads, with the click counted unless a bot or HEAD asked; None for a
    tampered code, a deleted source, or an index its set does not have."""
    link = codec.decode(code)
    if link is None:
        return None
    try:
        target = sets.cache().get(link.set_id)
    except SQLAlchemyError as exc:
        log.exception("link set %s could not be read", link.set_id)
        raise Unavailable from exc
    if target is None or link.index >= len(target.targets):
        return None
    counted = not bots.is_automated(method, user_agent, headers)
    if counted:
        clicks.record(
            target.shop_id,
            link.set_id,
            target.source_kind,
            target.source_id,
            link.message_id,
            link.index,
        )
    return Hit(target.targets[link.index], counted)
