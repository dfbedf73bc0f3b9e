"""Offline data authentication and terminal action analysis, per card profile (in-process applet).

The same profiles go through real pcscd and the daemon in test_daemon_chip.py; here every rule and
every failure is checked fast: the TVR bit each failure must set, the TSI, the terminal's decision.
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.emv import oda
from agent.emv.apdu import Response
from agent.emv.card_errors import CardAuthenticationFailed
from agent.emv.flow import EmvReader
from agent.emv.data import action_analysis
from agent.errors import ConfigError
from agent.iso8583 import tlv
from simulator import emvcrypto, emvpki
from simulator.card.applet import EmvApplet
from simulator.testcards import CDOL1, load_cards
from tests.card_loopback import LoopbackSession, terminal

CARDS = load_cards()


def read(card: str, **term):
    session = LoopbackSession(EmvApplet([CARDS[card]]))
    reader = EmvReader(session, terminal(**term))
    return reader, reader.read(), session


def tvr_of(chip) -> bytes:
    return tlv.find(tlv.decode(chip.field55), 0x95)


def test_dda_card_is_authenticated_with_internal_authenticate():
    reader, chip, session = read("debit")
    assert reader.oda_method == "DDA" and reader.oda_failure is None
    assert any(c[1] == 0x88 for c in session.commands)
    assert tvr_of(chip)[0] == 0x00  # no ODA bit: performed and passed
    assert tlv.find(tlv.decode(chip.field55), 0x9B)[0] & 0x80  # TSI: ODA performed


def test_sda_card_sets_sda_selected_and_passes():
    reader, chip, _ = read("sda")
    assert reader.oda_method == "SDA" and reader.oda_failure is None
    assert tvr_of(chip)[0] == 0x02


def test_cda_card_signs_the_cryptogram_and_the_host_verifies_the_recovered_ac():
    reader, chip, session = read("credit")
    assert reader.oda_method == "CDA" and reader.oda_failure is None
    genac = next(c for c in session.commands if c[1] == 0xAE)
    assert genac[2] == 0x80 | 0x10  # ARQC with CDA
    values = {t.tag: t.value for t in tlv.decode(chip.field55)}
    card = CARDS["credit"]
    assert values[0x9F26] == emvcrypto.application_cryptogram(card.keys, card.pan, card.sequence, CDOL1, values)
    assert tvr_of(chip)[0] == 0x00


@pytest.mark.parametrize("card, reason", [
    ("expired-cert", "issuer certificate expired"),
    ("revoked-cert", "revoked"),
])
def test_a_bad_issuer_certificate_sets_dda_failed_and_still_goes_online(card, reason):
    reader, chip, _ = read(card)
    assert reader.oda_failure is not None and reason in reader.oda_failure
    assert tvr_of(chip)[0] & 0x08  # DDA failed
    assert tlv.find(tlv.decode(chip.field55), 0x9F27) == b"\x80"  # ARQC: the issuer decides


def test_a_record_altered_after_signing_fails_dda_and_the_cards_iac_denial_declines_offline():
    with pytest.raises(CardAuthenticationFailed) as info:
        read("dda-tampered")
    assert str(info.value).startswith("Card authentication failed")
    assert "ICC certificate hash" in info.value.detail and "TVR 08" in info.value.detail


def test_a_card_that_declines_offline_answers_aac_after_passing_authentication():
    from agent.emv.card_errors import CardDeclinedOffline
    with pytest.raises(CardDeclinedOffline) as info:
        read("declines-offline")
    assert not isinstance(info.value, CardAuthenticationFailed)


def test_without_the_ca_key_the_terminal_sets_dda_failed():
    reader, chip, _ = read("debit", ca_keys=oda.CaKeys())
    assert "no CA public key A000000333/08" in reader.oda_failure
    assert tvr_of(chip)[0] & 0x08


def test_a_denial_tac_on_oda_failure_declines_offline_with_the_reason():
    with pytest.raises(CardAuthenticationFailed) as info:
        read("debit", ca_keys=oda.CaKeys(), tac_denial=bytes.fromhex("0800000000"))
    assert "no CA public key" in info.value.detail


def test_floor_limit_bit_follows_the_amount():
    _, chip, _ = read("debit", amount=500, floor_limit=1000)
    assert not tvr_of(chip)[3] & 0x80
    _, chip, _ = read("debit", amount=5000, floor_limit=1000)
    assert tvr_of(chip)[3] & 0x80


class _Tamper(LoopbackSession):
    """Flips one bit of the signed dynamic data in the first GENERATE AC answer."""

    def exchange(self, command: bytes) -> Response:
        response = super().exchange(command)
        if command[1] == 0xAE and response.ok and command[2] & 0x10:
            data = bytearray(response.data)
            data[-30] ^= 0x01  # inside 9F4B, which precedes the IAD
            return Response(bytes(data), response.sw)
        return response


def test_a_cda_signature_altered_in_transit_is_declined_by_the_terminal():
    session = _Tamper(EmvApplet([CARDS["credit"]]))
    with pytest.raises(CardAuthenticationFailed) as info:
        EmvReader(session, terminal()).read()
    assert info.value.detail.startswith("CDA:")


# -- the CA key file ---------------------------------------------------------------------------------

def _ca_file(tmp_path, text):
    path = tmp_path / "ca.toml"
    path.write_text(text, encoding="utf-8")
    return path


GOOD = emvpki.CA_KEYS_FILE.read_text(encoding="utf-8")


@pytest.mark.parametrize("change, key, message", [
    (lambda t: t.replace('checksum = "', 'checksum = "00', 1).replace('"\n\n#', '"\n#', 1), "key[0].checksum", "20 bytes"),
    (lambda t: t.replace('index = "08"', 'index = "8"', 1), "key[0].index", "1 bytes"),
    (lambda t: t.replace('expiry = "1231"', 'expiry = "1331"'), "key[0].expiry", "MMYY"),
    (lambda t: t.replace('exponent = "03"', 'exponent = "05"'), "key[0].exponent", "03 or 010001"),
    (lambda t: t.replace('modulus = "D8', 'modulus = "D9'), "key[0].checksum", "does not match"),
    (lambda t: t + t[t.index("[[key]]"):t.index("# issuer")], "key[1]", "a second key"),
    (lambda t: t.replace('serial = "0000FF"', 'serial = "FF"'), "revoked[0].serial", "3 bytes"),
])
def test_a_bad_ca_key_file_names_the_entry_and_what_is_wrong(tmp_path, change, key, message):
    with pytest.raises(ConfigError) as info:
        oda.load_ca_keys(_ca_file(tmp_path, change(GOOD)))
    assert key in str(info.value) and message in str(info.value)


def test_a_missing_or_broken_ca_key_file_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match="cannot read CA keys"):
        oda.load_ca_keys(tmp_path / "absent.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        oda.load_ca_keys(_ca_file(tmp_path, "[[key]\n"))


def test_an_expired_ca_key_fails_authentication():
    keys = oda.load_ca_keys(emvpki.CA_KEYS_FILE)
    reader, _, _ = read("debit", ca_keys=keys, date=dt.date(2032, 1, 1))
    assert "CA public key" in reader.oda_failure and "expired" in reader.oda_failure


# -- terminal action analysis against a model ------------------------------------------------------

def _model(tvr, iac_denial, iac_online, iac_default, tac_denial, tac_online, tac_default, online_capable):
    """Book 3 §10.7 read literally, bit by bit."""
    def any_bit(codes):
        return any(tvr[i] >> b & 1 and any(c[i] >> b & 1 for c in codes) for i in range(5) for b in range(8))
    if any_bit([iac_denial or bytes(5), tac_denial]):
        return "AAC"
    if online_capable:
        return "ARQC" if any_bit([iac_online or b"\xFF" * 5, tac_online]) else "TC"
    return "AAC" if any_bit([iac_default or b"\xFF" * 5, tac_default]) else "TC"


five = st.binary(min_size=5, max_size=5)
sparse = st.lists(st.sampled_from([0, 0, 0, 1, 2, 4, 8, 0x10, 0x20, 0x40, 0x80]), min_size=5, max_size=5).map(bytes)


@given(tvr=sparse, iac_denial=st.none() | sparse, iac_online=st.none() | five, iac_default=st.none() | five,
       tac_denial=sparse, tac_online=five, tac_default=five, online_capable=st.booleans())
def test_terminal_action_analysis_matches_the_book(tvr, iac_denial, iac_online, iac_default, tac_denial,
                                                   tac_online, tac_default, online_capable):
    got = action_analysis(tvr, iac_denial=iac_denial, iac_online=iac_online, iac_default=iac_default,
                          tac_denial=tac_denial, tac_online=tac_online, tac_default=tac_default,
                          online_capable=online_capable)
    assert {0x00: "AAC", 0x80: "ARQC", 0x40: "TC"}[got] == _model(
        tvr, iac_denial, iac_online, iac_default, tac_denial, tac_online, tac_default, online_capable)
