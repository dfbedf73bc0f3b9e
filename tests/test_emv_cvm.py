"""Cardholder verification by the card's CVM list, and the online PIN block (ISO 9564 format 0).

The PIN-required card goes through real pcscd, the daemon and the host's PIN check in
test_daemon_emv_terminal.py; here the rules of EMV Book 3 §10.5 are checked fast, rule by rule."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.emv import cvm
from agent.drivers.pinpad import PinPad, PinPadError
from agent.iso8583 import CodecError
from agent.iso8583.crypto import encrypt_pin_block, pin_block_iso0, pin_from_block_iso0, tdes_ecb_decrypt
from simulator.testcards import load_cards
from tests.test_card_flow import read

CARDS = load_cards()


def rules(hex_rules: str, x: int = 0, y: int = 0) -> bytes:
    return x.to_bytes(4, "big") + y.to_bytes(4, "big") + bytes.fromhex(hex_rules)


def run(hex_rules, *, amount=1000, pin_pad=True, entered=True, x=0, y=0, app_currency="156"):
    asked = []

    def enter() -> bool:
        asked.append(True)
        return entered
    outcome = cvm.process(rules(hex_rules, x, y), cvm.Context(amount, "156", pin_pad), enter,
                          app_currency=app_currency)
    return outcome, asked


def test_online_pin_entered_sets_its_tvr_bit_and_leaves_the_result_to_the_issuer():
    outcome, asked = run("0200")
    assert outcome.results == bytes.fromhex("020000") and outcome.online_pin and asked == [True]
    assert outcome.tvr_bits == (cvm.TVR_ONLINE_PIN_ENTERED,)


def test_pin_bypassed_on_a_pin_only_card_fails_cardholder_verification():
    outcome, _ = run("0200", entered=False)
    assert outcome.results == bytes.fromhex("020001") and not outcome.online_pin
    assert set(outcome.tvr_bits) == {cvm.TVR_PIN_NOT_ENTERED, cvm.TVR_CVM_FAILED}


def test_pin_bypassed_goes_on_to_the_next_rule_when_the_card_allows_it():
    outcome, _ = run("42031E03", entered=False)
    assert outcome.results == bytes.fromhex("1E0300") and outcome.signature
    assert outcome.tvr_bits == (cvm.TVR_PIN_NOT_ENTERED,)


def test_without_a_pin_pad_an_if_supported_pin_rule_is_skipped_and_the_pin_pad_is_never_asked():
    outcome, asked = run("42031F00", pin_pad=False)
    assert outcome.results == bytes.fromhex("1F0002") and outcome.tvr_bits == () and asked == []


def test_without_a_pin_pad_an_always_pin_rule_fails_with_the_pin_pad_bit():
    outcome, _ = run("0200", pin_pad=False)
    assert set(outcome.tvr_bits) == {cvm.TVR_PIN_PAD_MISSING, cvm.TVR_CVM_FAILED}


@pytest.mark.parametrize("condition, amount, expected", [
    ("06", 4999, "4206"), ("06", 5000, "1F00"), ("07", 5001, "4207"), ("07", 5000, "1F00"),
    ("08", 299, "4208"), ("09", 301, "4209"),
])
def test_amount_conditions_compare_with_x_and_y_in_the_application_currency(condition, amount, expected):
    outcome, _ = run(f"42{condition}1F00", amount=amount, x=5000, y=300)
    assert outcome.results[:2].hex().upper() == expected


def test_amount_conditions_in_another_currency_do_not_apply():
    outcome, _ = run("42061F00", amount=10, x=5000, app_currency="840")
    assert outcome.results == bytes.fromhex("1F0002")


def test_an_unrecognised_method_sets_its_bit_and_no_applicable_rule_fails():
    outcome, _ = run("5500")
    assert outcome.results == bytes.fromhex("550001")
    assert set(outcome.tvr_bits) == {cvm.TVR_UNRECOGNISED_CVM, cvm.TVR_CVM_FAILED}
    outcome, _ = run("0201", amount=10)  # "unattended cash" never holds for a sale
    assert outcome.results == bytes.fromhex("3F0001") and cvm.TVR_CVM_FAILED in outcome.tvr_bits


def test_no_cvm_list_means_not_performed_and_a_malformed_one_fails():
    assert cvm.process(None, cvm.Context(1, "156", True), lambda: True).results == bytes.fromhex("3F0000")
    bad = cvm.process(bytes(9), cvm.Context(1, "156", True), lambda: True)
    assert bad.results == bytes.fromhex("3F0001") and cvm.TVR_CVM_FAILED in bad.tvr_bits


@given(st.binary(min_size=0, max_size=24).map(lambda b: b[:len(b) // 2 * 2]), st.integers(0, 10**6),
       st.booleans(), st.booleans())
def test_any_cvm_list_gives_a_three_byte_result_and_asks_for_the_pin_at_most_once(raw, amount, pad, entered):
    asked = []
    outcome = cvm.process(bytes(8) + raw, cvm.Context(amount, "156", pad),
                          lambda: asked.append(1) or entered, app_currency="156")
    assert len(outcome.results) == 3 and len(asked) <= 1
    assert outcome.online_pin == (bool(asked) and entered)
    assert not pad or not asked or outcome.results[0] & 0x3F == cvm.ONLINE_PIN
    if outcome.results[2] == cvm.RESULT_FAILED:
        assert cvm.TVR_CVM_FAILED in outcome.tvr_bits


# -- through the card flow (in-process applet) -----------------------------------------------------

def test_the_pin_required_card_asks_for_an_online_pin_and_reads_051():
    chip, _ = read("pin-required", enter_pin=lambda: True)
    assert chip.entry_mode == "051" and chip.tags[0x9F34] == bytes.fromhex("020000")
    assert chip.tags[0x95][2] == 0x04 and chip.tags[0x9B][0] & 0x40


def test_the_pin_required_card_without_a_pin_goes_online_with_verification_failed():
    chip, _ = read("pin-required")
    assert chip.entry_mode == "052" and chip.tags[0x9F34] == bytes.fromhex("020001")
    assert chip.tags[0x95][2] == 0x88 and chip.tags[0x9F27] == b"\x80"


# -- the PIN block -----------------------------------------------------------------------------------

def test_pin_block_format_0_published_examples():
    # ISO 9564-1 format 0 as the standard's description and Wikipedia's "ISO 9564" article show it:
    # PIN 1234, PAN 43219876543210987 -> 0412AC89ABCDEF67; psec's documentation: PAN 5544332211009966
    assert pin_block_iso0("1234", "43219876543210987").hex().upper() == "0412AC89ABCDEF67"
    assert pin_block_iso0("1234", "5544332211009966").hex().upper() == "041277CDDEEFF669"
    assert pin_from_block_iso0(bytes.fromhex("0412AC89ABCDEF67"), "43219876543210987") == "1234"


@given(pin=st.text("0123456789", min_size=4, max_size=12), pan=st.text("0123456789", min_size=13, max_size=19),
       key=st.binary(min_size=16, max_size=16))
def test_an_enciphered_pin_block_deciphers_to_the_same_pin(pin, pan, key):
    assert pin_from_block_iso0(tdes_ecb_decrypt(key, encrypt_pin_block(key, pin, pan)), pan) == pin


@pytest.mark.parametrize("block, why", [("1412AC89ABCDEF67", "control"), ("0312AC89ABCDEF67", "length"),
                                        ("0412AC89ABCDEF60", "F fill"), ("0412", "8 bytes")])
def test_a_malformed_pin_block_says_what_is_wrong(block, why):
    with pytest.raises(CodecError, match=why):
        pin_from_block_iso0(bytes.fromhex(block), "43219876543210987")


def test_the_pin_pad_never_shows_the_pin_and_forgets_it():
    pad = PinPad(lambda pin, pan: encrypt_pin_block(bytes(range(16)), pin, pan))
    pad.load("2468")
    assert pad.entered() and "2468" not in repr(pad)
    assert len(pad.block("6226090000000154")) == 8
    pad.wipe()
    assert not pad.entered()
    with pytest.raises(PinPadError):
        pad.block("6226090000000154")
    with pytest.raises(PinPadError) as caught:
        pad.load("12a4")
    assert "12a4" not in str(caught.value)


# -- offline approval (terminal action analysis + the card's decision) ------------------------------

def test_an_offline_card_under_the_floor_limit_approves_offline_with_a_tc():
    chip, session = read("offline", amount=2000, floor_limit=5000, offline_approvals=True)
    assert chip.approved_offline and chip.tags[0x9F27] == b"\x40" and chip.tags[0x95] == bytes(5)
    assert sum(1 for c in session.commands if c[1] == 0xAE) == 1  # no second GENERATE AC


@pytest.mark.parametrize("card, term", [
    ("offline", dict(amount=6000, floor_limit=5000, offline_approvals=True)),  # above the floor limit
    ("offline", dict(amount=2000, floor_limit=5000, offline_approvals=False)),  # a pre-auth: always online
    ("debit", dict(amount=2000, floor_limit=5000, offline_approvals=True)),  # the card itself goes online
])
def test_otherwise_the_card_goes_online(card, term):
    chip, _ = read(card, **term)
    assert not chip.approved_offline and chip.tags[0x9F27] == b"\x80"


def test_without_a_pin_key_the_card_read_fails_with_a_cashier_message_and_no_block():
    from agent.daemon.cards import CardSource
    from agent.engine.effects import CardFailure
    from agent.errors import PosagentError

    def no_key(pin: str, pan: str) -> bytes:
        raise PosagentError("no working keys: sign on first")
    from simulator.stack import TEST_CARDS_FILE
    source = CardSource(reader_pattern="none", card_timeout=1, pin_cipher=no_key,
                        test_cards_path=str(TEST_CARDS_FILE))
    source.pin_pad.load("2468")
    failed = source.read(100, "pin-required")
    assert isinstance(failed, CardFailure) and "sign on" in failed.message
    source.release()
    assert not source.pin_pad.entered()
    swiped = CardSource(reader_pattern="none", card_timeout=1, test_cards_path=str(TEST_CARDS_FILE),
                        pin_cipher=lambda pin, pan: encrypt_pin_block(bytes(range(16)), pin, pan))
    swiped.pin_pad.load("2468")
    card = swiped.read(100, "pin-required")
    assert card.entry_mode == "021" and len(card.pin_block) == 8 and "2468" not in repr(card)
