"""The `iso87` dialect agrees byte for byte with pyiso8583's default spec, in both directions."""

from __future__ import annotations

import iso8583
import pytest
from hypothesis import given, settings
from iso8583.specs import default as PYISO_DEFAULT
from iso8583.specs import default_ascii as PYISO_DEFAULT_ASCII

from agent.iso8583 import Dialect, Message, get_dialect
from tests.test_codec_strategies import messages

ISO87 = get_dialect("iso87")
BINARY = {n for n, spec in ISO87.fields.items() if spec.type.kind == "b"}


def to_pyiso(msg: Message) -> dict:
    doc = {"t": msg.mti}
    for number, value in msg.fields.items():
        doc[str(number)] = value.hex().upper() if isinstance(value, bytes) else value
    return doc


def from_pyiso(doc: dict) -> Message:
    fields = {}
    for key, value in doc.items():
        if key in ("t", "p", "1", "h"):
            continue
        fields[int(key)] = bytes.fromhex(value) if int(key) in BINARY else value
    return Message(doc["t"], fields)


def test_the_spec_matches_field_for_field():
    """Same fields, same maximum lengths, same fixed/variable choice, same binary fields."""
    assert 65 not in ISO87.fields  # pyiso8583 reads bit 65 as "a tertiary bitmap follows"
    for number in (n for n in range(2, 129) if n != 65):
        theirs = PYISO_DEFAULT[str(number)]
        ours = ISO87.fields[number].type
        assert ours.max_len == theirs["max_len"], number
        assert (ours.prefix.digits if ours.prefix else 0) == theirs["len_type"], number
        assert (ours.kind == "b") == (theirs["data_enc"] == "b"), number


@settings(max_examples=200)
@given(msg=messages("iso87", max_fields=20))
def test_our_bytes_decode_identically_in_pyiso8583(msg):
    wire = ISO87.encode(msg)
    decoded, _ = iso8583.decode(bytearray(wire), PYISO_DEFAULT)
    assert from_pyiso(decoded) == msg


@settings(max_examples=200)
@given(msg=messages("iso87", max_fields=20))
def test_pyiso8583_bytes_decode_identically_here(msg):
    wire, _ = iso8583.encode(to_pyiso(msg), PYISO_DEFAULT)
    assert bytes(wire) == ISO87.encode(msg)
    assert ISO87.decode(bytes(wire)) == msg


@pytest.mark.parametrize("field, bad", [(4, "00000001000 "), (2, "4111 1111"), (39, "0\x01")])
def test_values_pyiso8583_accepts_are_rejected_here(field, bad):
    """pyiso8583 does not check character classes; this codec does (encode and decode)."""
    doc = {"t": "0200", str(field): bad}
    wire, _ = iso8583.encode(doc, PYISO_DEFAULT)
    from agent.iso8583 import CodecError
    with pytest.raises(CodecError) as info:
        ISO87.decode(bytes(wire))
    assert info.value.field == field
    with pytest.raises(CodecError):
        ISO87.encode(Message("0200", {field: bad}))


# A new dialect is one declaration: pyiso8583's all-ASCII spec (hex bitmap), for messages without b fields.
ISO87_ASCII = Dialect(name="iso87-ascii", description="hex bitmap variant", mti="ascii", bitmap="hex",
                      fields={n: spec for n, spec in ISO87.fields.items() if spec.type.kind != "b"},
                      mac_algorithm="x9.19", frame=ISO87.frame)


@settings(max_examples=150)
@given(msg=messages("iso87", max_fields=20))
def test_a_hex_bitmap_dialect_declared_in_a_test_matches_pyiso8583_default_ascii(msg):
    msg = msg.without(*BINARY)
    wire = ISO87_ASCII.encode(msg)
    theirs, _ = iso8583.encode(to_pyiso(msg), PYISO_DEFAULT_ASCII)
    assert bytes(theirs) == wire and ISO87_ASCII.decode(wire) == msg
    assert from_pyiso(iso8583.decode(bytearray(wire), PYISO_DEFAULT_ASCII)[0]) == msg
