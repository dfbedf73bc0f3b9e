"""ISO 8583 field types as construct constructs: `n`, `z`, `an`/`ans`, `b`, with LL/LLL length prefixes.

Each field type is a `construct.Construct`, so a format can be declared and used with construct's
`Struct`, `.parse`, `.build` and `.compile()`.  Each also has a hand-tuned path on plain bytes
(`decode_at(data, pos, field)` → `(value, new_pos)` and `encode_value(value, field)` → bytes) that the
message codec calls in its loop; construct's `_parse`/`_build` and the compiled form go through the
same checks, so lengths, digits and pad nibbles are verified the same way everywhere and every error
is a `CodecError` naming the field and the byte offset.

Values: `n` and `z` are `str` of ASCII digits (`z` also allows ``=``, the track separator, sent as
the BCD nibble D); `an`/`ans` are `str`; `b` is `bytes`.  Variable lengths count digits for BCD
fields and bytes for everything else.
"""

from agent.iso8583.fieldbase import PREFIX_ENCODINGS, AnyFieldType, FieldType, LengthPrefix
from agent.iso8583.numeric import AsciiDigits, Bcd, TrackBcd
from agent.iso8583.textfields import Binary, Text

__all__ = ["PREFIX_ENCODINGS", "AnyFieldType", "AsciiDigits", "Bcd", "Binary", "FieldType", "LengthPrefix", "Text",
           "TrackBcd"]
