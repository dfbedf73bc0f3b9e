"""Field types: exact wire bytes, round trips for every type, strict errors with field and offset,
and the same behaviour through construct's interpreter, construct's compiler and the tuned path."""

from __future__ import annotations

import pytest
from construct import Struct
from hypothesis import given, settings, strategies as st

from agent.iso8583 import CodecError, get_dialect
from agent.iso8583.fields import AsciiDigits, Bcd, Binary, LengthPrefix, Text, TrackBcd
from tests.test_codec_strategies import values_for

LL_BCD, LLL_BCD = LengthPrefix(2, "bcd"), LengthPrefix(3, "bcd")
LL_ASCII, LLL_ASCII = LengthPrefix(2, "ascii"), LengthPrefix(3, "ascii")
LL_BIN, LLL_BIN = LengthPrefix(2, "binary"), LengthPrefix(3, "binary")

TYPES = [
    Bcd(6), Bcd(3), Bcd(3, pad="right"), Bcd(19, prefix=LL_BCD, pad="right"), Bcd(19, prefix=LL_BCD),
    Bcd(322, prefix=LLL_BCD, pad="right"), Bcd(5, pad="left", pad_nibble="F"), Bcd(11, prefix=LL_ASCII),
    TrackBcd(37, prefix=LL_BCD, pad="right"), TrackBcd(104, prefix=LLL_BCD, pad="right", pad_nibble="F"),
    AsciiDigits(6), AsciiDigits(19, prefix=LL_ASCII), AsciiDigits(37, prefix=LL_ASCII, track=True),
    AsciiDigits(12, prefix=LL_BIN),
    Text(8), Text(2, kind="an"), Text(25, prefix=LL_BCD), Text(999, prefix=LLL_ASCII),
    Text(163, prefix=LLL_BCD, encoding="gb18030"), Text(40, prefix=LLL_BIN),
    Binary(8), Binary(255, prefix=LLL_BCD), Binary(255, prefix=LLL_ASCII), Binary(300, prefix=LLL_BIN),
]
IDS = [f"{type(t).__name__}-{t.describe()}-{getattr(t, 'pad_left', '')}" for t in TYPES]


# --- exact bytes (from the domain notes and real captures) ----------------------------------------------

def test_entry_mode_is_left_aligned_with_a_trailing_zero():
    """A real CUP sale capture carries field 22 `071` as `07 10`."""
    assert get_dialect("cup").fields[22].type.encode_value("071") == bytes.fromhex("0710")


def test_odd_fixed_numeric_is_right_aligned_with_a_leading_zero():
    assert Bcd(3).encode_value("156") == bytes.fromhex("0156")


def test_pan_llvar_counts_digits_and_pads_on_the_right():
    assert get_dialect("cup").fields[2].type.encode_value("6226090000000048") == bytes.fromhex("166226090000000048")
    assert Bcd(19, prefix=LL_BCD, pad="right").encode_value("622609000000004") == bytes.fromhex("15622609000000004" + "0")


def test_track2_separator_is_nibble_d():
    wire = get_dialect("cup").fields[35].type.encode_value("6226090000000048=3012220")
    assert wire == bytes.fromhex("24" + "6226090000000048D3012220")


def test_lllvar_bcd_prefix_is_two_bytes():
    assert get_dialect("cup").fields[60].type.encode_value("22000001000") == bytes.fromhex("0011220000010000")


def test_binary_lllvar_bcd_counts_bytes():
    assert Binary(255, prefix=LLL_BCD).encode_value(b"\x01\x02\x03") == bytes.fromhex("0003010203")


def test_ascii_prefixes_and_binary_prefixes():
    assert AsciiDigits(19, prefix=LL_ASCII).encode_value("4111") == b"044111"
    assert Text(999, prefix=LLL_ASCII).encode_value("abc") == b"003abc"
    assert Binary(300, prefix=LLL_BIN).encode_value(b"xy") == b"\x00\x02xy"


