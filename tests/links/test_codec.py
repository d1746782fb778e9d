"""Codes: round trip, refusal of anything altered, length."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from astronote.services.links import codec

ids = st.integers(min_value=1, max_value=codec.MAX_MESSAGE_ID)
set_ids = st.integers(min_value=1, max_value=codec.MAX_SET_ID)
indexes = st.integers(min_value=0, max_value=codec.MAX_LINKS - 1)
FAST = settings(
    max_examples=300,
    deadline=None,
    # `keyed` is module-scoped and read-only in these tests.
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@FAST
@given(set_ids, ids, indexes)
def test_round_trip(keyed, set_id, message_id, index):
    code = codec.encode(set_id, message_id, index)
    assert code.isascii() and code.isalnum()
    assert len(code) == codec.code_length(set_id, message_id)
    assert codec.decode(code) == codec.LinkCode(set_id, message_id, index)


@FAST
@given(set_ids, ids, indexes, st.data())
def test_any_changed_character_is_refused(keyed, set_id, message_id, index, data):
    code = codec.encode(set_id, message_id, index)
    at = data.draw(st.integers(min_value=0, max_value=len(code) - 1))
    other = data.draw(st.sampled_from(codec.ALPHABET).filter(lambda ch: ch != code[at]))
    tampered = code[:at] + other + code[at + 1 :]
    assert codec.decode(tampered) is None


@FAST
@given(set_ids, ids, indexes, set_ids, ids, indexes)
def test_a_code_cannot_be_repointed(keyed, s1, m1, i1, s2, m2, i2):
    """Re-packing another set, message or index with a valid tag never verifies."""
    link = codec.LinkCode(s1, m1, i1)
    tag = codec._tag(codec._keys()[0], link)
    moved = codec.LinkCode(s2, m2, i2)
    if moved != link:
        assert codec.decode(codec.base62(codec._pack(moved, tag))) is None


@FAST
@given(st.text(max_size=40))
def test_arbitrary_input_never_raises(keyed, text):
    assert codec.decode(text) is None


def test_truncated_extended_and_padded_codes_are_refused(keyed):
    code = codec.encode(7, 123456, 2)
    for bad in (code[:-1], code + "a", "0" + code, code.lower(), "", "a" * 40, "é" * 3):
        assert codec.decode(bad) is None


def test_another_key_refuses_and_rotation_still_verifies(keyed):
    try:
        _rotate(keyed)
    finally:
        keyed.config["LINK_SIGNING_KEYS"] = []


def _rotate(keyed):
    code = codec.encode(3, 99, 0)
    keyed.config["LINK_SIGNING_KEYS"] = ["a-new-key"]
    assert codec.decode(code) is None
    keyed.config["LINK_SIGNING_KEYS"] = ["a-newer-key", "a-new-key"]
    assert codec.decode(codec.encode(3, 99, 0)) == codec.LinkCode(3, 99, 0)
    old = codec.encode(3, 99, 0)
    keyed.config["LINK_SIGNING_KEYS"] = ["newest", "a-newer-key"]
    assert codec.decode(old) == codec.LinkCode(3, 99, 0)


def test_codes_are_short_for_realistic_ids(keyed):
    assert len(codec.encode(1, 1, 0)) <= 9
    assert len(codec.encode(5_000, 5_000_000, 15)) <= 15
    assert len(codec.encode(100_000, 100_000_000, 15)) <= 16


def test_out_of_range_ids_are_refused_when_encoding(keyed):
    for args in ((0, 1, 0), (1, 0, 0), (1, 1, codec.MAX_LINKS), (codec.MAX_SET_ID + 1, 1, 0)):
        try:
            codec.encode(*args)
        except ValueError:
            continue
        raise AssertionError(f"{args} encoded")
