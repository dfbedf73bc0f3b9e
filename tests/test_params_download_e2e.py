"""A CA key rotation end to end: the acquirer publishes a new CA key and revokes the old one (`posim host
params`), the terminal signs on and downloads them, and through vpcd → pcscd → the daemon a card signed under
the new key passes offline data authentication while a card signed under the revoked key fails with the
DDA-failed bit in its TVR.  The set in force shows in the status and in every chip transaction's journal.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from agent.drivers.pcsc import CardReader
from simulator import emvpki
from simulator.card import VirtualCard, authdata
from simulator.testcards import load_cards
from tests.agentproc import ROOT, start_agent

pytestmark = pytest.mark.realstack

READER = "Virtual PCD 00 01"
PORT = 35964
CARDS = load_cards()
NEW_INDEX = 0x09


def posim(sim_host, *args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "simulator.cli", "host", "params", *args,
                             "--control", f"127.0.0.1:{sim_host.control_port}"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def key_file(path, ca: emvpki.RsaKey, index: int) -> str:
    """A CA key file in the terminal's format (what `posim host params rotate --key-file` reads)."""
    import hashlib
    modulus, exponent = ca.modulus_bytes(), ca.exponent_bytes()
    checksum = hashlib.sha1(emvpki.RID + bytes([index]) + modulus + exponent).hexdigest().upper()
    path.write_text(f'[[key]]\nrid = "{emvpki.RID.hex().upper()}"\nindex = "{index:02X}"\nexpiry = "1231"\n'
                    f'exponent = "{exponent.hex().upper()}"\nmodulus = "{modulus.hex().upper()}"\n'
                    f'checksum = "{checksum}"\n')
    return str(path)


@pytest.fixture
def new_ca():
    """A CA key of its own, and the virtual cards signed under it while the fixture is on (index 09)."""
    return emvpki._generate(1024)


def signed_under(monkeypatch, ca: emvpki.RsaKey | None) -> None:
    """Virtual cards from now on carry certificates under `ca` (index 09), or again under the test PKI's CA."""
    monkeypatch.undo()
    authdata.auth_records.cache_clear()
    if ca is not None:
        pki = emvpki.load_pki()
        rotated = emvpki.TestPki(ca, pki.issuers, pki.cards)
        monkeypatch.setattr(authdata.emvpki, "load_pki", lambda path=None: rotated)
        monkeypatch.setattr(authdata.emvpki, "CA_INDEX", NEW_INDEX)


def chip_sale(agent, card: str, amount: str) -> tuple[dict, dict]:
    virtual = VirtualCard(CARDS[card], PORT).start()
    try:
        reply = agent.json("sale", amount, "--confirm-duplicate")
    finally:
        virtual.remove()
    assert CardReader(READER, card_timeout=10).wait_for_removal(10)
    assert reply["ok"], reply
    shown = agent.json("journal", "show", str(reply["outcome"]["txn"]["id"]))
    sent = next(m for m in shown["messages"] if m["direction"] == "sent")
    return reply, {item["tag"]: item["value"] for item in sent["body"]["subfields"]["55"]}


def test_a_rotated_ca_key_is_downloaded_at_sign_on_and_decides_offline_authentication(
        tmp_path, sim_host, pcscd, new_ca, monkeypatch):
    reader = CardReader(READER, card_timeout=10)
    assert reader.wait_for_removal(10), "slot 1 still holds a card"
    agent = start_agent(tmp_path, sim_host.port, extra=f'[card_reader]\nreader = "{READER}"\ncard_timeout = 10\n')
    try:
        # the acquirer: the old key and the new one published, then the old one revoked
        posim(sim_host, "rotate", "--key-file", key_file(tmp_path / "old.toml", emvpki.load_pki().ca, emvpki.CA_INDEX))
        posim(sim_host, "rotate", "--key-file", key_file(tmp_path / "new.toml", new_ca, NEW_INDEX))
        shown = posim(sim_host, "revoke", "A000000333/08")
        assert '"keys": ["A000000333/09"]' in shown
        assert '"page_entries": 1' in posim(sim_host, "page", "1")  # the lists come one entry per answer

        before = agent.call("status")["result"]["params"]
        assert before["source"] == "files"
        signon = agent.json("signon")
        assert signon["ok"] and "chip parameters installed" in signon["outcome"]["message"], signon
        status = agent.call("status")["result"]["params"]
        assert status["source"] == "download" and status["version"] == "00000000/00000003"
        assert '"digest": "' + status["digest"].upper() in posim(sim_host, "show")  # the terminal's status upload

        # a card signed under the new key passes DDA through pcscd
        signed_under(monkeypatch, new_ca)
        reply, icc = chip_sale(agent, "debit", "12.34")
        assert reply["outcome"]["status"] == "approved" and int(icc["95"][:2], 16) == 0x00, icc["95"]

        # a card signed under the revoked key fails DDA: the TVR says so
        signed_under(monkeypatch, None)
        reply, icc = chip_sale(agent, "debit", "12.35")
        assert int(icc["95"][:2], 16) & 0x08, icc["95"]
    finally:
        agent.stop()
        authdata.auth_records.cache_clear()
    from agent.journal import Journal
    with Journal.open(tmp_path / "journal.db", fingerprint_key=None, read_only=True) as journal:
        rows = journal.core.conn.execute("SELECT details FROM events WHERE kind = 'chip.params'").fetchall()
    assert len(rows) == 2 and all(status["digest"] in row[0] for row in rows)
