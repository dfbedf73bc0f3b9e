"""The host's answers encoded once: for any message the one-pass encoding with its MAC equals what the
dialect's `with_mac` + `pack_frame` give; a fault that rewrites a field falls back to a fresh encoding;
an answer too long for a frame is refused with the dialect's error; the CUP MAC's word-wise XOR fold
equals the block-by-block definition."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings, strategies as st

from agent.iso8583 import CodecError, Message, get_dialect
from agent.iso8583.crypto import mac_cup_ecb, tdes_ecb_encrypt
from simulator.host.wire import encoded_answer, frame
from tests.simhost import HEADER, TPDU
from tests.test_codec_strategies import messages

KEY = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")


@settings(max_examples=150, deadline=None)
@given(st.data(), st.sampled_from(["cup", "iso87"]), st.booleans())
def test_an_answer_encoded_once_is_the_same_bytes_and_value_as_mac_then_pack(data, name, with_key):
    dialect = get_dialect(name)
    msg = data.draw(messages(name))
    try:
        expected = dialect.with_mac(KEY, msg) if with_key else msg
        expected_frame = dialect.pack_frame(expected, TPDU, HEADER) if dialect.frame.tpdu_len else None
    except CodecError as exc:  # what the dialect refuses, the one-pass encoding refuses the same way
        with pytest.raises(CodecError) as raised:
            encoded_answer(dialect, KEY if with_key else None, msg)
        assert raised.value.field == exc.field
        return
    answer = encoded_answer(dialect, KEY if with_key else None, msg)
    assert answer == expected and hash(answer) == hash(expected)
    wire = answer.wire(dialect)
    assert wire is not None and wire == dialect.encode(Message(expected.mti, dict(expected.fields)))
    if expected_frame is not None:
        assert frame(dialect, answer, TPDU, HEADER) == expected_frame
    assert dialect.decode(wire) == expected
    if with_key:
        assert dialect.verify_mac(KEY, dialect.decode(wire))


def test_a_rewritten_answer_is_encoded_afresh_not_from_its_old_bytes():
    cup = get_dialect("cup")
    answer = encoded_answer(cup, KEY, Message("0210", {11: "000001", 39: "00", 41: "10000001"}))
    changed = answer.replace({11: "000002"})  # what the wrong_stan fault does
    assert changed.wire(cup) is None
    sent = frame(cup, changed, TPDU, HEADER)
    assert cup.unpack_frame(sent[2:]).message[11] == "000002"


def test_an_answer_longer_than_a_frame_and_a_wrong_tpdu_are_refused_with_the_dialects_errors():
    cup = get_dialect("cup")
    answer = encoded_answer(cup, None, Message("0810", {11: "000001", 62: os.urandom(500)}))
    with pytest.raises(CodecError, match="TPDU"):
        frame(cup, answer, TPDU[:4], HEADER)
    small = type(cup.frame)(max_frame=100)
    tight = type(cup)(**{**{f: getattr(cup, f) for f in ("name", "description", "mti", "bitmap", "fields",
                                                          "mac_algorithm", "mac_classes", "key_layouts",
                                                          "structured")}, "frame": small})
    with pytest.raises(CodecError, match="exceeds the maximum 100"):
        frame(tight, encoded_answer(tight, None, Message("0810", {11: "000001", 62: os.urandom(200)})), TPDU, HEADER)


def _cup_mac_by_blocks(key: bytes, data: bytes) -> bytes:
    """The CUP ECB MAC as its definition reads: XOR 8-byte blocks one by one."""
    padded = data + bytes(-len(data) % 8) if data else bytes(8)
    folded = 0
    for i in range(0, len(padded), 8):
        folded ^= int.from_bytes(padded[i:i + 8], "big")
    expanded = folded.to_bytes(8, "big").hex().upper().encode("ascii")
    first = tdes_ecb_encrypt(key, expanded[:8])
    second = tdes_ecb_encrypt(key, bytes(a ^ b for a, b in zip(first, expanded[8:])))
    return second.hex().upper().encode("ascii")[:8]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.sampled_from([8, 16, 24]))
def test_the_cup_mac_word_fold_equals_the_block_by_block_definition(data, key_len):
    key = bytes(range(1, key_len + 1))
    assert mac_cup_ecb(key, data) == _cup_mac_by_blocks(key, data)
