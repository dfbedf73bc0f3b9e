"""The EMV contact flow against the virtual card's applet in-process (no pcscd): the rules of the flow.

The same applet answers through real pcscd in test_card_pcsc.py; here every rule is checked fast.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.emv import apdu
from agent.emv.card_errors import (BadCardData, CardBlocked, CardCancelled, CardDeclinedOffline, CardMute,
                                       CardRemoved, CardRemovedAfterApproval, NoSupportedApplication,
                                       UnexpectedStatusWord)
from agent.emv.flow import EmvReader
from agent.emv.data import FORBIDDEN_IN_FIELD55, CUP_FIELD55, dol_data, parse_dol
from agent.iso8583 import tlv
from simulator.card.applet import STEPS, CardOptions, EmvApplet, Misbehaviour
from simulator import emvcrypto
from simulator.testcards import CDOL1, load_cards
from tests.card_loopback import LoopbackSession, terminal

CARDS = load_cards()


def read(card="debit", *, options=CardOptions(), misbehaviour=Misbehaviour(), extra=(), choose_app=None,
         enter_pin=None, **term):
    applet = EmvApplet([CARDS[card], *(CARDS[c] for c in extra)], options, misbehaviour)
    session = LoopbackSession(applet)
    return EmvReader(session, terminal(**term), choose_app=choose_app, enter_pin=enter_pin).read(), session


@pytest.mark.parametrize("t0", [False, True], ids=["T=1", "T=0"])
def test_full_flow_reads_the_card_and_its_arqc_verifies_like_the_host_does(t0):
    chip, session = read(options=CardOptions(t0=t0), enter_pin=lambda: True)
    card = CARDS["debit"]
    assert (chip.pan, chip.expiry, chip.sequence, chip.aid) == (card.pan, card.expiry, "001", card.aid)
    assert chip.track2 == card.track2
    assert chip.entry_mode == "051"
    values = {t.tag: t.value for t in tlv.decode(chip.field55)}
    assert emvcrypto.application_cryptogram(card.keys, card.pan, card.sequence, CDOL1, values) == values[0x9F26]
    assert values[0x9F02].hex() == "000000010000"
    assert values[0x9F27] == b"\x80"
    if t0:  # T=0: every data-bearing answer came through GET RESPONSE or a re-issue with the right Le
        assert any(c[1] == 0xC0 for c in session.commands)
        assert any(c[1] == 0xB2 and c[-1] != 0 for c in session.commands)
    else:
        assert not any(c[1] == 0xC0 for c in session.commands)


def test_field55_follows_the_cup_order_and_never_carries_track_or_pan():
    chip, _ = read()
    tags = [t.tag for t in tlv.decode(chip.field55)]
    assert not FORBIDDEN_IN_FIELD55 & set(tags)
    assert tags == [t for t in CUP_FIELD55 if t in tags]
    for required in (0x9F26, 0x9F27, 0x9F10, 0x9F36, 0x82, 0x9F33, 0x9F34, 0x9F35, 0x9F1E, 0x84, 0x9F09, 0x9F41,
                     *(tag for tag, _ in CDOL1)):
        assert required in tags, f"{required:X} missing"
    raw = chip.field55.hex().upper()
    assert CARDS["debit"].pan not in raw


def test_entry_mode_without_a_pin_pad_is_052_and_no_cvm():
    chip, _ = read(pin_capable=False)
    assert chip.entry_mode == "052"
    assert chip.tags[0x9F34][0] & 0x3F == 0x1F


def test_expired_card_still_goes_online_with_the_tvr_bit_set():
    chip, _ = read("expired")
    assert chip.tags[0x95][1] & 0x40


@pytest.mark.parametrize("ppse,pse", [(False, True), (False, False)], ids=["PSE", "AID list"])
def test_selection_falls_back_from_ppse_to_pse_then_to_the_aid_list(ppse, pse):
    chip, session = read(options=CardOptions(ppse=ppse, pse=pse))
    assert chip.aid == CARDS["debit"].aid
    names = [c[5:5 + c[4]] for c in session.commands if c[1] == 0xA4]
    assert names[0] == b"2PAY.SYS.DDF01"
    assert (b"1PAY.SYS.DDF01" in names) is True


def test_highest_priority_application_wins_without_a_chooser():
    chip, _ = read("credit", extra=("debit",))
    assert chip.aid == CARDS["credit"].aid


def test_the_cashier_chooses_when_the_card_asks_for_confirmation():
    offered = []

    def choose(apps):
        offered.extend(apps)
        return apps[1]

    chip, _ = read("credit", extra=("debit",), options=CardOptions(confirm=True), choose_app=choose)
    assert [a.aid.hex().upper() for a in offered] == [CARDS["credit"].aid, CARDS["debit"].aid]
    assert chip.aid == CARDS["debit"].aid


def test_confirmation_needed_but_no_chooser_means_no_supported_application():
    with pytest.raises(NoSupportedApplication):
        read(options=CardOptions(confirm=True))


def test_cashier_refusing_every_application_cancels():
    with pytest.raises(CardCancelled):
        read(options=CardOptions(confirm=True), choose_app=lambda apps: None)


@pytest.mark.parametrize("step,sw,error", [
    ("ppse", 0x6A81, CardBlocked),
    ("select", 0x6A81, CardBlocked),
    ("select", 0x6283, CardBlocked),
    ("gpo", 0x6D00, UnexpectedStatusWord),
    ("read", 0x6A83, UnexpectedStatusWord),
    ("genac1", 0x6985, UnexpectedStatusWord),
])
def test_status_words_become_named_cashier_errors(step, sw, error):
    with pytest.raises(error) as info:
        read(misbehaviour=Misbehaviour(sw_at={step: sw}))
    assert info.value.step == step
    assert info.value.sw == sw
    if error is UnexpectedStatusWord:
        assert f"{sw:04X}" in str(info.value)
        assert info.value.fallback


def test_a_card_with_only_foreign_applications_is_not_supported():
    foreign = CARDS["debit"].__class__(**{**CARDS["debit"].__dict__, "aid": "A0000000031010"})
    applet = EmvApplet([foreign])
    with pytest.raises(NoSupportedApplication) as info:
        EmvReader(LoopbackSession(applet), terminal()).read()
    assert info.value.fallback
    assert str(info.value) == "Card not supported — use another card"


@pytest.mark.parametrize("step", [s for s in STEPS if s not in ("pse", "genac2")])
def test_removal_and_mute_at_each_step(step):
    with pytest.raises(CardRemoved):
        read(misbehaviour=Misbehaviour(remove_at=step))
    with pytest.raises(CardMute):
        read(misbehaviour=Misbehaviour(mute_at=step))


def test_offline_decline_at_the_first_generate_ac():
    with pytest.raises(CardDeclinedOffline):
        read(options=CardOptions(first_ac="AAC"))


def _issuer_data(chip, card, arc=b"00"):
    arqc = bytes.fromhex(chip.cryptogram)
    atc = tlv.find(tlv.decode(chip.field55), 0x9F36)
    return tlv.encode([tlv.Tlv(0x91, emvcrypto.issuer_authentication_data(card.keys, card.pan, card.sequence, atc,
                                                                          arqc, arc))])


def test_second_generate_ac_gives_tc_for_a_valid_approval_and_aac_otherwise():
    card = CARDS["debit"]
    chip, _ = read()
    assert chip.complete(True, _issuer_data(chip, card)) == "TC"
    assert tlv.find(tlv.decode(chip.completion_field55), 0x9F27) == b"\x40"
    forged, _ = read()
    bad = bytearray(_issuer_data(forged, card))
    bad[3] ^= 0xFF
    assert forged.complete(True, bytes(bad)) == "AAC"
    declined, _ = read()
    assert declined.complete(False, _issuer_data(declined, card, b"51")) == "AAC"


def test_card_removed_after_approval_asks_for_a_reversal():
    chip, _ = read(misbehaviour=Misbehaviour(remove_at="genac2"))
    with pytest.raises(CardRemovedAfterApproval) as info:
        chip.complete(True, _issuer_data(chip, CARDS["debit"]))
    assert isinstance(info.value, CardRemoved)
    unapproved, _ = read(misbehaviour=Misbehaviour(remove_at="genac2"))
    with pytest.raises(CardRemoved) as info:
        unapproved.complete(False, None)
    assert not isinstance(info.value, CardRemovedAfterApproval)


def test_wipe_clears_track2_and_pan_and_hides_them_from_repr():
    chip, session = read()
    buffers = list(chip._sensitive.values())
    assert "6226090000000048" not in repr(chip)
    with chip:
        assert chip.pan == CARDS["debit"].pan
    assert session.closed
    assert all(not any(b) for b in buffers)
    assert "wiped" in repr(chip)
    with pytest.raises(Exception, match="cleared"):
        chip.track2


def _script(chip, card, *, tamper=False):
    """An issuer script 72 with one APPLICATION UNBLOCK-style command MAC'd by EMV Book 2 §9.2.1."""
    atc = tlv.find(tlv.decode(chip.field55), 0x9F36)
    command = emvcrypto.script_command(card.keys, card.pan, card.sequence, atc, bytes.fromhex(chip.cryptogram),
                                       bytes.fromhex("84180000"))
    if tamper:
        command = command[:-1] + bytes([command[-1] ^ 1])
    return tlv.encode([tlv.Tlv(0x72, tlv.encode([tlv.Tlv(0x9F18, b"\x00\x00\x00\x01"), tlv.Tlv(0x86, command)]))])


