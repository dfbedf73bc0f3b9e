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
