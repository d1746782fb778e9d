"""Link codes: (link set, message, link index) packed into one integer, signed, base62.

Bit layout, lowest first: a 40-bit HMAC tag, the link index (4 bits), the bit length
of the set id minus one (5 bits), the set id, then the message id in the high bits.
No lengths or padding beyond that, so the code grows with the ids: 9 characters for
the first message, 14 near a million messages, 16 near a hundred million.

The tag covers all three numbers, so a code cannot be re-pointed at another set
(another shop's) or another message; a forged code passes with odds of 2**-40, and
is refused before any lookup. Base62 only: no character that an SMS app's link
detector would cut off (a trailing "-" or ".").
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from functools import lru_cache

from flask import current_app

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_DIGITS = {ch: i for i, ch in enumerate(ALPHABET)}
TAG_BITS = 40
INDEX_BITS = 4
LENGTH_BITS = 5
MAX_LINKS = 1 << INDEX_BITS  # distinct URLs per set; more stay as they are
MAX_SET_ID = (1 << (1 << LENGTH_BITS)) - 1  # 32-bit set ids
MAX_MESSAGE_ID = (1 << 63) - 1
MAX_CODE = 25  # characters of the largest code (63 + 32 + 49 bits)
_HEADER = TAG_BITS + INDEX_BITS + LENGTH_BITS


@dataclass(frozen=True)
class LinkCode:
    set_id: int
    message_id: int
    index: int


def _keys() -> tuple[bytes, ...]:
    """Signing keys, newest first; one derived from SECRET_KEY when none is configured."""
    config = current_app.config
    return _derive(tuple(config.get("LINK_SIGNING_KEYS") or ()), config["SECRET_KEY"])


@lru_cache(maxsize=8)
def _derive(configured: tuple[str, ...], secret: str) -> tuple[bytes, ...]:
    if configured:
        return tuple(key.encode() for key in configured)
    return (hashlib.sha256(b"links:" + secret.encode()).digest(),)


def _tag(key: bytes, link: LinkCode) -> int:
    message = f"{link.set_id}:{link.message_id}:{link.index}".encode()
    digest = hmac.digest(key, message, "sha256")  # the one-shot C path: no HMAC object
    return int.from_bytes(digest[: TAG_BITS // 8], "big")


def _pack(link: LinkCode, tag: int) -> int:
    set_bits = link.set_id.bit_length()
    value = link.message_id << set_bits | link.set_id
    value = value << LENGTH_BITS | (set_bits - 1)
    return (value << INDEX_BITS | link.index) << TAG_BITS | tag


def base62(number: int) -> str:
    out = []
    while number:
        number, rest = divmod(number, 62)
        out.append(ALPHABET[rest])
    return "".join(reversed(out)) or "0"


def _check(link: LinkCode) -> None:
    if not (1 <= link.set_id <= MAX_SET_ID and 1 <= link.message_id <= MAX_MESSAGE_ID):
        raise ValueError(f"ids out of range: {link}")
    if not 0 <= link.index < MAX_LINKS:
        raise ValueError(f"link index out of range: {link.index}")


def encode(set_id: int, message_id: int, index: int, key: bytes | None = None) -> str:
    """`key`: the signing key (`signing_key()`), when a caller signs many codes at once."""
    link = LinkCode(set_id, message_id, index)
    _check(link)
    return base62(_pack(link, _tag(key or _keys()[0], link)))


def signing_key() -> bytes:
    """The key new codes are signed with."""
    return _keys()[0]


def code_length(set_id: int, message_id: int) -> int:
    """Characters of any code for these ids (the tag's value does not change the length)."""
    link = LinkCode(max(set_id, 1), max(message_id, 1), MAX_LINKS - 1)
    _check(link)
    return len(base62(_pack(link, (1 << TAG_BITS) - 1)))


def _unpack(code: str) -> tuple[LinkCode, int] | None:
    if not 0 < len(code) <= MAX_CODE or code[0] == "0":  # a leading zero is not canonical
        return None
    number = 0
    for ch in code:
        digit = _DIGITS.get(ch)
        if digit is None:
            return None
        number = number * 62 + digit
    tag = number & ((1 << TAG_BITS) - 1)
    index = (number >> TAG_BITS) & (MAX_LINKS - 1)
    set_bits = ((number >> (TAG_BITS + INDEX_BITS)) & ((1 << LENGTH_BITS) - 1)) + 1
    rest = number >> _HEADER
    set_id, message_id = rest & ((1 << set_bits) - 1), rest >> set_bits
    if set_id.bit_length() != set_bits or not 1 <= message_id <= MAX_MESSAGE_ID:
        return None
    return LinkCode(set_id, message_id, index), tag


def decode(code: str) -> LinkCode | None:
    """The link a code names, or None for anything malformed or not signed by us."""
    unpacked = _unpack(code or "")
    if unpacked is None:
        return None
    link, tag = unpacked
    expected = tag.to_bytes(TAG_BITS // 8, "big")
    for key in _keys():
        if hmac.compare_digest(_tag(key, link).to_bytes(TAG_BITS // 8, "big"), expected):
            return link
    return None
