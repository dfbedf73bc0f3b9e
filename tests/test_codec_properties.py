"""Rules that hold for all messages of both dialects (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from agent.iso8583 import CodecError, Frame, get_dialect
from tests.test_codec_strategies import messages

DIALECTS = ["cup", "iso87"]


@pytest.mark.parametrize("name", DIALECTS)
@settings(max_examples=150)
@given(data=st.data())
def test_decode_of_encode_is_identity(name, data):
    dialect = get_dialect(name)
    msg = data.draw(messages(name))
    wire = dialect.encode(msg)
    assert dialect.decode(wire) == msg


@pytest.mark.parametrize("name", DIALECTS)
@settings(max_examples=150)
@given(data=st.data())
def test_encode_of_decode_is_identity_for_valid_bytes(name, data):
    """Every byte string the decoder accepts encodes back to exactly itself (no silent normalising)."""
    dialect = get_dialect(name)
    wire = dialect.encode(data.draw(messages(name)))
    assert dialect.encode(dialect.decode(wire)) == wire


@pytest.mark.parametrize("name", DIALECTS)
@settings(max_examples=100)
@given(data=st.data())
def test_framed_round_trip(name, data):
    dialect = get_dialect(name)
    msg = data.draw(messages(name, max_fields=6))
    spec = dialect.frame
    tpdu = (bytes([spec.tpdu_id]) + data.draw(st.binary(min_size=spec.tpdu_len - 1, max_size=spec.tpdu_len - 1))
            if spec.tpdu_len else b"")
    header = data.draw(st.binary(min_size=spec.header_len, max_size=spec.header_len))
    framed = dialect.pack_frame(msg, tpdu, header)
    assert dialect.frame_length(framed[:2]) == len(framed) - 2
    assert dialect.unpack_frame(framed[2:]) == Frame(tpdu, header, msg)


@pytest.mark.parametrize("name", DIALECTS)
@settings(max_examples=100)
@given(data=st.data())
def test_any_truncation_of_a_valid_message_is_a_codec_error(name, data):
    dialect = get_dialect(name)
    wire = dialect.encode(data.draw(messages(name)))
    cut = data.draw(st.integers(0, len(wire) - 1))
    with pytest.raises(CodecError) as info:
        dialect.decode(wire[:cut])
    assert info.value.offset is not None and info.value.offset <= cut


@pytest.mark.parametrize("name", DIALECTS)
@settings(max_examples=60)
@given(data=st.data())
def test_mac_detects_any_changed_field(name, data):
    dialect = get_dialect(name)
    key = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    msg = data.draw(messages(name, max_fields=6)).replace({11: "000001"})
    signed = dialect.with_mac(key, msg)
    assert dialect.verify_mac(key, signed)
    assert not dialect.verify_mac(key, signed.replace({11: "000002"}))
