"""A chip sale end to end: virtual EMV card → vpcd → pcscd → the daemon's card reader → field 55 →
real TCP → the acquirer simulator checks the ARQC → the card's second GENERATE AC."""

from __future__ import annotations

import pytest

from agent.drivers.pcsc import CardReader
from simulator.card import Misbehaviour, VirtualCard
from simulator.testcards import load_cards
from tests.agentproc import start_agent

pytestmark = pytest.mark.realstack

READER = "Virtual PCD 00 01"  # slot 1: the card-reader tests use slot 0
PORT = 35964
CARDS = load_cards()


@pytest.fixture
def chip_agent(tmp_path, sim_host, pcscd):
    reader = CardReader(READER, card_timeout=10)
    assert reader.wait_for_removal(10), "slot 1 still holds a card"
    agent = start_agent(tmp_path, sim_host.port, extra=f'[card_reader]\nreader = "{READER}"\ncard_timeout = 10\n')
    inserted: list[VirtualCard] = []

    def insert(card: str, **misbehaviour) -> VirtualCard:
        virtual = VirtualCard(CARDS[card], PORT, misbehaviour=Misbehaviour(**misbehaviour))
        inserted.append(virtual.start())
        return virtual

    yield agent, insert
    agent.stop()
    for virtual in inserted:
        virtual.remove()
    assert reader.wait_for_removal(10)


def test_chip_sale_is_approved_with_the_card_completing_tc(chip_agent, sim_host):
    agent, insert = chip_agent
    card = insert("credit")
    reply = agent.json("sale", "88.00")
    assert reply["ok"] and reply["outcome"]["status"] == "approved", reply
    txn = reply["outcome"]["txn"]
    assert txn["entry_mode"] in ("051", "052") and txn["pan_masked"] == "625094******0016"
    assert card.steps_seen[-1] == "genac2"
    assert sim_host.ledger()["cards"]["credit"]["net_charged"] == 8800
    # PCI: the journal never holds the PAN or the track 2 equivalent
    raw = b"".join(p.read_bytes() for p in agent.directory.glob("journal.db*"))
    assert CARDS["credit"].pan.encode() not in raw and b"6250946000000016" not in raw


def test_card_pulled_after_host_approval_is_reversed_with_reason_06(chip_agent, sim_host):
    agent, insert = chip_agent
    insert("debit", remove_at="genac2")
    reply = agent.json("sale", "12.00")
    assert reply["ok"] and reply["outcome"]["status"] == "reversed", reply
    messages = agent.json("journal", "show", str(reply["outcome"]["txn"]["id"]))
    assert '"39": "06"' in str(messages).replace("'", '"')
    assert sim_host.ledger()["cards"].get("debit", {}).get("net_charged", 0) == 0


def test_card_removed_mid_read_tells_the_cashier_and_sends_nothing(chip_agent, sim_host):
    agent, insert = chip_agent
    insert("debit", remove_at="read")
    result = agent.cli("sale", "12.00")
    assert result.returncode == 1 and "insert" in result.stderr.lower(), result.stderr
    assert sim_host.ledger()["cards"] == {}


@pytest.mark.parametrize("card, tvr_byte1", [("sda", 0x02), ("debit", 0x00), ("credit", 0x00),
                                             ("expired-cert", 0x08), ("revoked-cert", 0x08)])
def test_each_card_profile_goes_online_with_its_offline_authentication_result_in_the_tvr(
        chip_agent, sim_host, card, tvr_byte1):
    agent, insert = chip_agent
    insert(card)
    reply = agent.json("sale", "23.45")
    assert reply["ok"] and reply["outcome"]["status"] == "approved", reply
    assert sim_host.ledger()["cards"][card]["net_charged"] == 2345
    shown = agent.json("journal", "show", str(reply["outcome"]["txn"]["id"]))
    sent = next(m for m in shown["messages"] if m["direction"] == "sent")
    icc = {item["tag"]: item["value"] for item in sent["body"]["subfields"]["55"]}
    # the journal keeps the evidence: TVR, TSI, CVM results, cryptogram type — never tag 57
    assert int(icc["95"][:2], 16) == tvr_byte1
    assert int(icc["9B"][:2], 16) & 0x80 and icc["9F27"] == "80" and "9F34" in icc and "57" not in icc


def test_a_card_altered_after_issuing_is_declined_by_the_terminal_and_never_charged(chip_agent, sim_host):
    agent, insert = chip_agent
    insert("dda-tampered")
    result = agent.cli("sale", "23.45")
    assert result.returncode != 0
    assert "Card authentication failed" in result.stdout + result.stderr
    assert sim_host.ledger()["cards"].get("dda-tampered", {}).get("net_charged", 0) == 0


def test_a_card_that_declines_offline_is_never_sent_to_the_host(chip_agent, sim_host):
    agent, insert = chip_agent
    insert("declines-offline")
    result = agent.cli("sale", "5.00")
    assert result.returncode != 0 and "Card declined the payment" in result.stdout + result.stderr
    assert "declines-offline" not in sim_host.ledger()["cards"]