def test_issuer_scripts_after_the_second_generate_ac_are_sent_to_the_card():
    card = CARDS["debit"]
    chip, session = read()
    assert chip.complete(True, _issuer_data(chip, card) + _script(chip, card)) == "TC"
    assert chip.script_results == [("00000001", 0x9000)]
    assert session.commands[-1][:2] == b"\x84\x18"


def test_an_issuer_script_with_a_wrong_mac_is_refused_by_the_card():
    card = CARDS["debit"]
    chip, _ = read()
    assert chip.complete(True, _issuer_data(chip, card) + _script(chip, card, tamper=True)) == "TC"
    assert chip.script_results == [("00000001", 0x6988)]


@pytest.mark.parametrize("name", ["debit", "credit"], ids=["ARPC method 1", "ARPC method 2"])
def test_a_forged_arpc_gets_an_aac_from_the_card_by_either_method(name):
    card = CARDS[name]
    chip, _ = read(name)
    good = _issuer_data(chip, card)
    forged = tlv.encode([tlv.Tlv(0x91, bytes([tlv.find(tlv.decode(good), 0x91)[0] ^ 0x80])
                                 + tlv.find(tlv.decode(good), 0x91)[1:])])
    assert chip.complete(True, forged) == "AAC"
    chip, _ = read(name)
    assert chip.complete(True, _issuer_data(chip, card)) == "TC"


