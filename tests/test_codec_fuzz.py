"""Fuzzing the decoders: random and mutated bytes never raise anything but CodecError.

The default run is bounded; set POSAGENT_FUZZ_EXAMPLES (e.g. 200000) for a long campaign in CI.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from agent.iso8583 import CodecError, Message, get_dialect
from agent.iso8583 import tlv
from tests.test_codec_strategies import messages

EXAMPLES = int(os.environ.get("POSAGENT_FUZZ_EXAMPLES", "300"))
FUZZ = settings(max_examples=EXAMPLES, suppress_health_check=[HealthCheck.too_slow], deadline=None)
DIALECTS = ["cup", "iso87"]


def _decode_strictly(dialect, data: bytes):
    """Decode; on success the result must re-encode to the same bytes (nothing silently repaired)."""
    try:
        msg = dialect.decode(data)
    except CodecError as exc:
        assert exc.offset is None or 0 <= exc.offset <= len(data)
        return
    assert isinstance(msg, Message)
    assert dialect.encode(msg) == data


@pytest.mark.parametrize("name", DIALECTS)
@FUZZ
@given(data=st.binary(max_size=300))
def test_random_bytes(name, data):
    _decode_strictly(get_dialect(name), data)


@pytest.mark.parametrize("name", DIALECTS)
@FUZZ
@given(data=st.data())
def test_mutated_valid_messages(name, data):
    dialect = get_dialect(name)
    wire = bytearray(dialect.encode(data.draw(messages(name))))
    for _ in range(data.draw(st.integers(1, 4))):
        action = data.draw(st.sampled_from(["flip", "set", "insert", "delete"]))
        pos = data.draw(st.integers(0, max(len(wire) - 1, 0)))
        if action == "flip" and wire:
            wire[pos] ^= 1 << data.draw(st.integers(0, 7))
        elif action == "set" and wire:
            wire[pos] = data.draw(st.integers(0, 255))
        elif action == "insert":
            wire.insert(pos, data.draw(st.integers(0, 255)))
        elif wire:
            del wire[pos]
    _decode_strictly(dialect, bytes(wire))


@pytest.mark.parametrize("name", DIALECTS)
@FUZZ
@given(data=st.binary(max_size=300))
def test_random_frames(name, data):
    try:
        get_dialect(name).unpack_frame(data)
    except CodecError:
        pass


@FUZZ
@given(data=st.binary(max_size=200))
def test_random_tlv(data):
    try:
        items = tlv.decode(data)
    except CodecError:
        return
    assert tlv.encode(items) == data or len(tlv.encode(items)) <= len(data)


@FUZZ
@given(data=st.recursive(st.binary(max_size=8), lambda inner: st.lists(inner, max_size=3).map(b"".join),
                         max_leaves=10))
def test_field_55_subfield_view_never_crashes(data):
    from agent.iso8583.subfields import IccData
    try:
        IccData.parse(data)
    except CodecError:
        pass
