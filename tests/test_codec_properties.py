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


@pytest.mark.parametrize("name", DIALECTS)
@settings(max_examples=80)
@given(data=st.data())
def test_kept_bytes_are_exactly_what_a_fresh_encoding_gives(name, data):
    """A signed message keeps its encoding (MAC input + MAC) and a decoded one the bytes it came from, so
    neither is encoded twice: both must be byte for byte what encoding the same values again gives, in
    the dialect that made them and no other, and a changed copy keeps nothing."""
    dialect = get_dialect(name)
    other = get_dialect(next(d for d in DIALECTS if d != name))
    key = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    msg = data.draw(messages(name, max_fields=6)).replace({11: "000001"})
    signed = dialect.with_mac(key, msg)
    fresh = dialect.encode(type(signed)(signed.mti, dict(signed.fields)))
    assert signed.wire(dialect) == fresh and dialect.encode(signed) == fresh and signed.wire(other) is None
    decoded = dialect.decode(fresh)
    assert decoded.wire(dialect) == fresh and decoded == signed and dialect.verify_mac(key, decoded)
    changed = decoded.replace({11: "000002"})
    assert changed.wire(dialect) is None and not dialect.verify_mac(key, changed)
    assert dialect.decode(dialect.encode(changed)) == changed
