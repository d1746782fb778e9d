"""SMS segment counting (GSM-7 / UCS-2) and the GSM look-alike fix offered in the composer.

Follows TwilioDevEd/message-segment-calculator: segments are filled with whole grapheme
clusters, so an emoji or flag that does not fit the rest of a segment starts the next one.
static/js/segments.js is the browser port; tests/test_segments.py runs both over one case table.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from astronote.services.messaging.gsm import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    SMART_MAP,
    is_gsm,
    septets,
    strip_marks,
    utf16_units,
)

__all__ = [
    "GSM7",
    "GSM7_BASIC",
    "GSM7_EXTENSION",
    "MAX_MESSAGE_CHARS",
    "SMART_MAP",
    "UCS2",
    "SegmentInfo",
    "count_segments",
    "graphemes",
    "gsm_safe",
]

MAX_MESSAGE_CHARS = 1600
GSM7 = "GSM-7"
UCS2 = "UCS-2"
# (single message, per segment once multipart): 140 octets, minus a 6-octet UDH when multipart.
_LIMITS = {GSM7: (160, 153), UCS2: (70, 67)}


@dataclass(frozen=True)
class SegmentInfo:
    encoding: str  # GSM7 or UCS2
    characters: int  # user-perceived characters; CR and LF count one each, as Twilio does
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2
    segments: int
    per_segment: int  # the capacity that applied: 160/153 or 70/67
    non_gsm: tuple[str, ...]  # distinct clusters that forced UCS-2, in order of first use


# --- Grapheme clusters --------------------------------------------------------------------
# An approximation of UAX #29 without new dependencies. It covers what merchants paste into
# an SMS (accents, emoji modifiers, ZWJ sequences, flags, tag sequences); it ignores Hangul
# jamo and Prepend, which precomposed text does not use.

_ZWJ = "\u200d"
_EXTEND_CATEGORIES = frozenset({"Mn", "Me", "Mc"})
_CONTROL_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
# ZWNJ, and the Thai/Lao SARA AM vowels, which are letters by category but spacing marks here.
_EXTEND_EXTRAS = frozenset("\u200c\u0e33\u0eb3")
# Indic viramas that join two consonants into one conjunct (UAX #29 rule GB9c).
_VIRAMAS = frozenset("\u094d\u09cd\u0acd\u0b4d\u0c4d\u0d4d")
_PICTOGRAPHIC_EXTRAS = frozenset("\u00a9\u00ae\u203c\u2049\u2122\u2139\u3030\u303d\u3297\u3299")


def _is_extend(ch: str) -> bool:
    cp = ord(ch)
    return (
        unicodedata.category(ch) in _EXTEND_CATEGORIES
        or ch in _EXTEND_EXTRAS
        or 0x1F3FB <= cp <= 0x1F3FF  # skin-tone modifiers
        or 0xE0020 <= cp <= 0xE007F  # emoji tag sequences (subdivision flags)
    )


def _is_control(ch: str) -> bool:
    return unicodedata.category(ch) in _CONTROL_CATEGORIES and ch != _ZWJ and not _is_extend(ch)


def _is_regional(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF


def _is_pictographic(ch: str) -> bool:
    cp = ord(ch)
    if _is_regional(ch) or 0x1F3FB <= cp <= 0x1F3FF:
        return False
    return 0x1F000 <= cp <= 0x1FFFF or 0x2190 <= cp <= 0x2BFF or ch in _PICTOGRAPHIC_EXTRAS


def _is_consonant_of(ch: str, virama: str) -> bool:
    # Each of these scripts fills one 128-code-point block.
    return unicodedata.category(ch) == "Lo" and ord(ch) >> 7 == ord(virama) >> 7


def _joins(cluster: str, ch: str) -> bool:
    prev = cluster[-1]
    # CR and LF are controls, so "\r\n" stays two clusters: Twilio counts it as 2 characters
    # and may end a segment between them.
    if _is_control(prev) or _is_control(ch):
        return False
    if _is_extend(ch) or ch == _ZWJ:
        return True
    if prev == _ZWJ:
        return _is_pictographic(ch) and _is_pictographic(cluster[0])
    if prev in _VIRAMAS:
        return _is_consonant_of(ch, prev) and _is_consonant_of(cluster[0], prev)
    # Flags are pairs of regional indicators; a third one starts a new flag.
    return len(cluster) == 1 and _is_regional(prev) and _is_regional(ch)


def graphemes(text: str) -> list[str]:
    """Split `text` into the clusters that are kept whole within one segment."""
    clusters: list[str] = []
    for ch in text:
        if clusters and _joins(clusters[-1], ch):
            clusters[-1] += ch
        else:
            clusters.append(ch)
    return clusters


# --- Segments -----------------------------------------------------------------------------


def _fill(costs: list[int], capacity: int) -> int:
    segments, used = 1, 0
    for cost in costs:
        if used and used + cost > capacity:
            segments, used = segments + 1, 0
        used += cost
        # Only a cluster longer than a whole segment (e.g. dozens of stacked accents) gets here;
        # the carrier has to split it, so it spills over by code units.
        while used > capacity:
            segments, used = segments + 1, used - capacity
    return segments


def count_segments(text: str) -> SegmentInfo:
    """Encoding, size and segment count of `text` as a carrier will bill it."""
    clusters = graphemes(text)
    non_gsm = tuple(dict.fromkeys(c for c in clusters if not is_gsm(c)))
    encoding = UCS2 if non_gsm else GSM7
    measure = utf16_units if non_gsm else septets
    costs = [measure(c) for c in clusters]
    units = sum(costs)
    single, multi = _LIMITS[encoding]
    if units <= single:
        return SegmentInfo(encoding, len(clusters), units, 1 if units else 0, single, non_gsm)
    return SegmentInfo(encoding, len(clusters), units, _fill(costs, multi), multi, non_gsm)


# --- GSM look-alikes ----------------------------------------------------------------------


def _apply_map(text: str) -> str:
    return "".join(SMART_MAP.get(ch, ch) for ch in text)


def _safe_cluster(cluster: str) -> str:
    if is_gsm(cluster):
        return cluster
    # NFC first: a decomposed "e" + U+0301 is really "é", which GSM-7 has.
    composed = _apply_map(unicodedata.normalize("NFC", cluster))
    if is_gsm(composed):
        return composed
    bare = _apply_map(strip_marks(cluster))
    if bare and is_gsm(bare):
        return bare
    return cluster


def gsm_safe(text: str) -> str:
    """Replace look-alikes (curly quotes, dashes, accents, odd spaces) with GSM-7 characters.

    Clusters that are already GSM-7, or have no GSM-7 look-alike (emoji, Greek lower case),
    are returned as they are. The composer shows the result before the merchant accepts it.
    """
    return "".join(_safe_cluster(c) for c in graphemes(text))


_BASIC_ONLY = re.compile("[" + re.escape("".join(sorted(GSM7_BASIC))) + "]*")


def segment_count(text: str) -> int:
    """Segments only, fast: the common all-basic-GSM text skips grapheme analysis.

    Sending renders one message per recipient, so this runs a million times
    per campaign; `count_segments` stays the reference for everything else.
    """
    if _BASIC_ONLY.fullmatch(text):
        length = len(text)
        if length == 0:
            return 0
        return 1 if length <= 160 else -(-length // 153)
    return count_segments(text).segments
