"""SMS segment calculator: table cases modelled on the categories of Twilio's
message-segment-calculator test suite, boundary properties, and Python/JS parity.

Self-contained on purpose (no conftest fixtures): run with
    pytest -p no:cacheprovider --noconftest tests/test_segments.py
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent
# A bare `pytest --noconftest` puts tests/ on sys.path, not the repo root.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from astronote.services.messaging.segments import (  # noqa: E402
    GSM7,
    GSM7_BASIC,
    GSM7_EXTENSION,
    MAX_MESSAGE_CHARS,
    SMART_MAP,
    UCS2,
    SegmentInfo,
    count_segments,
    gsm_safe,
)

SEGMENTS_JS = ROOT / "static" / "js" / "segments.js"

EXTENSION_CHARS = ["|", "^", "€", "{", "}", "[", "]", "~", "\\", "\f"]
ONE_GRAPHEME_UCS2 = ["Á", "Ú", "ú", "ç", "í", "Í", "ó", "Ó"]
FLAG_IT = "\U0001f1ee\U0001f1f9"  # 🇮🇹: 2 regional indicators, 4 units
FLAG_GR = "\U0001f1ec\U0001f1f7"  # 🇬🇷
RAINBOW_FLAG = "\U0001f3f3\ufe0f\u200d\U0001f308"  # 🏳️‍🌈: 6 units
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # 👨‍👩‍👧: 8 units
THUMBS_MEDIUM = "\U0001f44d\U0001f3fd"  # 👍🏽: 4 units
SCOTLAND = "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"  # 14 units
WINK = "\U0001f61c"  # 😜: 2 units
TRIPLE_ACCENT = "e\u0301\u0302\u0303"  # 1 grapheme, 4 scalars


def digits(n: int) -> str:
    return ("1234567890" * (n // 10 + 1))[:n]


def a(n: int) -> str:
    return "a" * n


# (id, text, encoding, characters, units, segments, per_segment)
CASES: list[tuple[str, str, str, int, int, int, int]] = [
    ("empty", "", GSM7, 0, 0, 0, 160),
    # GSM-7 length boundaries
    ("gsm-160", digits(160), GSM7, 160, 160, 1, 160),
    ("gsm-161", digits(161), GSM7, 161, 161, 2, 153),
    ("gsm-306", digits(306), GSM7, 306, 306, 2, 153),
    ("gsm-307", digits(307), GSM7, 307, 307, 3, 153),
    ("gsm-1530", digits(1530), GSM7, 1530, 1530, 10, 153),
    ("gsm-1531", digits(1531), GSM7, 1531, 1531, 11, 153),
    ("gsm-max", digits(MAX_MESSAGE_CHARS), GSM7, 1600, 1600, 11, 153),
    # An extension character costs 2 septets and is never split across a boundary.
    *(
        (f"ext-{ord(ch):04x}-160", ch + digits(158), GSM7, 159, 160, 1, 160)
        for ch in EXTENSION_CHARS
    ),
    *(
        (f"ext-{ord(ch):04x}-161", ch + digits(159), GSM7, 160, 161, 2, 153)
        for ch in EXTENSION_CHARS
    ),
    ("ext-straddles-153", digits(152) + "{" + digits(152), GSM7, 305, 306, 3, 153),
    ("ext-ends-at-153", digits(151) + "{" + digits(153), GSM7, 305, 306, 2, 153),
    ("greek-capitals-160", "ΓΔΘΛΞΠΣΦΨΩ" * 16, GSM7, 160, 160, 1, 160),
    ("chloe-gsm", "Hi Chloé, 10% off £5 ¥ § ¿¡ Ø Å Æ ß É", GSM7, 37, 37, 1, 160),
    # Line breaks: CR and LF are one character each and may be split like any other.
    ("crlf-gsm", "\rabcde\r\n123", GSM7, 11, 11, 1, 160),
    ("lf-gsm", "\nabcde\n\n123\n", GSM7, 12, 12, 1, 160),
    ("crlf-straddles-153", digits(152) + "\r\n" + digits(152), GSM7, 306, 306, 2, 153),
    ("crlf-ucs2", "ά\r\nb", UCS2, 4, 4, 1, 70),
    ("crlf-straddles-67", "ά" * 66 + "\r\n" + "ά" * 66, UCS2, 134, 134, 2, 67),
    # One-grapheme UCS-2 characters: 70 fit, 71 do not.
    *((f"ucs2-{ord(ch):04x}-70", ch * 70, UCS2, 70, 70, 1, 70) for ch in ONE_GRAPHEME_UCS2),
    *((f"ucs2-{ord(ch):04x}-71", ch * 71, UCS2, 71, 71, 2, 67) for ch in ONE_GRAPHEME_UCS2),
    ("greek-lower", "Καλημέρα", UCS2, 8, 8, 1, 70),
    ("ucs2-max", "ά" * MAX_MESSAGE_CHARS, UCS2, 1600, 1600, 24, 67),
    # Emoji plus filler
    ("emoji-70", WINK + digits(68), UCS2, 69, 70, 1, 70),
    ("emoji-71", WINK + digits(69), UCS2, 70, 71, 2, 67),
    ("emoji-134", WINK + digits(132), UCS2, 133, 134, 2, 67),
    ("emoji-135", WINK + digits(133), UCS2, 134, 135, 3, 67),
    # 67 is odd, so a segment of 2-unit emoji holds 33 of them.
    ("emoji-only-35", WINK * 35, UCS2, 35, 70, 1, 70),
    ("emoji-only-36", WINK * 36, UCS2, 36, 72, 2, 67),
    ("emoji-only-66", WINK * 66, UCS2, 66, 132, 2, 67),
    ("emoji-only-67", WINK * 67, UCS2, 67, 134, 3, 67),
    # Flags and ZWJ sequences at segment edges
    ("flag-70", FLAG_IT + digits(66), UCS2, 67, 70, 1, 70),
    ("flag-71", FLAG_IT + digits(67), UCS2, 68, 71, 2, 67),
    ("rainbow-70", RAINBOW_FLAG + digits(64), UCS2, 65, 70, 1, 70),
    ("rainbow-71", RAINBOW_FLAG + digits(65), UCS2, 66, 71, 2, 67),
    ("flag-ends-at-67", a(63) + FLAG_GR + a(67), UCS2, 131, 134, 2, 67),
    ("flag-straddles-67", a(65) + FLAG_GR + a(65), UCS2, 131, 134, 3, 67),
    ("family-ends-at-67", a(59) + FAMILY + a(67), UCS2, 127, 134, 2, 67),
    ("family-straddles-67", a(60) + FAMILY + a(66), UCS2, 127, 134, 3, 67),
    ("skin-tone-straddles-67", a(65) + THUMBS_MEDIUM + a(65), UCS2, 131, 134, 3, 67),
    ("tag-flag-straddles-67", a(60) + SCOTLAND + a(60), UCS2, 121, 134, 3, 67),
    ("two-flags-one-run", FLAG_IT + FLAG_GR + FLAG_IT, UCS2, 3, 12, 1, 70),
    # Extension characters cost 1 unit once the message is UCS-2.
    ("ucs2-ext-70", "😀" + "]" * 68, UCS2, 69, 70, 1, 70),
    ("ucs2-ext-71", "😀" + "]" * 69, UCS2, 70, 71, 2, 67),
    ("ucs2-euro-70", "ά" + "€" * 69, UCS2, 70, 70, 1, 70),
    # Combining marks: one grapheme, one cluster, several units.
    ("triple-accent", TRIPLE_ACCENT, UCS2, 1, 4, 1, 70),
    ("triple-accent-70", TRIPLE_ACCENT + a(66), UCS2, 67, 70, 1, 70),
    ("triple-accent-71", TRIPLE_ACCENT + a(67), UCS2, 68, 71, 2, 67),
    ("accent-ends-at-67", a(65) + "e\u0301" + a(67), UCS2, 133, 134, 2, 67),
    ("accent-straddles-67", a(66) + "e\u0301" + a(66), UCS2, 133, 134, 3, 67),
    ("hindi-conjunct", "नमस्ते", UCS2, 3, 6, 1, 70),  # स्ते is one cluster
    # A cluster longer than a segment cannot stay whole: it spills over by code units.
    ("oversized-cluster", "a" + "e" + "\u0301" * 100, UCS2, 2, 102, 3, 67),
]

# Real text in scripts merchants use; the JS port must cluster them as Python does.
SCRIPT_SAMPLES = [
    "नमस्ते दोस्तों, क्या हाल है? स्वागत है",
    "আমি বাংলায় গান গাই ক্ষ",
    "ਸਤਿ ਸ੍ਰੀ ਅਕਾਲ",
    "வணக்கம் நண்பர்களே",
    "నమస్కారం ನಮಸ್ಕಾರ നമസ്കാരം નમસ્તે ନମସ୍କାର",
    "สวัสดีครับ ทำ ขอบคุณ",
    "안녕하세요 반갑습니다",
    "مرحبا بكم في متجرنا",
    "שלום עולם",
    "Привет! Скидка 20%",
    "👩🏽‍💻 🧑‍🤝‍🧑 👨‍👩‍👧‍👦 🏳️‍⚧️ ❤️‍🔥 🇺🇸🇬🇧 1️⃣ #️⃣ ©️ ™️",
]

NON_GSM_CASES = [
    ("más", ("á",)),
    ("más más", ("á",)),
    ("Zoë", ("ë",)),
    ("Çağla", ("ğ",)),
    ("Chloé", ()),
    ("Καλημέρα", ("Κ", "α", "λ", "η", "μ", "έ", "ρ")),
    ("ΓΔΘΛΞΠΣΦΨΩ", ()),
    ("It’s 😜 “ok” 😜", ("’", "😜", "“", "”")),
    (f"{FAMILY} and {FLAG_GR}", (FAMILY, FLAG_GR)),
    ("`code`", ("`",)),
]

SAFE_CASES = [
    ("“Hi” — it’s… «ça»", '"Hi" - it\'s... "ca"'),
    ("‘a’ ‚b′ „c″ 5–6", "'a' 'b' \"c\" 5-6"),
    ("`x`", "'x'"),
    ("a\u00a0b\u2009c\u3000d", "a b c d"),
    ("zero\u200bwidth\ufeff", "zerowidth"),
    ("áíóú âêîôû ç Ç", "aiou aeiou c Ç"),
    ("Chloe\u0301", "Chloé"),  # decomposed é composes to the GSM character
    ("c\u0327a", "ca"),
    ("ΠΡΟΣΦΟΡΑ", "ΠPOΣΦOPA"),
    ("Ά Ώ", "A Ω"),
    ("ế", "e"),
    ("Zoë Çağla", "Zoe Çagla"),
    ("😀 ά Я 中 ❤️", "😀 ά Я 中 ❤️"),  # nothing GSM looks like these
    ("", ""),
]


def as_js(info: SegmentInfo) -> dict:
    return {
        "encoding": info.encoding,
        "characters": info.characters,
        "units": info.units,
        "segments": info.segments,
        "perSegment": info.per_segment,
        "nonGsm": list(info.non_gsm),
    }


# --- Table cases ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "encoding", "characters", "units", "segments", "per_segment"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_count_segments(text, encoding, characters, units, segments, per_segment):
    info = count_segments(text)
    assert (info.encoding, info.characters, info.units, info.segments, info.per_segment) == (
        encoding,
        characters,
        units,
        segments,
        per_segment,
    )


@pytest.mark.parametrize(("text", "expected"), NON_GSM_CASES)
def test_non_gsm_lists_distinct_culprits_in_order(text, expected):
    info = count_segments(text)
    assert info.non_gsm == expected
    assert info.encoding == (UCS2 if expected else GSM7)


def test_tables_match_the_standard():
    assert len(GSM7_BASIC) == 127  # 128 codes minus ESC
    assert set("^{}\\[~]|€\f") == GSM7_EXTENSION
    greek = {"\u0393", "\u0394", "\u0398", "\u039b", "\u039e", "\u03a0", "\u03a3", "\u03a6"}
    assert greek | {"\u03a8", "\u03a9"} <= GSM7_BASIC
    assert not {"`", "ç", "Á", "\u2019", "α"} & GSM7_BASIC
    assert {"$", "@", "¤", "Ç", "\r", "\n"} <= GSM7_BASIC


def test_segment_info_is_frozen():
    info = count_segments("hi")
    with pytest.raises(AttributeError):
        info.segments = 5


# --- gsm_safe --------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), SAFE_CASES)
def test_gsm_safe(text, expected):
    assert gsm_safe(text) == expected


@pytest.mark.parametrize(("key", "value"), sorted(SMART_MAP.items()))
def test_every_map_entry_is_replaced_only_by_gsm_safe(key, value):
    assert count_segments(key).non_gsm == (key,)  # counting never rewrites
    assert gsm_safe(key) == value
    assert count_segments(value).encoding == GSM7


def test_gsm_safe_replaces_all_entries_at_once():
    assert gsm_safe("".join(SMART_MAP)) == "".join(SMART_MAP.values())


def test_gsm_safe_leaves_gsm_text_alone():
    text = "".join(sorted(GSM7_BASIC | GSM7_EXTENSION))
    assert gsm_safe(text) == text


# --- Properties --------------------------------------------------------------------------------

GSM_FILLER = sorted(GSM7_BASIC)
NON_GSM_BMP = list("αβγδεζηθικλμνξοπρστυφχψωάέήίόύώБжщЯ中文日本語한국어’“”…–")
UCS2_FILLER = sorted(GSM7_BASIC | GSM7_EXTENSION) + NON_GSM_BMP
TWO_UNIT_EMOJI = ["😜", "🎉", "🔥", "👍", "🚀", "😀"]


def _gsm_text(rnd, n: int) -> str:
    return "".join(rnd.choices(GSM_FILLER, k=n))


def _ucs2_text(rnd, n: int) -> str:
    # Every character here is its own 1-unit cluster; the first one forces UCS-2.
    return rnd.choice(NON_GSM_BMP) + "".join(rnd.choices(UCS2_FILLER, k=n - 1))


@given(st.randoms(use_true_random=False))
def test_gsm_single_segment_boundary(rnd):
    text = _gsm_text(rnd, 160)
    assert count_segments(text).segments == 1
    assert count_segments(text + rnd.choice(GSM_FILLER)).segments == 2


@given(st.randoms(use_true_random=False), st.integers(2, 10))
def test_gsm_multipart_boundary(rnd, k):
    text = _gsm_text(rnd, 153 * k)
    assert count_segments(text).segments == k
    assert count_segments(text + rnd.choice(GSM_FILLER)).segments == k + 1


@given(st.randoms(use_true_random=False))
def test_ucs2_single_segment_boundary(rnd):
    text = _ucs2_text(rnd, 70)
    assert (count_segments(text).encoding, count_segments(text).segments) == (UCS2, 1)
    assert count_segments(text + rnd.choice(UCS2_FILLER)).segments == 2


@given(st.randoms(use_true_random=False), st.integers(2, 23))
def test_ucs2_multipart_boundary(rnd, k):
    text = _ucs2_text(rnd, 67 * k)
    assert count_segments(text).segments == k
    assert count_segments(text + rnd.choice(UCS2_FILLER)).segments == k + 1


@given(st.lists(st.sampled_from(TWO_UNIT_EMOJI), min_size=1, max_size=60))
def test_emoji_are_never_split(emoji):
    expected = 1 if len(emoji) <= 35 else math.ceil(len(emoji) / 33)
    assert count_segments("".join(emoji)).segments == expected


@given(st.lists(st.sampled_from(GSM_FILLER + sorted(GSM7_EXTENSION)), max_size=800))
def test_gsm_extension_costs_two_and_wastes_at_most_one_septet(chars):
    info = count_segments("".join(chars))
    assert info.units == len(chars) + sum(ch in GSM7_EXTENSION for ch in chars)
    if info.units > 160:
        assert math.ceil(info.units / 153) <= info.segments <= math.ceil(info.units / 152)


@given(st.text(alphabet=GSM_FILLER + list(SMART_MAP) + TWO_UNIT_EMOJI + NON_GSM_BMP))
def test_gsm_safe_is_idempotent(text):
    once = gsm_safe(text)
    assert gsm_safe(once) == once


# --- Python / JavaScript parity -------------------------------------------------------------

JS_HARNESS = r"""
globalThis.window = globalThis;
const fs = require('fs');
const [scriptPath, mode] = process.argv.slice(2);
if (mode === 'fallback') Intl.Segmenter = undefined;
require('vm').runInThisContext(fs.readFileSync(scriptPath, 'utf8'), { filename: scriptPath });
const input = JSON.parse(fs.readFileSync(0, 'utf8'));
const api = window.AstronoteSegments;
process.stdout.write(JSON.stringify({
  segmenter: typeof Intl.Segmenter,
  counts: input.count.map((text) => api.count(text)),
  safe: input.safe.map((text) => api.gsmSafe(text)),
  smartMap: api.smartMap,
}));
"""


def _node() -> str:
    node = shutil.which("node")
    if node:
        return node
    reason = "node is not installed: cannot check static/js/segments.js"
    if os.environ.get("ASTRONOTE_TEST_BROWSER") == "required":
        pytest.fail(reason)
    pytest.skip(reason)


def _run_js(tmp_path: Path, mode: str, payload: dict) -> dict:
    harness = tmp_path / "harness.js"
    harness.write_text(JS_HARNESS, encoding="utf-8")
    result = subprocess.run(
        [_node(), str(harness), str(SEGMENTS_JS), mode],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("mode", ["segmenter", "fallback"])
def test_js_port_matches_python(tmp_path, mode):
    count_texts = [case[1] for case in CASES] + [text for text, _ in NON_GSM_CASES]
    count_texts += [text for text, _ in SAFE_CASES] + list(SMART_MAP) + SCRIPT_SAMPLES
    safe_texts = [text for text, _ in SAFE_CASES] + list(SMART_MAP) + SCRIPT_SAMPLES
    safe_texts += [case[1] for case in CASES]
    out = _run_js(tmp_path, mode, {"count": count_texts, "safe": safe_texts})

    assert out["segmenter"] == ("function" if mode == "segmenter" else "undefined")
    assert out["smartMap"] == SMART_MAP
    for text, js in zip(count_texts, out["counts"], strict=True):
        assert js == as_js(count_segments(text)), repr(text)
    for text, js in zip(safe_texts, out["safe"], strict=True):
        assert js == gsm_safe(text), repr(text)
