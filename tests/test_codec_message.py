"""Messages and dialects: the Message value, whole-message strictness, framing, MACs, dumps and JSON."""

from __future__ import annotations

import pytest

from agent.iso8583 import CodecError, Frame, Message, get_dialect
from agent.iso8583 import tlv
from agent.iso8583.crypto import mac_cup_ecb
from agent.iso8583.dump import masked_dump, message_from_json, message_to_json
from agent.iso8583.tlv import Tlv

CUP = get_dialect("cup")
ISO87 = get_dialect("iso87")
PAN = "6226090000000048"
TRACK2 = PAN + "=30122200000000000"
ICC = tlv.encode([Tlv(0x9F26, bytes.fromhex("1122334455667788")), Tlv(0x57, bytes.fromhex(PAN + "D30122")),
                  Tlv(0x5A, bytes.fromhex(PAN)), Tlv(0x9F02, bytes.fromhex("000000010000"))])
SALE = Message("0200", {2: PAN, 3: "000000", 4: "000000010000", 11: "000123", 22: "051", 25: "00", 35: TRACK2,
                        41: "10000001", 42: "123456789012345", 49: "156", 52: bytes.fromhex("0412AC89ABCDEF67"),
                        55: ICC, 60: "22000001000", 64: bytes(8)})
MAC_KEY = bytes.fromhex("C24A8FB57AA20123")


# --- the Message value -------------------------------------------------------------------------------------

def test_message_reads_like_a_mapping():
    assert SALE.mti == "0200" and SALE[4] == "000000010000" and SALE.get(38) is None and 4 in SALE
    assert SALE.amount == 10000 and Message("0800").amount is None
    assert list(SALE.fields) == [2, 3, 4, 11, 22, 25, 35, 41, 42, 49, 52, 55, 60, 64]
    # a text field as text; a binary one (55, 64) or an absent one is not text
    assert SALE.text(11) == SALE[11] and SALE.text(55) is None and SALE.text(64) is None and SALE.text(38) is None


def test_message_is_immutable_hashable_and_compared_by_value():
    copy = Message("0200", dict(SALE.fields))
    assert copy == SALE and hash(copy) == hash(SALE) and len({copy, SALE}) == 1
    with pytest.raises(AttributeError):
        SALE.mti = "0400"
    with pytest.raises(TypeError):
        SALE.fields[4] = "1"
    assert SALE != SALE.replace({4: "000000000001"})


def test_replace_and_without_return_new_messages():
    answered = SALE.replace({39: "00", 38: "123456"}, mti="0210")
    assert answered.mti == "0210" and answered[39] == "00" and 39 not in SALE
    stripped = SALE.without(35, 52, 64)
    assert 35 not in stripped and 52 not in stripped and 35 in SALE


@pytest.mark.parametrize("mti, response, repeat", [("0200", "0210", "0201"), ("0400", "0410", "0401"),
                                                    ("0220", "0230", "0221"), ("0800", "0810", "0801")])
def test_response_and_repeat_mti(mti, response, repeat):
    assert Message(mti).response_mti == response and Message(mti).repeat_mti == repeat


def test_response_of_a_response_is_an_error():
    with pytest.raises(CodecError):
        Message("0210").response_mti


@pytest.mark.parametrize("mti, fields", [("200", {}), ("02A0", {}), ("0200", {1: "x"}), ("0200", {129: "x"}),
                                         ("0200", {4: 10000}), ("0200", {"4": "1"})])
def test_bad_message_shapes(mti, fields):
    with pytest.raises(CodecError):
        Message(mti, fields)


def test_repr_never_shows_values():
    assert PAN not in repr(SALE) and "Message('0200'" in repr(SALE)


# --- whole-message codec -------------------------------------------------------------------------------------

def test_cup_sale_wire_layout():
    wire = CUP.encode(SALE)
    assert wire[:2] == bytes.fromhex("0200")
    assert wire[2:10] == bytes.fromhex("7020048020C09211") and not wire[2] & 0x80
    assert wire[10:19] == bytes.fromhex("16" + PAN)
    assert CUP.decode(wire) == SALE


def test_both_dialects_decode_their_own_encoding():
    for dialect in (CUP, ISO87):
        assert dialect.decode(dialect.encode(SALE)) == SALE
        assert dialect.decode(bytearray(dialect.encode(SALE))) == SALE


def test_secondary_bitmap_in_iso87_and_refused_by_cup():
    msg = Message("0800", {7: "1123101010", 11: "000001", 70: "301"})
    wire = ISO87.encode(msg)
    assert wire[4] & 0x80 and len(wire) == 4 + 16 + 10 + 6 + 3
    assert ISO87.decode(wire) == msg
    with pytest.raises(CodecError, match="not defined in dialect cup"):
        CUP.encode(msg)
    forged = CUP.encode(Message("0800", {11: "000001"}))
    forged = forged[:2] + bytes([forged[2] | 0x80]) + forged[3:]
    assert _decode_error(CUP, forged).field == 1


def _decode_error(dialect, data) -> CodecError:
    with pytest.raises(CodecError) as info:
        dialect.decode(data)
    return info.value


def test_trailing_bytes_and_truncation_are_errors():
    wire = CUP.encode(SALE)
    err = _decode_error(CUP, wire + b"\x00")
    assert err.offset == len(wire) and "trailing" in str(err)
    err = _decode_error(CUP, wire[:-3])
    assert err.field == 64 and err.offset == len(wire) - 8
    assert _decode_error(CUP, wire[:5]).field == 1
    assert _decode_error(CUP, b"\x02").field == 0