def test_fixed_text_is_space_padded_and_decoded_unchanged():
    assert Text(8).encode_value("T1") == b"T1      "
    assert Text(8).decode_at(b"T1      ", 0) == ("T1      ", 8)


def test_gb18030_text_counts_bytes():
    wire = Text(163, prefix=LLL_BCD, encoding="gb18030").encode_value("CUP交易成功")
    assert wire[:2] == bytes.fromhex("0011") and wire[2:].decode("gb18030") == "CUP交易成功"


# --- round trips and agreement of the three paths --------------------------------------------------------

@pytest.mark.parametrize("ftype", TYPES, ids=IDS)
@settings(max_examples=40)
@given(data=st.data())
def test_round_trip_through_every_path(ftype, data):
    ftype = ftype.for_field(7)
    value = data.draw(values_for(ftype))
    wire = ftype.encode_value(value)
    assert ftype.fast_encoder()(value, 7) == wire
    assert ftype.decode_at(wire, 0) == (value, len(wire))
    assert ftype.fast_decoder()(b"xx" + wire + b"tail", 2, 7) == (value, len(wire) + 2)
    assert ftype.parse(wire + b"more") == value
    assert ftype.build(value) == wire
    framed = Struct("head" / Binary(1), "f" / ftype, "tail" / Binary(1))
    compiled = framed.compile()
    for fmt in (framed, compiled):
        parsed = fmt.parse(b"H" + wire + b"T")
        assert parsed.f == value and parsed.tail == b"T"
        assert fmt.build({"head": b"H", "f": value, "tail": b"T"}) == b"H" + wire + b"T"


@pytest.mark.parametrize("ftype", TYPES, ids=IDS)
@settings(max_examples=60)
@given(junk=st.binary(max_size=40))
def test_tuned_and_plain_decoders_agree_on_any_bytes(ftype, junk):
    """The tuned path either returns what decode_at returns or raises the same error."""
    ftype = ftype.for_field(9)
    outcomes = []
    for decode in (ftype.decode_at, ftype.fast_decoder()):
        try:
            outcomes.append(decode(junk, 0, 9))
        except CodecError as exc:
            outcomes.append(str(exc))
    assert outcomes[0] == outcomes[1]


# --- strictness ------------------------------------------------------------------------------------------

def _error(call, *args) -> CodecError:
    with pytest.raises(CodecError) as info:
        call(*args)
    return info.value


def test_llvar_longer_than_maximum_names_field_length_and_offset():
    track2 = get_dialect("cup").fields[35].type
    err = _error(track2.fast_decoder(), bytes(23) + bytes.fromhex("41") + bytes(21), 23, 35)
    assert (err.field, err.offset) == (35, 23)
    assert str(err) == "field 35: length 41 digits exceeds maximum 37 at offset 23"


@pytest.mark.parametrize("wire, offset, words", [
    (bytes.fromhex("12345A"), 2, "nibble A"),         # non-digit nibble in the third byte
    (bytes.fromhex("1234"), 0, "needs 3 bytes"),      # truncated
])
def test_bcd_fixed_errors(wire, offset, words):
    err = _error(Bcd(6, field=3).decode_at, wire, 0)
    assert err.field == 3 and err.offset == offset and words in str(err)


def test_bad_pad_nibbles_are_rejected():
    assert _error(Bcd(3, field=49).decode_at, bytes.fromhex("1156"), 0).offset == 0
    assert "pad nibble 1" in str(_error(Bcd(3, field=22, pad="right").decode_at, bytes.fromhex("0711"), 0))


def test_prefix_errors():
    assert "not BCD digits" in str(_error(Bcd(19, prefix=LL_BCD, field=2).decode_at, bytes.fromhex("1A00"), 0))
    assert "exceeds maximum 37" in str(_error(AsciiDigits(37, prefix=LL_ASCII, field=35).decode_at, b"38" + b"1" * 38, 0))
    # int() would accept " 5" and "0_5"; the codec does not
    assert "ASCII digits" in str(_error(AsciiDigits(19, prefix=LL_ASCII, field=2).decode_at, b" 512345", 0))
    assert "ASCII digits" in str(_error(Text(999, prefix=LLL_ASCII, field=48).decode_at, b"0_5abcde", 0))
    err = _error(Binary(255, prefix=LLL_BCD, field=55).decode_at, bytes.fromhex("0999") + bytes(3), 0)
    assert "exceeds maximum 255" in str(err)


