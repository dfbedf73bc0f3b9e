"""IC card TC upload end to end: virtual EMV card → vpcd → pcscd → the daemon → real TCP → the acquirer
simulator.  After an approved chip sale the card's TC (second GENERATE AC) goes to the bank in a 0320;
the bank checks it against the card's keys and keeps it (`posim host tcs`).  A TC that is not taken is
owed in the journal, sent again before the next online message, at recovery and before settlement, a
bounded number of times — and never changes what the sale charged."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from agent.drivers.pcsc import CardReader
from agent.iso8583 import tlv
from simulator.card import VirtualCard
from simulator.testcards import load_cards
from tests.agentproc import ROOT, start_agent

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

    def insert(card: str) -> VirtualCard:
        virtual = VirtualCard(CARDS[card], PORT)
        inserted.append(virtual.start())
        return virtual

    yield agent, insert
    agent.stop()
    for virtual in inserted:
        virtual.remove()
    assert reader.wait_for_removal(10)


def tcs(sim_host, *flags: str) -> dict:
    """What `posim host tcs --json` prints: the TCs the bank received and the chip approvals without one."""
    out = subprocess.run([sys.executable, "-m", "simulator.cli", "host", "tcs", "--db", str(sim_host.db), "--json",
                          *flags], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode in (0, 1) and not out.stderr, out.stderr
    return json.loads(out.stdout)


def chip_sale(agent, insert, card: str, amount: str) -> dict:
    virtual = insert(card)
    reply = agent.json("sale", amount)
    virtual.remove()
    assert CardReader(READER, card_timeout=10).wait_for_removal(10)
    assert reply["ok"] and reply["outcome"]["status"] == "approved", reply
    return reply["outcome"]["txn"]


def owed(agent) -> dict:
    return agent.call("status")["result"]["tc_uploads"]


@pytest.mark.parametrize("card", ["debit", "credit"])  # ARPC method 1 and method 2 (a different CDOL2)
def test_an_approved_chip_sale_uploads_its_tc_and_the_bank_verifies_and_keeps_it(chip_agent, sim_host, card):
    agent, insert = chip_agent
    txn = chip_sale(agent, insert, card, "66.00")
    report = tcs(sim_host)
    assert report["missing"] == [], report
    [tc] = report["received"]
    assert (tc["stan"], tc["kind"], tc["card"], tc["amount"]) == (f"{txn['trace']:06d}", "sale", card, 6600)
    assert tc["verified"] and tc["copies"] == 1, tc
    assert owed(agent) == {"owed": 0, "undelivered": 0}
    assert sim_host.ledger()["cards"][card]["net_charged"] == 6600
    # the journal keeps what was sent: 0320 with the TC in 55 and the CDOL2 data, never the PAN or track 2
    raw = b"".join(p.read_bytes() for p in agent.directory.glob("journal.db*"))
    assert CARDS[card].pan.encode() not in raw
    assert "TCs" not in agent.cli("status").stdout


def test_a_lost_tc_answer_never_changes_the_sale_and_the_tc_goes_again_before_settlement(chip_agent, sim_host):
    agent, insert = chip_agent
    sim_host.fault("drop_response:mti=0320,count=1")  # the bank keeps the TC, its answer is lost
    txn = chip_sale(agent, insert, "debit", "12.34")
    assert txn["state"] == "approved"
    assert sim_host.ledger()["cards"]["debit"]["net_charged"] == 1234
    assert owed(agent) == {"owed": 1, "undelivered": 0}
    assert "TCs       1 waiting to be uploaded" in agent.cli("status").stdout
    settled = agent.json("settle", "--yes", password=True)
    assert settled["ok"] and settled["outcome"]["details"]["result"] == "balanced", settled
    assert owed(agent) == {"owed": 0, "undelivered": 0}
    [tc] = tcs(sim_host)["received"]
    assert tc["verified"] and tc["copies"] == 2  # the same TC again, kept once
    assert sim_host.ledger()["cards"]["debit"]["net_charged"] == 1234


def test_a_tc_still_owed_when_the_daemon_is_killed_is_sent_at_recovery(chip_agent, sim_host):
    agent, insert = chip_agent
    sim_host.fault("drop_before:mti=0320,count=1")  # the TC never reaches the bank
    txn = chip_sale(agent, insert, "debit", "20.00")
    assert tcs(sim_host, "--missing")["missing"][0]["stan"] == f"{txn['trace']:06d}"
    agent.kill()
    agent.start()  # recovery sends what is owed, the TC too
    deadline = time.monotonic() + 15
    while tcs(sim_host)["missing"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert tcs(sim_host)["missing"] == [] and tcs(sim_host)["received"][0]["verified"]
    while owed(agent)["owed"] and time.monotonic() < deadline:
        time.sleep(0.1)  # the bank took it; the journal records the answer right after
    assert owed(agent) == {"owed": 0, "undelivered": 0}
    assert sim_host.ledger()["cards"]["debit"]["net_charged"] == 2000


def test_a_declined_tc_upload_is_tried_a_bounded_number_of_times_and_never_touches_the_money(chip_agent, sim_host):
    agent, insert = chip_agent
    sim_host.fault("decline:mti=0320,count=10")  # the bank refuses every TC upload
    chip_sale(agent, insert, "debit", "30.00")
    assert owed(agent) == {"owed": 1, "undelivered": 0}  # first try refused (05): still owed
    for _ in range(2):  # tried again before each online message
        assert agent.json("echo")["ok"]
    assert owed(agent) == {"owed": 0, "undelivered": 1}  # three tries: left undelivered, shown
    assert "0 waiting to be uploaded, 1 undelivered" in agent.cli("status").stdout
    assert agent.json("echo")["ok"]  # and no longer sent
    assert tcs(sim_host)["received"] == [] and len(tcs(sim_host)["missing"]) == 1
    assert sim_host.ledger()["cards"]["debit"]["net_charged"] == 3000


def test_the_tc_upload_carries_the_second_generate_ac_and_the_original_fields(chip_agent, sim_host):
    agent, insert = chip_agent
    txn = chip_sale(agent, insert, "debit", "45.00")
    from agent.engine.requests import Profile, tc_upload_request
    from agent.journal import Journal

    journal = Journal.open(agent.directory / "journal.db", fingerprint_key=None, read_only=True)
    try:
        upload = journal.tc_upload_of(txn["id"])
        message = tc_upload_request(Profile("10000001", "123456789012345"), journal.get(txn["id"]), upload.icc,
                                    upload.card_sequence)
    finally:
        journal.close()
    assert upload.state == "answered" and upload.tries == 1
    assert message.mti == "0320" and message[60][:2] == "00" and message[60][8:11] == "203"
    assert (message[3], message[4], message[11]) == ("000000", "000000004500", f"{txn['trace']:06d}")
    assert message[37] == txn["rrn"] and message[38] == txn["auth_code"] and 2 not in message and 35 not in message
    icc = {item.tag: item.value for item in tlv.decode(message[55])}
    assert icc[0x9F27] == b"\x40" and len(icc[0x9F26]) == 8 and 0x8A in icc and 0x91 in icc and 0x57 not in icc
