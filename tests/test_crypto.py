"""DES/3DES, MACs, key check values, working keys and PIN blocks against published vectors."""

from __future__ import annotations

import warnings

import pytest
from hypothesis import given, settings, strategies as st

from agent.iso8583 import CodecError
from agent.iso8583.crypto import (KeyCheckError, encrypt_pin_block, kcv, mac_cup_ecb, mac_x919, mac_x99,
                                  pin_block_iso0, tdes_ecb_decrypt, tdes_ecb_encrypt, unwrap_working_key,
                                  wrap_working_key)

K1 = bytes.fromhex("0123456789ABCDEF")
K1K2 = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
NOW_IS_THE_TIME = b"Now is the time for all "


def test_single_des_vector():
    """FIPS 81 (DES modes of operation), ECB example: key 0123456789ABCDEF, "Now is t" -> 3FA40E8A984D4815."""
    assert tdes_ecb_encrypt(K1, b"Now is t").hex().upper() == "3FA40E8A984D4815"
    assert tdes_ecb_decrypt(K1, bytes.fromhex("3FA40E8A984D4815")) == b"Now is t"


def test_key_check_value():
    """The widely published KCV of the double-length test key 0123456789ABCDEF FEDCBA9876543210 is 08D7B4
    (e.g. EFTlab BP-Tools and keylab.cloud's key check value calculator), the first bytes of
    E(key, 0000000000000000) = 08D7B4FB629D0885."""
    assert kcv(K1K2).hex().upper() == "08D7B4FB"
    assert tdes_ecb_encrypt(K1K2, bytes(8)).hex().upper() == "08D7B4FB629D0885"


def test_x99_mac():
    """ISO/IEC 9797-1 Annex B (and ANSI X9.9): MAC algorithm 1, padding method 1, key 0123456789ABCDEF over
    "Now is the time for all " -> 70A30640CC76DD8B."""
    assert mac_x99(K1, NOW_IS_THE_TIME).hex().upper() == "70A30640CC76DD8B"


def test_x919_mac():
    """ISO/IEC 9797-1 Annex B: MAC algorithm 3 (the ANSI X9.19 retail MAC), padding method 1,
    K = 0123456789ABCDEF, K' = FEDCBA9876543210, "Now is the time for all " -> A1C72E74EA3FA9B6."""
    assert mac_x919(K1K2, NOW_IS_THE_TIME).hex().upper() == "A1C72E74EA3FA9B6"


def test_cup_ecb_mac():
    """UnionPay POS "ECB" MAC worked example published with the pgate project
    (github.com/solo123/pgate, test/integration/pos_mac_test.rb): MAB 1234567890ABCDEFABCDEF1234567890,
    MAK 2222222222222222 -> XOR B9F9B96AA4FDB57F, first encryption 9FDE90A34CF73B2E, MAC "E267B6E2"."""
    assert mac_cup_ecb(bytes.fromhex("2222222222222222"), bytes.fromhex("1234567890ABCDEFABCDEF1234567890")) \
        == b"E267B6E2"


def test_cup_ecb_mac_xor_stage_and_tmk_unwrap_of_a_published_sale():
    """The CSDN worked example "MAC算法演示" (blog.csdn.net/zhu244912654/article/details/80005341): TMK
    70F2A84CCBC2AE8625CBB0F2C22AB923 decrypts TAK 96D605EA176B7E9E to C24A8FB57AA20123, and the MAB of its
    0200 sale XORs block by block to 9A11302004C020C0, 9A1161201CF422D0, 9A1753638ED222D9 ..."""
    tmk = bytes.fromhex("70F2A84CCBC2AE8625CBB0F2C22AB923")
    tak = tdes_ecb_decrypt(tmk, bytes.fromhex("96D605EA176B7E9E"))
    assert tak.hex().upper() == "C24A8FB57AA20123"
    assert unwrap_working_key(tmk, bytes.fromhex("96D605EA176B7E9E"), kcv(tak)) == tak
    mab = bytes.fromhex("0200302004C020C0981100000000000000005100183402100006324392260009942820D1312101120084")
    folded, seen = 0, []
    for i in range(0, 32, 8):
        folded ^= int.from_bytes(mab[i:i + 8], "big")
        seen.append(f"{folded:016X}")
    assert seen[1:] == ["9A11302004C020C0", "9A1161201CF422D0", "9A1753638ED222D9"]
    assert len(mac_cup_ecb(tak, mab)) == 8 and mac_cup_ecb(tak, mab).isalnum()