def test_truncated_variable_body_reports_where_the_body_starts():
    err = _error(Binary(255, prefix=LLL_BCD, field=55).decode_at, b"\x00\x00" + bytes.fromhex("0010") + bytes(4), 2)
    assert (err.field, err.offset) == (55, 4) and "needs 10 bytes, only 4 remain" in str(err)


def test_text_character_classes():
    assert "byte 2D" in str(_error(Text(2, kind="an", field=39).decode_at, b"0-", 0))
    assert _error(Text(8, field=41).decode_at, b"TERM\x00001", 0).offset == 4
    assert "GB18030" in str(_error(Text(163, prefix=LLL_BCD, encoding="gb18030", field=63).decode_at,
                                   bytes.fromhex("0002") + b"\x81\x20", 0))


@pytest.mark.parametrize("ftype, value, words", [
    (Bcd(6, field=3), "00000A", "not all digits"),
    (Bcd(6, field=3), "0000000", "exactly 6 digits"),
    (Bcd(6, field=3), "٠٠٠٠٠٠", "not all digits"),         # Arabic-Indic digits are not ASCII digits
    (Bcd(6, field=3), 123456, "expected digits as str"),
    (Bcd(19, prefix=LL_BCD, field=2), "1" * 20, "length 20 digits exceeds maximum 19"),
    (TrackBcd(37, prefix=LL_BCD, field=35), "1234D5678", "digits and '='"),
    (AsciiDigits(4, field=14), "12 4", "not all digits"),
    (Text(8, field=41), "TERMINAL9", "9 bytes exceed the field's 8"),
    (Text(2, kind="an", field=39), "A-", "letter, digit or space"),
    (Text(8, field=41), "终端", "ASCII"),
    (Binary(8, field=52), b"1234567", "exactly 8 bytes"),
    (Binary(8, field=52), "12345678", "expected bytes"),
    (Binary(255, prefix=LLL_BCD, field=55), bytes(256), "exceeds maximum 255"),
])
def test_encode_rejects_bad_values(ftype, value, words):
    for encode in (ftype.encode_value, ftype.fast_encoder()):
        err = _error(encode, value)
        assert words in str(err) and err.field == ftype.field and err.offset is None


def test_compiled_and_interpreted_report_field_and_offset_alike():
    """construct's compiled Bytes(n) would not notice a short read; these fields do, in both forms."""
    fmt = Struct("mti" / Bcd(4, field=0), "pan" / Bcd(19, prefix=LL_BCD, pad="right", field=2),
                 "block" / Binary(8, field=52))
    wire = bytes.fromhex("0200" + "16" + "6226090000000048") + bytes(5)  # PIN block 3 bytes short
    errors = [_error(f.parse, wire) for f in (fmt, fmt.compile())]
    assert [(e.field, e.offset) for e in errors] == [(52, 11), (52, 11)]
    bad_digit = bytes.fromhex("0200" + "16" + "62260900000000A8") + bytes(8)
    errors = [_error(f.parse, bad_digit) for f in (fmt, fmt.compile())]
    assert [(e.field, e.offset) for e in errors] == [(2, 10), (2, 10)]


def test_length_prefix_encodings():
    assert LL_BCD.encode(37) == b"\x37" and LLL_BCD.encode(322) == b"\x03\x22"
    assert LLL_BIN.encode(300) == b"\x01\x2c" and LL_ASCII.encode(7) == b"07"
    with pytest.raises(ValueError):
        LengthPrefix(4, "bcd")
    with pytest.raises(ValueError):
        Binary(1000, prefix=LLL_BCD)
