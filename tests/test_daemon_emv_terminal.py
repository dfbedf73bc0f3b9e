"""The terminal's EMV decisions end to end: virtual card → vpcd → pcscd → the daemon → real TCP → the
acquirer simulator; each checked on the host's ledger and on the TVR bits the journal keeps.

Cardholder verification with online PIN (the PIN-required card), terminal action codes per AID."""

from __future__ import annotations

import time

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


# -- offline approval with an advice ------------------------------------------------------------------

FLOOR = "floor_limit = 5000"


def test_an_offline_approval_is_journaled_with_its_tc_and_its_advice_survives_a_restart(chip_terminal, sim_host):
    start, insert = chip_terminal
    agent = start(FLOOR)
    reply = chip_sale(agent, insert, 2000, None, card="offline")
    assert reply["ok"] and reply["outcome"]["status"] == "approved", reply
    assert reply["outcome"]["details"]["offline"] and "offline" in reply["outcome"]["message"]
    txn_id = reply["outcome"]["txn"]["id"]
    assert reply["outcome"]["txn"]["state"] == "advice_pending"
    icc, fields = sent_icc(agent, txn_id)  # the journaled advice: the TC is the evidence, TVR clean
    assert icc["9F27"] == "40" and icc["95"] == "0000000000" and len(icc["9F26"]) == 16
    assert fields["2"].count("*") and "35" not in fields
    assert "offline" not in sim_host.ledger()["cards"]  # nothing sent yet
    raw = b"".join(p.read_bytes() for p in agent.directory.glob("journal.db*"))
    assert CARDS["offline"].pan.encode() not in raw  # the advice's card number is sealed, never in clear

    agent.kill()  # power goes before the advice is sent: it waits in the journal
    agent.start()  # recovery sends it before anything else
    deadline = time.monotonic() + 15
    while "offline" not in sim_host.ledger()["cards"] and time.monotonic() < deadline:
        time.sleep(0.1)  # recovery runs in the background after "ready"
    assert sim_host.ledger()["cards"]["offline"]["net_charged"] == 2000
    assert host_codes(sim_host, "offline") == ["00"]
    trace = reply["outcome"]["txn"]["trace"]
    while state_of(agent, trace) != "approved" and time.monotonic() < deadline:
        time.sleep(0.1)  # the host has booked it; the journal records the answer right after
    assert state_of(agent, trace) == "approved"

    settled = agent.json("settle", "--yes", password=True)  # the settlement totals include it
    assert settled["ok"] and settled["outcome"]["details"]["result"] == "balanced", settled
    assert "20.00" in settled["outcome"]["message"], settled["outcome"]["message"]


def state_of(agent, trace: int) -> str:
    return agent.call("lookup", {"trace": trace})["result"]["transactions"][0]["state"]


def test_an_offline_approval_is_advised_before_the_next_online_sale(chip_terminal, sim_host):
    start, insert = chip_terminal
    agent = start(FLOOR)
    first = chip_sale(agent, insert, 1500, None, card="offline")
    assert first["outcome"]["details"].get("offline"), first
    second = chip_sale(agent, insert, 8000, None, card="offline")  # above the floor: online
    assert second["outcome"]["status"] == "approved" and not second["outcome"]["details"].get("offline")
    icc, _ = sent_icc(agent, second["outcome"]["txn"]["id"])
    assert icc["9F27"] == "80" and int(icc["95"][6:8], 16) & 0x80  # floor limit exceeded → online
    assert host_codes(sim_host, "offline") == ["00", "00"]
    assert sim_host.ledger()["cards"]["offline"]["net_charged"] == 9500


def test_a_card_without_offline_capability_goes_online_under_the_floor_limit(chip_terminal, sim_host):
    start, insert = chip_terminal
    agent = start(FLOOR)
    reply = chip_sale(agent, insert, 1000, None, card="debit")
    assert reply["outcome"]["status"] == "approved" and not reply["outcome"]["details"].get("offline")
    icc, _ = sent_icc(agent, reply["outcome"]["txn"]["id"])
    # PIN bypassed (the card offers it if supported), no online-forcing bit: the terminal asked for a TC,
    # the card's own risk management chose online
    assert icc["9F27"] == "80" and icc["95"] == "0000080000"
    assert sim_host.ledger()["cards"]["debit"]["net_charged"] == 1000


def test_an_advice_whose_answer_is_lost_is_sent_again_and_booked_once(chip_terminal, sim_host):
    start, insert = chip_terminal
    agent = start(FLOOR)
    offline = chip_sale(agent, insert, 1200, None, card="offline")
    assert offline["outcome"]["details"].get("offline"), offline
    sim_host.fault("drop_after:mti=0220,count=1")  # the acquirer books the advice, its answer is lost
    held = chip_sale(agent, insert, 300, None, card="debit")
    assert not held["ok"] and held["error"]["code"] == "advice_pending", held  # nothing else goes first
    assert "debit" not in sim_host.ledger()["cards"]
    retried = chip_sale(agent, insert, 300, None, card="debit")
    assert retried["ok"] and retried["outcome"]["status"] == "approved", retried
    assert host_codes(sim_host, "offline") == ["00"] and sim_host.ledger()["cards"]["offline"]["net_charged"] == 1200
    assert state_of(agent, offline["outcome"]["txn"]["trace"]) == "approved"