def test_pin_block_format_0():
    """ISO 9564-1 format 0 example (Wikipedia "ISO 9564"): PIN 1234, PAN 43219876543210987 -> 0412AC89ABCDEF67."""
    assert pin_block_iso0("1234", "43219876543210987").hex().upper() == "0412AC89ABCDEF67"
    assert pin_block_iso0("1234", "4111111111111111").hex().upper() == "041225EEEEEEEEEE"


def test_encrypted_pin_block_decrypts_to_the_clear_block():
    key = bytes.fromhex("C5A1EFDE6AD4461B72AF90946EE006AC")
    enc = encrypt_pin_block(key, "111111", "6226168997066875")
    assert tdes_ecb_decrypt(key, enc) == pin_block_iso0("111111", "6226168997066875")


@pytest.mark.parametrize("pin, pan", [("123", "4111111111111111"), ("12345678901234", "4111111111111111"),
                                      ("12a4", "4111111111111111"), ("1234", "411111")])
def test_bad_pin_or_pan(pin, pan):
    with pytest.raises(CodecError):
        pin_block_iso0(pin, pan)


def test_working_key_with_a_wrong_check_value_is_rejected():
    tmk = bytes.fromhex("44444444444444444444444444444444")
    key = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    wrapped = wrap_working_key(tmk, key)
    assert unwrap_working_key(tmk, wrapped, kcv(key)) == key
    with pytest.raises(KeyCheckError) as info:
        unwrap_working_key(tmk, wrapped, b"\x00\x00\x00\x00")
    assert isinstance(info.value, CodecError) and "check value" in str(info.value)
    with pytest.raises(KeyCheckError):
        unwrap_working_key(tmk, wrapped, b"")


def test_no_deprecation_warnings_and_bad_key_lengths():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tdes_ecb_encrypt(K1, bytes(8))
        mac_x919(K1K2, b"x")
    for bad in (b"", bytes(7), bytes(32)):
        with pytest.raises(CodecError):
            tdes_ecb_encrypt(bad, bytes(8))
    with pytest.raises(CodecError):
        tdes_ecb_encrypt(K1, bytes(7))
    with pytest.raises(CodecError):
        mac_x919(K1, b"x")


@settings(max_examples=50)
@given(key=st.sampled_from([8, 16, 24]).flatmap(lambda n: st.binary(min_size=n, max_size=n)),
       data=st.binary(min_size=8, max_size=64).map(lambda b: b[:len(b) // 8 * 8]))
def test_decrypt_inverts_encrypt(key, data):
    assert tdes_ecb_decrypt(key, tdes_ecb_encrypt(key, data)) == data


@settings(max_examples=50)
@given(data=st.binary(max_size=64))
def test_x919_with_equal_halves_is_single_des_cbc_mac(data):
    """With K = K' the output transformation cancels: X9.19 equals X9.9 (a property of algorithm 3)."""
    assert mac_x919(K1 + K1, data) == mac_x99(K1, data)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 39), st.binary(min_size=8, max_size=8), st.booleans()), min_size=1,
                max_size=60))
def test_kept_cipher_contexts_give_what_a_fresh_cipher_gives(calls):
    """Many keys (more than are kept, so old ones are dropped and rebuilt), interleaved, both directions."""
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
    from cryptography.hazmat.primitives.ciphers import Cipher, modes

    from agent.iso8583.crypto import tdes_ecb_decrypt, tdes_ecb_encrypt
    for index, block, encrypt in calls:
        key = bytes([index]) * 16
        fresh = Cipher(TripleDES(key + key[:8]), modes.ECB())
        op = fresh.encryptor() if encrypt else fresh.decryptor()
        expected = op.update(block) + op.finalize()
        assert (tdes_ecb_encrypt if encrypt else tdes_ecb_decrypt)(key, block) == expected


def test_kept_cipher_contexts_are_safe_across_threads():
    import threading

    key = bytes(range(16))
    data = bytes(range(64))
    expected = mac_cup_ecb(key, data)
    results, threads = [], []

    def work():
        results.extend(mac_cup_ecb(key, data) for _ in range(300))
    for _ in range(4):
        threads.append(threading.Thread(target=work))
        threads[-1].start()
    for thread in threads:
        thread.join()
    assert set(results) == {expected} and len(results) == 1200
