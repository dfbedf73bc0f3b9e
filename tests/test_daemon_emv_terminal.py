"""The terminal's EMV decisions end to end: virtual card → vpcd → pcscd → the daemon → real TCP → the
acquirer simulator; each checked on the host's ledger and on the TVR bits the journal keeps.

Cardholder verification with online PIN (the PIN-required card), terminal action codes per AID."""

from __future__ import annotations

import pytest

from agent.drivers.pcsc import CardReader
from simulator.card import VirtualCard
from simulator.host.ledger import Ledger
from simulator.testcards import load_cards
from tests.agentproc import start_agent

pytestmark = pytest.mark.realstack

READER = "Virtual PCD 00 01"  # slot 1: the card-reader tests use slot 0
PORT = 35964
CARDS = load_cards()
PIN = "2468"


@pytest.fixture
def chip_terminal(tmp_path, sim_host, pcscd):
    reader = CardReader(READER, card_timeout=10)
    assert reader.wait_for_removal(10), "slot 1 still holds a card"
    started, inserted = [], []

    def start(emv: str = ""):
        agent = start_agent(tmp_path, sim_host.port,
                            extra=f'{emv}\n[card_reader]\nreader = "{READER}"\ncard_timeout = 10\n')
        started.append(agent)
        return agent

    def insert(card: str) -> VirtualCard:
        virtual = VirtualCard(CARDS[card], PORT)
        inserted.append(virtual.start())
        return virtual

    yield start, insert
    for agent in started:
        agent.stop()
    for virtual in inserted:
        virtual.remove()
    assert reader.wait_for_removal(10)


def sent_icc(agent, txn_id: int) -> dict[str, str]:
    shown = agent.json("journal", "show", str(txn_id))
    sent = next(m for m in shown["messages"] if m["direction"] == "sent")
    return {item["tag"]: item["value"] for item in sent["body"]["subfields"]["55"]}, sent["body"]["fields"]


def host_codes(sim_host, card: str) -> list[str]:
    ledger = Ledger(sim_host.db)
    try:
        return [r["response_code"] for r in ledger.read("SELECT response_code FROM txns WHERE card = ? ORDER BY id",
                                                        (card,))]
    finally:
        ledger.close()


def chip_sale(agent, insert, amount: int, pin: str | None, card: str = "pin-required") -> dict:
    virtual = insert(card)
    args = {"amount": amount, "confirm_duplicate": True}
    if pin is not None:
        args["pin"] = pin
    reply = agent.call("sale", args)
    virtual.remove()
    assert CardReader(READER, card_timeout=10).wait_for_removal(10)  # the next card is a new insertion
    return reply


def test_a_pin_required_card_with_the_right_online_pin_is_approved(chip_terminal, sim_host):
    start, insert = chip_terminal
    agent = start()
    reply = chip_sale(agent, insert, 4321, PIN)
    assert reply["ok"] and reply["outcome"]["status"] == "approved", reply
    icc, fields = sent_icc(agent, reply["outcome"]["txn"]["id"])
    assert icc["9F34"] == "020000" and int(icc["95"][4:6], 16) == 0x04  # online PIN entered
    assert int(icc["9B"][:2], 16) & 0x40  # TSI: cardholder verification performed
    assert fields["22"] == "051" and fields["52"] == "[removed]" and fields["26"] == "12"
    assert sim_host.ledger()["cards"]["pin-required"]["net_charged"] == 4321


def test_a_wrong_online_pin_is_declined_by_the_issuer_and_never_charged(chip_terminal, sim_host):
    start, insert = chip_terminal
    agent = start()
    reply = chip_sale(agent, insert, 4321, "1357")
    assert reply["ok"] and reply["outcome"]["status"] == "declined", reply
    assert "Wrong PIN" in reply["outcome"]["message"]
    icc, _ = sent_icc(agent, reply["outcome"]["txn"]["id"])
    assert int(icc["95"][4:6], 16) == 0x04
    assert host_codes(sim_host, "pin-required") == ["55"]
    assert sim_host.ledger()["cards"].get("pin-required", {}).get("net_charged", 0) == 0


def test_the_pin_bypassed_fails_verification_in_the_tvr_and_the_issuer_declines(chip_terminal, sim_host):
    start, insert = chip_terminal
    agent = start()
    reply = chip_sale(agent, insert, 1000, None)
    assert reply["outcome"]["status"] == "declined", reply
    icc, fields = sent_icc(agent, reply["outcome"]["txn"]["id"])
    assert icc["9F34"] == "020001" and int(icc["95"][4:6], 16) == 0x88  # CVM failed, PIN not entered
    assert fields["22"] == "052" and "52" not in fields
    assert host_codes(sim_host, "pin-required") == ["55"]


def test_a_denial_code_for_one_aid_declines_its_cards_offline_and_spares_other_applications(chip_terminal, sim_host):
    start, insert = chip_terminal
    # UnionPay debit (…0101): cardholder verification failed declines offline; credit (…0102) unchanged
    agent = start('tacs = "A0000003330101 denial=0000800000"')
    refused = chip_sale(agent, insert, 1000, None)
    assert not refused["ok"] and "Card authentication failed" in refused["error"]["message"], refused
    assert host_codes(sim_host, "pin-required") == []
    approved = chip_sale(agent, insert, 1000, None, card="credit")
    assert approved["ok"] and approved["outcome"]["status"] == "approved", approved
    assert sim_host.ledger()["cards"]["credit"]["net_charged"] == 1000
