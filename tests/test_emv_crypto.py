"""EMV application cryptography by the book (simulator/emvcrypto.py), checked against published vectors.

Vectors: the worked examples published in pyemv 1.5.0's documentation (modules `pyemv.kd` and
`pyemv.ac`, citing EMV 4.3 Book 2 Annex A1.4.1, A1.3.1, §8.1 and §8.2). The Option A vector is also
recomputed here from the formula of Book 2 A1.4.1 with the project's own 3DES, so the library's use of
the formula is checked, not only its output.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyemv import ac as pyemv_ac

from agent.iso8583 import tlv
from agent.iso8583.crypto import tdes_ecb_encrypt
from simulator import emvcrypto
from simulator.host.financial import check_chip
from simulator.testcards import CDOL1, load_cards

CARDS = load_cards()
ISSUER_MK = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")


@pytest.mark.parametrize("pan, psn, expected", [
    ("12345678901234567", "01", "73AD54688CEF2934B0979857E3C719F1"),  # pyemv.kd.derive_icc_mk_a example
    ("99012345678901234", "45", "67F8292358083E5EA7AB7FDA58D53B6B"),  # pyemv.kd module example
])
def test_icc_master_key_option_a_matches_the_published_vectors(pan, psn, expected):
    assert emvcrypto.icc_master_key(ISSUER_MK, pan, psn).hex().upper() == expected


def _odd_parity(key: bytes) -> bytes:
    return bytes((b & 0xFE) | (bin(b >> 1).count("1") % 2 == 0) for b in key)


def test_option_a_is_the_book_formula_left_and_right_halves_under_the_issuer_key():
    data_a = bytes.fromhex(("12345678901234567" + "01")[-16:].zfill(16))
    data_b = bytes(b ^ 0xFF for b in data_a)
    by_hand = _odd_parity(tdes_ecb_encrypt(ISSUER_MK, data_a) + tdes_ecb_encrypt(ISSUER_MK, data_b))
    assert by_hand == emvcrypto.icc_master_key(ISSUER_MK, "12345678901234567", "01")


def test_common_session_key_matches_the_published_vector():
    keys = emvcrypto.IssuerKeys(imk_ac=ISSUER_MK, imk_smi=ISSUER_MK)
    # pyemv.kd.derive_common_sk example: MK 0123…3210, R = 001C000000000000 (ATC 001C)
    from pyemv import kd
    assert kd.derive_common_sk(ISSUER_MK, bytes.fromhex("001C000000000000")).hex().upper() == \
        "E9FB384AF807B940FEDCEA613461B0C4"
    icc_mk = emvcrypto.icc_master_key(ISSUER_MK, "6226090000000048", "001")
    assert emvcrypto.ac_session_key(keys, "6226090000000048", "001", b"\x00\x1C") == \
        kd.derive_common_sk(icc_mk, bytes.fromhex("001C000000000000"))


def test_arqc_and_arpc_match_the_published_vectors():
    sk = bytes.fromhex("AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBB")
    data = bytes.fromhex("000000002000" "000000000000" "0124" "0000008000" "0124" "110309" "00" "3804823E"
                         "5800" "0001")
    assert pyemv_ac.generate_ac(sk, data, pyemv_ac.PaddingType.EMV).hex().upper() == "3B76CF10FECD8789"
    arqc = bytes.fromhex("1234567890ABCDEF")
    assert pyemv_ac.generate_arpc_1(sk, arqc, b"\x00\x00").hex().upper() == "F5E6F44147E2F1B0"
    assert pyemv_ac.generate_arpc_2(sk, arqc, bytes(4)).hex().upper() == "9308BEBC"


def _terminal_values(amount: int, atc: int, un: bytes) -> dict[int, bytes]:
    return {0x9F02: bytes.fromhex(f"{amount:012d}"), 0x9F03: bytes(6), 0x9F1A: b"\x01\x56", 0x95: bytes(5),
            0x5F2A: b"\x01\x56", 0x9A: b"\x26\x12\x03", 0x9C: b"\x00", 0x9F37: un,
            0x82: bytes.fromhex("3C00"), 0x9F36: atc.to_bytes(2, "big"), 0x9F10: emvcrypto.IAD}


class _Msg:
    """Just enough of a message for check_chip: field 55."""

    def __init__(self, values):
        self._icc = tlv.encode([tlv.Tlv(tag, value) for tag, value in values.items()])

    def get(self, field, default=None):
        return self._icc if field == 55 else default

    def __contains__(self, field):
        return field == 55


@settings(max_examples=60)
@given(name=st.sampled_from(sorted(CARDS)), amount=st.integers(1, 999_999_999_999), atc=st.integers(0, 0xFFFF),
       un=st.binary(min_size=4, max_size=4), flip=st.integers(0, 8 * 8 - 1),
       tag=st.sampled_from([0x9F02, 0x9F37, 0x9F36, 0x95, 0x82, 0x9F10]))
def test_the_host_accepts_the_cards_arqc_and_refuses_any_changed_bit(name, amount, atc, un, flip, tag):
    card = CARDS[name]
    values = _terminal_values(amount, atc, un)
    values[0x9F26] = emvcrypto.application_cryptogram(card.keys, card.pan, card.sequence, CDOL1, values)
    assert check_chip(card, _Msg(values), amount)[0] == "00"
    changed = bytearray(values[tag])
    bit = flip % (8 * len(changed))
    changed[bit // 8] ^= 1 << (bit % 8)
    values[tag] = bytes(changed)
    assert check_chip(card, _Msg(values), amount)[0] != "00"


def test_missing_card_data_in_field_55_is_a_format_error_not_a_crash():
    card = CARDS["debit"]
    values = _terminal_values(100, 1, b"\x01\x02\x03\x04")
    values[0x9F26] = bytes(8)
    del values[0x9F36]
    assert check_chip(card, _Msg(values), 100)[0] == "30"


@given(arc=st.sampled_from([b"00", b"05", b"51"]), atc=st.integers(0, 0xFFFF))
def test_issuer_authentication_round_trips_and_a_wrong_arc_or_arqc_fails(arc, atc):
    for card in (CARDS["debit"], CARDS["credit"]):
        arqc = bytes(range(8))
        atc_b = atc.to_bytes(2, "big")
        auth = emvcrypto.issuer_authentication_data(card.keys, card.pan, card.sequence, atc_b, arqc, arc)
        assert len(auth) == (10 if card.keys.arpc_method == 1 else 8)
        assert emvcrypto.issuer_authentication_ok(card.keys, card.pan, card.sequence, atc_b, arqc, auth)
        assert not emvcrypto.issuer_authentication_ok(card.keys, card.pan, card.sequence, atc_b, bytes(8), auth)
        if card.keys.arpc_method == 1:  # the ARC travels in tag 91 and is covered by the ARPC
            other = auth[:8] + (b"05" if arc != b"05" else b"00")
            assert not emvcrypto.issuer_authentication_ok(card.keys, card.pan, card.sequence, atc_b, arqc, other)


def test_the_script_mac_covers_header_atc_arqc_and_data():
    card = CARDS["debit"]
    args = (card.keys, card.pan, card.sequence, b"\x00\x05", bytes(range(8)))
    command = emvcrypto.script_command(*args, bytes.fromhex("84180000"), b"")
    assert command[:5] == bytes.fromhex("8418000008") and len(command) == 13
    assert emvcrypto.script_mac(*args, command[:5], b"") == command[5:]
    assert emvcrypto.script_mac(card.keys, card.pan, card.sequence, b"\x00\x06", bytes(range(8)),
                                command[:5], b"") != command[5:]