# -- the T=0 rule and DOLs, for all inputs ----------------------------------------------------------

class _T0Card:
    """Answers any case-4 command with 61xx and a wrong Le with 6Cxx, delivering `data`."""

    def __init__(self, data: bytes, chunk: int):
        self.data, self.chunk, self.pending = data, chunk, b""

    def __call__(self, command: bytes) -> bytes:
        if command[1] == 0xC0:
            le = command[4] or 256
            want = min(len(self.pending), self.chunk)
            if le != want:
                return bytes([0x6C, want & 0xFF])
            out, self.pending = self.pending[:want], self.pending[want:]
            return out + (bytes([0x61, min(len(self.pending), self.chunk) & 0xFF]) if self.pending else b"\x90\x00")
        self.pending = self.data
        return bytes([0x61, min(len(self.data), self.chunk) & 0xFF])


@settings(max_examples=60)
@given(st.binary(min_size=1, max_size=600), st.integers(min_value=1, max_value=256))
def test_t0_get_response_chains_deliver_exactly_the_cards_data(data, chunk):
    command = apdu.generate_ac(apdu.ARQC, b"\x01\x02")
    if -(-len(data) // chunk) > apdu.MAX_GET_RESPONSE_CHAIN:  # an endless-looking chain is refused, not followed
        with pytest.raises(BadCardData):
            apdu.exchange(_T0Card(data, chunk), command)
        return
    response = apdu.exchange(_T0Card(data, chunk), command)
    assert response.sw == 0x9000
    assert response.data == data


@settings(max_examples=60)
@given(st.lists(st.tuples(st.sampled_from([0x9F02, 0x5F2A, 0x95, 0x9F37, 0x9F1A, 0x8A, 0x9F4E]),
                          st.integers(min_value=1, max_value=12)), max_size=8),
       st.dictionaries(st.sampled_from([0x9F02, 0x5F2A, 0x95, 0x9F37, 0x8A]), st.binary(max_size=10)))
def test_dol_data_is_always_exactly_the_declared_length(dol, values):
    encoded = b"".join(tlv.tag_bytes(tag) + bytes([length]) for tag, length in dol)
    assert parse_dol(encoded) == dol
    assert len(dol_data(dol, values)) == sum(length for _, length in dol)


def test_a_truncated_dol_is_bad_card_data():
    with pytest.raises(BadCardData):
        parse_dol(bytes.fromhex("9F02"))


@pytest.mark.parametrize("chunks", [apdu.MAX_GET_RESPONSE_CHAIN, apdu.MAX_GET_RESPONSE_CHAIN + 1])
def test_the_get_response_chain_limit_is_exact(chunks):
    card = _T0Card(bytes(range(chunks)), 1)
    command = apdu.generate_ac(apdu.ARQC, b"\x01")
    if chunks > apdu.MAX_GET_RESPONSE_CHAIN:
        with pytest.raises(BadCardData):
            apdu.exchange(card, command)
    else:
        assert apdu.exchange(card, command).data == bytes(range(chunks))
