"""Online PIN end to end without a chip reader: the PIN given to the daemon (control API or
`posagent sale --pin-stdin`) → field 52 enciphered under the PIN key from sign-on → real TCP → the
acquirer simulator deciphers it and checks it against the card's PIN (55 wrong, 75 after three).

The chip path (the card's CVM list asking for the PIN, through real pcscd) is test_daemon_emv_terminal.py."""

from __future__ import annotations

import subprocess
import sys

import pytest

from simulator.host.ledger import Ledger
from tests.agentproc import ROOT, start_agent

PIN = "2468"  # the pin-required test card's PIN (simulator/data/cards.toml)


@pytest.fixture
def agent(tmp_path, sim_host):
    running = start_agent(tmp_path, sim_host.port)
    yield running
    running.stop()


def codes_of(sim_host, card: str) -> list[str]:
    ledger = Ledger(sim_host.db)
    try:
        return [row["response_code"] for row in ledger.read("SELECT response_code FROM txns WHERE card = ? "
                                                            "ORDER BY id", (card,))]
    finally:
        ledger.close()


def sale(agent, amount: int, pin: str | None, card: str = "pin-required") -> dict:
    args = {"amount": amount, "card": card, "confirm_duplicate": True}
    if pin is not None:
        args["pin"] = pin
    return agent.call("sale", args)


def test_the_right_pin_is_approved_and_neither_the_pin_nor_its_block_is_kept(agent, sim_host):
    reply = sale(agent, 1234, PIN)
    assert reply["ok"] and reply["outcome"]["status"] == "approved", reply
    assert reply["outcome"]["txn"]["entry_mode"] == "021"
    assert sim_host.ledger()["cards"]["pin-required"]["net_charged"] == 1234
    shown = agent.json("journal", "show", str(reply["outcome"]["txn"]["id"]))
    sent = next(m for m in shown["messages"] if m["direction"] == "sent")
    fields = sent["body"]["fields"]
    assert fields["52"] == "[removed]" and fields["26"] == "12" and fields["22"] == "021", fields
    leaks = [f'"pin": "{PIN}"'.encode(), f'"pin":"{PIN}"'.encode(), f"'pin': '{PIN}'".encode()]
    for path in [*agent.directory.glob("journal.db*"), agent.directory / "agent.log"]:
        raw = path.read_bytes()
        assert not any(leak in raw for leak in leaks), path


def test_a_wrong_pin_is_declined_55_and_the_third_in_a_row_75_which_then_locks_the_card(agent, sim_host):
    first = sale(agent, 500, "1111")
    assert first["ok"] and first["outcome"]["status"] == "declined"
    assert "Wrong PIN" in first["outcome"]["message"]
    assert sale(agent, 500, "2222")["outcome"]["status"] == "declined"
    third = sale(agent, 500, "3333")
    assert "Too many wrong PINs" in third["outcome"]["message"]
    locked = sale(agent, 500, PIN)  # the right PIN no longer helps
    assert locked["outcome"]["status"] == "declined" and "Too many wrong PINs" in locked["outcome"]["message"]
    assert codes_of(sim_host, "pin-required") == ["55", "55", "75", "75"]
    assert sim_host.ledger()["cards"].get("pin-required", {}).get("net_charged", 0) == 0


def test_a_right_pin_resets_the_count_of_wrong_ones(agent, sim_host):
    assert sale(agent, 100, "1111")["outcome"]["status"] == "declined"
    assert sale(agent, 100, PIN)["outcome"]["status"] == "approved"
    assert sale(agent, 100, "1111")["outcome"]["status"] == "declined"
    assert sale(agent, 100, "1111")["outcome"]["status"] == "declined"
    assert codes_of(sim_host, "pin-required") == ["55", "00", "55", "55"]


def test_a_pin_required_card_without_a_pin_is_declined_55(agent, sim_host):
    reply = sale(agent, 700, None)
    assert reply["outcome"]["status"] == "declined" and "Wrong PIN" in reply["outcome"]["message"]
    assert codes_of(sim_host, "pin-required") == ["55"]


def test_a_pin_for_a_card_that_has_none_is_a_format_error_at_the_issuer(agent, sim_host):
    reply = sale(agent, 700, "1234", card="debit")
    assert reply["outcome"]["status"] == "declined"
    assert codes_of(sim_host, "debit") == ["30"]


@pytest.mark.parametrize("bad", ["12a4", "123", "1234567890123", "１２３４"])
def test_a_malformed_pin_is_a_usage_error_that_never_repeats_it(agent, sim_host, bad):
    reply = agent.call("sale", {"amount": 100, "card": "pin-required", "pin": bad})
    assert not reply["ok"] and reply["error"]["code"] == "usage"
    assert "pin" in reply["error"]["message"] and bad not in reply["error"]["message"]
    assert codes_of(sim_host, "pin-required") == []


def test_the_cli_reads_the_pin_from_standard_input(agent, sim_host):
    command = [sys.executable, "-m", "agent", "--config", str(agent.config), "sale", "9.99", "--card",
               "pin-required", "--pin-stdin"]
    good = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, input=PIN + "\n", timeout=60)
    assert good.returncode == 0, good.stderr
    assert PIN not in good.stdout + good.stderr
    bad = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, input="12x4\n", timeout=60)
    assert bad.returncode != 0 and "--pin-stdin" in bad.stderr and "12x4" not in bad.stderr
    assert codes_of(sim_host, "pin-required") == ["00"]


def test_a_pre_auth_of_a_pin_required_card_takes_the_pin_too(agent, sim_host):
    from tests.agentproc import SUPERVISOR_PASSWORD
    held = agent.call("preauth", {"amount": 5000, "card": "pin-required", "pin": PIN}, password=SUPERVISOR_PASSWORD)
    assert held["ok"] and held["outcome"]["status"] == "approved", held
    refused = agent.call("preauth", {"amount": 5000, "card": "pin-required", "confirm_duplicate": True},
                         password=SUPERVISOR_PASSWORD)
    assert refused["outcome"]["status"] == "declined"
    assert codes_of(sim_host, "pin-required") == ["00", "55"]
