"""ISO 8583: declarative message codecs (construct), dialects as data, MACs and keys.

    from agent.iso8583 import Message, get_dialect
    cup = get_dialect("cup")
    sign_on = Message("0800", {11: "000001", 41: "10000001", 42: "123456789012345", 60: "00000001003"})
    wire = cup.encode(sign_on)            # MTI + bitmap + fields; cup.pack_frame adds length, TPDU, header
    assert cup.decode(wire) == sign_on    # strict: bad digits, lengths, trailing bytes raise CodecError
"""

from agent.iso8583.dialect import Dialect, FieldSpec, Frame, FrameSpec
from agent.iso8583.dialects import get_dialect
from agent.iso8583.errors import CodecError
from agent.iso8583.message import Message

__all__ = ["CodecError", "Dialect", "FieldSpec", "Frame", "FrameSpec", "Message", "get_dialect"]