def test_bitmap_naming_a_field_the_dialect_lacks():
    wire = bytearray(CUP.encode(Message("0800", {11: "000001"})))
    wire[2] |= 0x08  # field 5 is not in the cup dialect
    err = _decode_error(CUP, bytes(wire))
    assert (err.field, err.offset) == (5, 10) and "does not define" in str(err)


def test_mti_must_be_digits():
    assert _decode_error(ISO87, b"02X0" + bytes(8)).field == 0
    assert _decode_error(CUP, bytes.fromhex("02F0") + bytes(8)).field == 0


# --- framing -------------------------------------------------------------------------------------------------

TPDU = bytes.fromhex("6000030000")
HEADER = bytes.fromhex("613100000000")


def test_frame_round_trip_and_length_prefix():
    framed = CUP.pack_frame(SALE, TPDU, HEADER)
    assert int.from_bytes(framed[:2], "big") == len(framed) - 2
    assert CUP.frame_length(framed[:2]) == len(framed) - 2
    assert CUP.unpack_frame(framed[2:]) == Frame(TPDU, HEADER, SALE)


def test_frame_errors_carry_offsets_within_the_body():
    framed = CUP.pack_frame(SALE, TPDU, HEADER)
    with pytest.raises(CodecError) as info:
        CUP.unpack_frame(framed[2:] + b"!")
    assert info.value.offset == len(framed) - 2
    with pytest.raises(CodecError, match="TPDU must start with 60"):
        CUP.unpack_frame(b"\x61" + framed[3:])
    with pytest.raises(CodecError):
        CUP.pack_frame(SALE, TPDU[:4], HEADER)
    with pytest.raises(CodecError):
        CUP.frame_length(b"\xff\xff")


# --- MAC -----------------------------------------------------------------------------------------------------

def test_cup_mac_covers_mti_through_field_63_with_bit_64_set():
    msg = SALE.without(64)
    data = CUP.mac_input(msg)
    assert data == CUP.encode(SALE)[:-8]
    assert CUP.compute_mac(MAC_KEY, msg) == mac_cup_ecb(MAC_KEY, data)
    signed = CUP.with_mac(MAC_KEY, msg)
    assert signed[64] == CUP.compute_mac(MAC_KEY, msg) and CUP.verify_mac(MAC_KEY, signed)
    assert not CUP.verify_mac(MAC_KEY, signed.replace({4: "000000010001"}))
    assert not CUP.verify_mac(MAC_KEY, msg)
    assert not CUP.verify_mac(bytes(8), signed)


def test_iso87_uses_x919_and_field_128_with_a_secondary_bitmap():
    key = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    msg = Message("0200", {3: "000000", 4: "000000010000", 70: "001"})
    signed = ISO87.with_mac(key, msg)
    assert 128 in signed and 64 not in signed and ISO87.verify_mac(key, signed)


@pytest.mark.parametrize("mti, required", [("0200", True), ("0210", True), ("0400", True), ("0220", True),
                                           ("0100", True), ("0800", False), ("0820", False), ("0500", False),
                                           ("0320", False)])
def test_mac_required_follows_the_message_class(mti, required):
    assert CUP.mac_required(Message(mti)) is required


# --- dumps and JSON ------------------------------------------------------------------------------------------

def test_masked_dump_hides_card_data():
    dump = masked_dump(SALE)
    assert "622609******0048" in dump and "Primary account number" in dump
    for secret in (PAN, "30122200000000000", "0412AC89ABCDEF67", PAN + "D30122"):
        assert secret not in dump
    assert "Track 2 equivalent data" in dump and "Application cryptogram" in dump
    assert "1122334455667788" in dump  # the cryptogram is not secret


def test_masked_json_hides_card_data_and_unmasked_json_round_trips():
    import json
    masked = json.dumps(message_to_json(SALE))
    for secret in (PAN, "30122200000000000", "0412AC89ABCDEF67"):
        assert secret not in masked
    for dialect in (CUP, ISO87):
        plain = message_to_json(SALE, masked=False, dialect=dialect)
        assert plain["fields"]["2"] == PAN and plain["fields"]["52"] == "0412AC89ABCDEF67"
        assert message_from_json(plain, dialect=dialect) == SALE
    assert message_to_json(SALE)["subfields"]["60"]["batch"] == "000001"


def test_from_json_rejects_bad_input():
    for bad in ({"fields": {}}, {"mti": "0200", "fields": {"x": "1"}}, {"mti": "0200", "fields": {"52": "zz"}},
                {"mti": "0200", "fields": {"5": "1"}}, {"mti": "0200", "fields": {"4": 1}}):
        with pytest.raises(CodecError):
            message_from_json(bad)


def test_get_dialect_names_the_known_ones():
    with pytest.raises(CodecError, match="cup, iso87"):
        get_dialect("visa")
    assert get_dialect("cup") is CUP


def test_message_construct_composes_with_construct_framing():
    from construct import Bytes, Int16ub, Struct
    frame = Struct("tpdu" / Bytes(5), "message" / CUP.construct)
    parsed = frame.parse(TPDU + CUP.encode(SALE))
    assert parsed.message == SALE and frame.build({"tpdu": TPDU, "message": SALE}) == TPDU + CUP.encode(SALE)
    with pytest.raises(CodecError) as info:
        frame.parse(TPDU + CUP.encode(SALE) + b"\x00")
    assert info.value.offset == 5 + len(CUP.encode(SALE))
    assert Int16ub  # the length prefix is a plain Int16ub in construct terms
