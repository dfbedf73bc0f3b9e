"""Structured fields of the cup dialect: 60, 61, 48, 62, 63 as typed values, str in and str out."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from agent.iso8583 import CodecError, Message, get_dialect
from agent.iso8583.crypto import kcv, unwrap_working_key, wrap_working_key
from agent.iso8583.subfields import (Field48Request, Field60, Field61, Field62Keys, Field63, SettlementTotals,
                                     settlement_result)


def test_field60_matches_the_domain_table():
    assert Field60(tx_type="22", batch="000001", nmc="000", read_cap="5", ic_cond="0").to_str() == "2200000100050"
    assert Field60(tx_type="00", batch="000001", nmc="003").to_str() == "00000001003"
    parsed = Field60.parse("22000001000")
    assert (parsed.tx_type, parsed.batch, parsed.nmc, parsed.read_cap, parsed.ic_cond) == ("22", "000001", "000",
                                                                                         None, None)
    assert Field60.parse("2200000100052").ic_cond == "2"


@pytest.mark.parametrize("kwargs", [dict(tx_type="2", batch="000001"), dict(tx_type="22", batch="00001A"),
                                    dict(tx_type="22", batch="000001", ic_cond="0")])
def test_field60_rejects_bad_parts(kwargs):
    with pytest.raises(CodecError):
        Field60(**kwargs)


def test_field61_original_data():
    assert Field61(orig_batch="000001", orig_trace="000123", orig_date="1123").to_str() == "0000010001231123"
    assert Field61.parse("0000000000001123").orig_date == "1123"
    with pytest.raises(CodecError):
        Field61.parse("00000100012")


def test_settlement_totals_in_field_48():
    request = Field48Request(domestic=SettlementTotals(150000, 3, 20000, 1), foreign=SettlementTotals(0, 0, 0, 0))
    text = request.to_str()
    assert len(text) == 62 and text.startswith("000000150000003000000020000001")
    assert Field48Request.parse(text) == request
    cup = get_dialect("cup")
    msg = Message("0500", {11: "000009", 41: "10000001", 42: "123456789012345", 48: text, 60: "00000001201"})
    assert cup.decode(cup.encode(msg))[48] == text
    response = text[:30] + "1" + text[31:61] + "2"
    assert settlement_result(response) == ("1", "2")
    with pytest.raises(CodecError):
        settlement_result(text[:30] + "9" + text[31:])
    with pytest.raises(CodecError):
        SettlementTotals(-1, 0, 0, 0)
    with pytest.raises(CodecError):
        SettlementTotals(10 ** 12, 0, 0, 0)


@pytest.mark.parametrize("mode, key_len, count", [("001", 8, 2), ("003", 16, 2), ("004", 16, 3)])
def test_field62_working_keys_build_parse_and_unwrap(mode, key_len, count):
    tmk = bytes.fromhex("70F2A84CCBC2AE8625CBB0F2C22AB923")
    clear = [bytes([i + 1]) * key_len for i in range(count)]
    data = Field62Keys.build([(wrap_working_key(tmk, k), kcv(k)) for k in clear])
    assert len(data) == (key_len + 4) * count
    pairs = Field62Keys.parse(data, mode)
    assert [unwrap_working_key(tmk, enc, check) for enc, check in pairs] == clear
    with pytest.raises(CodecError):
        Field62Keys.parse(data[:-1], mode)
    with pytest.raises(CodecError, match="unknown key mode"):
        Field62Keys.parse(data, "009")


def test_field63_card_organisation_and_gb18030_text_over_the_wire():
    value = Field63(card_org="CUP", text="交易成功").to_str()
    cup = get_dialect("cup")
    msg = Message("0210", {39: "00", 63: value})
    wire = cup.encode(msg)
    assert "交易成功".encode("gb18030") in wire
    assert Field63.parse(cup.decode(wire)[63]) == Field63("CUP", "交易成功")
    with pytest.raises(CodecError):
        Field63(card_org="CU")


@settings(max_examples=100)
@given(st.text("0123456789", min_size=2, max_size=2), st.text("0123456789", min_size=6, max_size=6),
       st.text("0123456789", min_size=3, max_size=3), st.sampled_from([None, "5", "6"]), st.data())
def test_field60_parse_inverts_to_str(tx_type, batch, nmc, read_cap, data):
    ic_cond = data.draw(st.sampled_from([None, "0", "2"])) if read_cap else None
    f = Field60(tx_type, batch, nmc, read_cap, ic_cond)
    assert Field60.parse(f.to_str()) == f
