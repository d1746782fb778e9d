"""GSM 03.38 (3GPP TS 23.038) default alphabet and the look-alike map behind `gsm_safe`.

static/js/segments.js carries a copy of these tables; tests/test_segments.py checks they agree.
"""

from __future__ import annotations

import unicodedata

# Rows 0x00-0x7F of the basic table, ESC (0x1B) left out: it is not a character a merchant types.
GSM7_BASIC: frozenset[str] = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)

# Reached through ESC, so each costs 2 septets in a GSM-7 message.
GSM7_EXTENSION: frozenset[str] = frozenset("^{}\\[~]|€\f")

GSM7_ALL: frozenset[str] = GSM7_BASIC | GSM7_EXTENSION

_PUNCTUATION: dict[str, str] = {
    **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032\u00b4`\u2039\u203a", "'"),
    **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb", '"'),
    **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2022", "-"),
    "\u2026": "...",
    # Unicode spaces pasted from documents or web pages look like a plain space.
    **dict.fromkeys("\t\u00a0\u1680\u202f\u205f\u3000", " "),
    **dict.fromkeys((chr(cp) for cp in range(0x2000, 0x200B)), " "),
    **dict.fromkeys("\u2028\u2029", "\n"),
    # Invisible, yet any one of them would switch the whole message to UCS-2.
    **dict.fromkeys("\u00ad\u200b\u2060\ufeff", ""),
}

# Greek capitals that share a glyph with a Latin capital: the usual transliteration used by
# Greek SMS gateways, so upper-case Greek text can stay GSM-7.
_GREEK_CAPITALS: dict[str, str] = dict(zip("ΑΒΕΖΗΙΚΜΝΟΡΤΥΧ", "ABEZHIKMNOPTYX", strict=True))

# Letters with no canonical decomposition to a GSM base letter.
_LETTER_EXTRAS: dict[str, str] = {
    "Đ": "D",
    "đ": "d",
    "Ł": "L",
    "ł": "l",
    "ı": "i",
    "Œ": "OE",
    "œ": "oe",
}


def strip_marks(text: str) -> str:
    """Decompose and drop non-spacing marks: 'ç' -> 'c', 'Ά' -> 'Α'."""
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")


def _accented_latin() -> dict[str, str]:
    # Generated rather than typed out so the JS port can build the identical map the same way.
    mapping = {}
    for cp in range(0x00C0, 0x0180):
        ch = chr(cp)
        base = strip_marks(ch)
        if ch not in GSM7_ALL and len(base) == 1 and base in GSM7_BASIC:
            mapping[ch] = base
    return mapping


SMART_MAP: dict[str, str] = {
    **_PUNCTUATION,
    **_accented_latin(),
    **_LETTER_EXTRAS,
    **_GREEK_CAPITALS,
}


def is_gsm(text: str) -> bool:
    return all(ch in GSM7_ALL for ch in text)


def septets(text: str) -> int:
    return sum(2 if ch in GSM7_EXTENSION else 1 for ch in text)


def utf16_units(text: str) -> int:
    return sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)
