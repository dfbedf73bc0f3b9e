"""The acquirer's rules, driven sans-IO: request Message in, response Message out, ledger checked."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, settings, strategies as st

from agent import config
from agent.iso8583 import Message, tlv
from agent.iso8583.crypto import KeyCheckError
from agent.iso8583.subfields import Field48Request, Field60, SettlementTotals, settlement_result
from agent.keys.store import SoftwareKeyStore
from agent.engine.netmgmt import apply_signon_response, build_echo, build_signoff, build_signon
from simulator.host.ledger import Ledger
from simulator.host.processing import HostProcessor
from simulator import emvcrypto
from simulator.testcards import CDOL1, load_cards
from tests.simhost import CUP, DEFAULT_TMK, refund, reversal, sale, void

NOW = datetime(2026, 11, 23, 10, 30, 0)
CARDS = load_cards()
CFG = config.from_mapping({})


class Terminal:
    """One signed-on terminal against an in-process host."""

    def __init__(self, host: HostProcessor, tmp_path=None):
        self.host = host
        self.keys = SoftwareKeyStore(DEFAULT_TMK)
        self.stan = 0
        request = build_signon(CFG, self.next_stan())
        self.signon = apply_signon_response(request, host.handle(request, NOW), self.keys, now=NOW)

    def next_stan(self) -> int:
        self.stan += 1
        return self.stan

    def send(self, msg: Message, *, mac: bool = True) -> Message:
        if mac:
            msg = self.keys.sign(CUP, msg)
        response = self.host.handle(msg, NOW)
        # every answer survives the real codec
        return CUP.decode(CUP.encode(response))

    def sale(self, card, amount, **kw):
        msg = sale(card, amount, self.next_stan(), batch=self.signon.batch_number, **kw)
        return msg, self.send(msg)


@pytest.fixture
def host():
    ledger = Ledger(":memory:")
    yield HostProcessor(ledger, CARDS, dialect=CUP, tmk_for=lambda tid: DEFAULT_TMK)
    ledger.close()


@pytest.fixture
def terminal(host):
    return Terminal(host)


def net(host, card) -> int:
    return host.ledger.card_net_charged(card.name)


def test_signon_issues_batch_and_keys_whose_check_values_verify(host, terminal):
    assert terminal.signon.batch_number == "000001"
    assert set(terminal.signon.key_check_values) == {"pin", "mac"}
    assert terminal.keys.has_keys


def test_signon_keys_under_another_tmk_are_rejected(host):
    keys = SoftwareKeyStore(bytes.fromhex("11" * 16))
    request = build_signon(CFG, 1)
    with pytest.raises(KeyCheckError):
        apply_signon_response(request, host.handle(request, NOW), keys, now=NOW)
    assert not keys.has_keys


def test_echo_and_signoff(host, terminal):
    assert terminal.send(build_echo(CFG, terminal.next_stan()), mac=False)[39] == "00"
    assert terminal.send(build_signoff(CFG, terminal.next_stan()), mac=False)[39] == "00"
    answer = terminal.send(sale(CARDS["debit"], 100, terminal.next_stan()), mac=False)
    assert answer[39] == "77"  # MAC'd traffic after sign-off needs a new sign-on


def test_sale_approved_moves_money_and_answer_is_maced(host, terminal):
    _, answer = terminal.sale(CARDS["debit"], 12000)
    assert answer[39] == "00" and len(answer[37]) == 12 and answer[38]
    assert terminal.keys.verify_mac(CUP, answer)
    assert net(host, CARDS["debit"]) == 12000


def test_bad_mac_is_a0_and_moves_no_money(host, terminal):
    msg = terminal.keys.sign(CUP, sale(CARDS["debit"], 5000, terminal.next_stan()))
    tampered = msg.replace({4: f"{9000:012d}"})
    answer = host.handle(tampered, NOW)
    assert answer[39] == "A0"
    assert net(host, CARDS["debit"]) == 0


def test_duplicate_stan_in_batch_is_94(host, terminal):
    msg, first = terminal.sale(CARDS["debit"], 100)
    again = terminal.send(msg)
    assert (first[39], again[39]) == ("00", "94")
    assert net(host, CARDS["debit"]) == 100


@pytest.mark.parametrize("card,code", [("expired", "54"), ("declined", "05"), ("lost", "41")])
def test_card_declines(host, terminal, card, code):
    assert terminal.sale(CARDS[card], 100)[1][39] == code
    assert net(host, CARDS[card]) == 0


def test_unknown_card_and_insufficient_funds(host, terminal):
    unknown = CARDS["debit"].__class__(**{**CARDS["debit"].__dict__, "pan": "6200000000000001"})
    assert terminal.sale(unknown, 100)[1][39] == "14"
    low = CARDS["low-balance"]
    assert terminal.sale(low, low.balance + 1)[1][39] == "51"
    assert terminal.sale(low, low.balance)[1][39] == "00"
    assert terminal.sale(low, 1)[1][39] == "51"


def test_void_rules(host, terminal):
    card = CARDS["debit"]
    original, answer = terminal.sale(card, 12000)
    b = terminal.signon.batch_number
    wrong_amount = terminal.send(void(card, 100, terminal.next_stan(), original, answer, batch=b))
    assert wrong_amount[39] == "64"
    ok = terminal.send(void(card, 12000, terminal.next_stan(), original, answer, batch=b))
    assert ok[39] == "00"
    assert net(host, card) == 0
    twice = terminal.send(void(card, 12000, terminal.next_stan(), original, answer, batch=b))
    assert twice[39] == "12"
    # a voided sale cannot be refunded either
    assert terminal.send(refund(card, 100, terminal.next_stan(), answer, batch=b))[39] == "12"


def test_reversal_of_a_void_restores_the_sale(host, terminal):
    card = CARDS["debit"]
    original, answer = terminal.sale(card, 700)
    v = void(card, 700, terminal.next_stan(), original, answer, batch=terminal.signon.batch_number)
    assert terminal.send(v)[39] == "00"
    assert terminal.send(reversal(v))[39] == "00"
    assert net(host, card) == 700


@settings(max_examples=25)
@given(st.lists(st.integers(min_value=1, max_value=6000), min_size=1, max_size=6))
def test_refunds_never_exceed_the_original(amounts):
    ledger = Ledger(":memory:")
    host = HostProcessor(ledger, CARDS, dialect=CUP, tmk_for=lambda tid: DEFAULT_TMK)
    t = Terminal(host)
    card = CARDS["credit"]
    _, answer = t.sale(card, 10000)
    approved = 0
    for amount in amounts:
        code = t.send(refund(card, amount, t.next_stan(), answer, batch=t.signon.batch_number))[39]
        assert code == ("00" if approved + amount <= 10000 else "13")
        approved += amount if code == "00" else 0
    assert net(host, card) == 10000 - approved >= 0
    ledger.close()


@settings(max_examples=20)
@given(st.integers(min_value=1, max_value=5), st.sampled_from(["0400", "0401"]))
def test_repeated_reversals_move_money_once(repeats, mti):
    ledger = Ledger(":memory:")
    host = HostProcessor(ledger, CARDS, dialect=CUP, tmk_for=lambda tid: DEFAULT_TMK)
    t = Terminal(host)
    card = CARDS["debit"]
    original, answer = t.sale(card, 4321)
    assert answer[39] == "00"
    for _ in range(repeats):
        rev = reversal(original).replace({}, mti=mti)
        assert t.send(rev)[39] == "00"
    assert net(host, card) == 0
    assert ledger.reversal_count("10000001", t.signon.batch_number, original[11]) == 1
    ledger.close()


def test_reversal_of_unknown_original_is_acknowledged(host, terminal):
    ghost = sale(CARDS["debit"], 100, 999, batch=terminal.signon.batch_number)
    assert terminal.send(reversal(ghost))[39] == "00"
    assert net(host, CARDS["debit"]) == 0


def _settle(t: Terminal, debit: tuple[int, int], credit: tuple[int, int]) -> tuple[str, str]:
    f48 = Field48Request(SettlementTotals(debit[0], debit[1], credit[0], credit[1]),
                         SettlementTotals(0, 0, 0, 0)).to_str()
    msg = Message("0500", {11: f"{t.next_stan():06d}", 41: "10000001", 42: "123456789012345", 48: f48,
                           60: Field60(tx_type="00", batch=t.signon.batch_number, nmc="201").to_str()})
    answer = t.send(msg, mac=False)
    assert 39 not in answer
    return settlement_result(answer[48])


def test_settlement_balanced_then_unbalanced_and_batch_advances(host, terminal):
    card = CARDS["debit"]
    _, a1 = terminal.sale(card, 1000)
    _, a2 = terminal.sale(card, 2500)
    terminal.send(refund(card, 300, terminal.next_stan(), a1, batch=terminal.signon.batch_number))
    assert _settle(terminal, (3500, 2), (300, 1))[0] == "1"
    assert _settle(terminal, (3500, 2), (300, 1))[0] == "1"  # a repeated 0500 settles nothing twice
    assert host.ledger.current_batch("10000001") == "000002"
    other = Terminal(host)
    assert other.signon.batch_number == "000002"
    other.sale(card, 10)
    assert _settle(other, (11, 1), (0, 0))[0] == "2"


def _chip_sale(t: Terminal, card, amount: int, *, tamper: bool = False) -> Message:
    values = {0x9F02: bytes.fromhex(f"{amount:012d}"), 0x9F03: bytes(6), 0x9F1A: b"\x01\x56",
              0x95: bytes(5), 0x5F2A: b"\x01\x56", 0x9A: b"\x26\x11\x23", 0x9C: b"\x00",
              0x9F37: b"\x12\x34\x56\x78", 0x82: bytes.fromhex("3C00"), 0x9F36: b"\x00\x07", 0x9F10: emvcrypto.IAD}
    arqc = emvcrypto.application_cryptogram(card.keys, card.pan, card.sequence, CDOL1, values)
    if tamper:
        arqc = bytes([arqc[0] ^ 1]) + arqc[1:]
    icc = tlv.encode([tlv.Tlv(0x9F26, arqc)] + [tlv.Tlv(tag, value) for tag, value in values.items()])
    msg = sale(card, amount, t.next_stan(), batch=t.signon.batch_number).without(14).replace({22: "051", 55: icc})
    return msg


def test_chip_sale_checks_arqc_and_answers_arpc(host, terminal):
    card = CARDS["credit"]
    msg = _chip_sale(terminal, card, 8800)
    answer = terminal.send(msg)
    assert answer[39] == "00"
    arqc = tlv.find(tlv.decode(msg[55]), 0x9F26)
    tag91 = tlv.find(tlv.decode(answer[55]), 0x91)
    # the credit card's profile answers by ARPC method 2: ARPC (4 bytes) || CSU
    assert card.keys.arpc_method == 2
    assert tag91 == emvcrypto.issuer_authentication_data(card.keys, card.pan, card.sequence, b"\x00\x07", arqc, b"00")
    assert len(tag91) == 8
    bad = terminal.send(_chip_sale(terminal, card, 100, tamper=True))
    assert bad[39] == "34"
    assert net(host, card) == 8800


def test_ledger_file_holds_no_full_pan_nor_clear_keys(tmp_path):
    ledger = Ledger(tmp_path / "host.db")
    host = HostProcessor(ledger, CARDS, dialect=CUP, tmk_for=lambda tid: DEFAULT_TMK)
    t = Terminal(host)
    for name in ("debit", "credit", "expired"):
        t.sale(CARDS[name], 100)
    mac_key = host.working_keys("10000001").mac
    ledger.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    for card in CARDS.values():
        assert card.pan.encode() not in raw
    assert mac_key not in raw
