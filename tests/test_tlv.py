"""BER-TLV as EMV uses it in field 55: multi-byte tags, long-form lengths, templates, strict errors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from agent.iso8583 import CodecError
from agent.iso8583 import tlv
from agent.iso8583.subfields import IccData
from agent.iso8583.tlv import Tlv


def test_multi_byte_tags_and_long_form_lengths():
    items = [Tlv(0x9F26, bytes(8)), Tlv(0x5F2A, b"\x01\x56"), Tlv(0x91, bytes(200)), Tlv(0xDF8101, b"\x01")]
    wire = tlv.encode(items)
    assert wire.startswith(bytes.fromhex("9F2608")) and bytes.fromhex("9181C8") in wire
    assert bytes.fromhex("DF810101") in wire
    assert tlv.decode(wire) == items


def test_constructed_template_opens_and_find_searches_inside():
    inner = tlv.encode([Tlv(0x86, b"\x84\x24\x00\x00\x08")])
    wire = tlv.encode([Tlv(0x9F27, b"\x80"), Tlv(0x72, inner)])
    items = tlv.decode(wire)
    assert items[1].constructed and not items[0].constructed
    assert tlv.find(items, 0x86) == b"\x84\x24\x00\x00\x08" and tlv.find(items, 0x9F26) is None


@pytest.mark.parametrize("wire, offset, words", [
    ("9F", 0, "tag truncated"), ("9F26", 2, "found end of data"), ("9F2609" + "00" * 8, 3, "exceeds"),
    ("5F2A80", 2, "indefinite"), ("5F2A84", 2, "exceeds 3"), ("5A8201", 1, "truncated"), ("00", 0, "invalid"),
])
def test_strict_errors_name_tag_and_offset(wire, offset, words):
    with pytest.raises(CodecError) as info:
        tlv.decode(bytes.fromhex(wire), base_offset=100)
    assert info.value.offset == 100 + offset and words in str(info.value)
    assert str(info.value.field).startswith("55")


tags = st.one_of(
    st.integers(0x41, 0x5E).filter(lambda t: t & 0x1F != 0x1F),
    st.integers(0x1F, 0x7F).map(lambda low: 0x9F00 | low),
    st.integers(0x80, 0x7F7F).map(lambda b: 0xDF0000 | (0x80 | b >> 8) << 8 | (b & 0x7F)),
)


@settings(max_examples=200)
@given(st.lists(st.builds(Tlv, tags, st.binary(max_size=300)), max_size=6))
def test_decode_of_encode_is_identity(items):
    assert tlv.decode(tlv.encode(items)) == items


def test_typed_view_of_common_tags():
    data = tlv.encode([Tlv(0x9F26, bytes.fromhex("1122334455667788")), Tlv(0x9F02, bytes.fromhex("000000012345")),
                       Tlv(0x5F2A, bytes.fromhex("0156")), Tlv(0x9A, bytes.fromhex("251123")), Tlv(0x95, bytes(5))])
    view = IccData.parse(data)
    assert view.cryptogram == bytes.fromhex("1122334455667788") and view.amount == 12345
    assert view.currency == "156" and view.date == "251123" and view.tvr == bytes(5) and view.atc is None
    with pytest.raises(CodecError):
        IccData.parse(tlv.encode([Tlv(0x9F02, bytes.fromhex("00000001234A"))]))
