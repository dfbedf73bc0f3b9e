"""Hypothesis strategies for ISO 8583 values and messages, shared by the codec's property tests.

A strategy draws only *valid* values for a field type, so `decode(encode(m)) == m` must hold for
everything drawn; the tests at the bottom check the strategies themselves stay valid.
"""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from agent.iso8583 import Message, get_dialect
from agent.iso8583.fields import AsciiDigits, Bcd, Binary, Text, TrackBcd

DIGITS = "0123456789"
AN = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 "
ANS = "".join(chr(c) for c in range(0x20, 0x7F))
CAP = 120  # longest variable value drawn, to keep examples fast


def _sized(alphabet, ftype, cap=CAP):
    if ftype.prefix is None:
        return st.text(alphabet, min_size=ftype.max_len, max_size=ftype.max_len)
    return st.text(alphabet, min_size=0, max_size=min(ftype.max_len, cap))


def values_for(ftype):
    """Valid values of one field type."""
    if isinstance(ftype, TrackBcd) or (isinstance(ftype, AsciiDigits) and ftype.track):
        return _sized(DIGITS + "=", ftype)
    if isinstance(ftype, (Bcd, AsciiDigits)):
        return _sized(DIGITS, ftype)
    if isinstance(ftype, Binary):
        if ftype.prefix is None:
            return st.binary(min_size=ftype.max_len, max_size=ftype.max_len)
        return st.binary(max_size=min(ftype.max_len, CAP))
    if isinstance(ftype, Text):
        if ftype.encoding == "gb18030":
            chinese = st.text("中文银联交易成功余额不足请联系发卡行", max_size=20)
            return st.tuples(_sized(ANS, ftype, 40), chinese).map("".join).filter(
                lambda t: len(t.encode("gb18030")) <= ftype.max_len)
        return _sized(AN if ftype.kind == "an" else ANS, ftype)
    raise AssertionError(f"no strategy for {ftype!r}")


@st.composite
def messages(draw, dialect_name: str, max_fields: int = 12):
    """Messages with a random MTI and a random subset of the dialect's fields."""
    dialect = get_dialect(dialect_name)
    numbers = draw(st.lists(st.sampled_from(sorted(dialect.fields)), max_size=max_fields, unique=True))
    mti = draw(st.text(DIGITS, min_size=4, max_size=4))
    return Message(mti, {n: draw(values_for(dialect.fields[n].type)) for n in numbers})


@settings(max_examples=30)
@given(st.data())
def test_every_field_strategy_draws_encodable_values(data):
    for name in ("cup", "iso87"):
        dialect = get_dialect(name)
        number = data.draw(st.sampled_from(sorted(dialect.fields)))
        ftype = dialect.fields[number].type
        value = data.draw(values_for(ftype))
        assert ftype.decode_at(ftype.encode_value(value), 0) == (value, len(ftype.encode_value(value)))
