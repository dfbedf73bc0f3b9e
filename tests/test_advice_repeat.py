"""An advice sent again is marked as a repeat (0221, the dialect's repeat MTI, as a reversal's 0401), and
the advice owed goes before any other online message, the echo test included: the CLI → the daemon →
real TCP → the acquirer simulator, which answers a 0221 from the booking of its 0220 and never charges
twice."""

from __future__ import annotations

import pytest

from agent import config
from agent.engine.requests import Profile
from agent.iso8583 import get_dialect
from tests.agentproc import start_agent
from tests.test_preauth_daemon import bank, preauth


@pytest.fixture
def agent(tmp_path, sim_host):
    running = start_agent(tmp_path, sim_host.port)
    yield running
    running.stop()


def sent_mtis(agent, txn_id: int) -> list[str]:
    """The MTI of each try of an advice, as the journal keeps them (after the request journaled at the start)."""
    shown = agent.json("journal", "show", str(txn_id))
    journaled, *tries = [m["body"]["mti"] for m in shown["messages"] if m["direction"] == "sent"]
    assert journaled == "0220"
    return tries


def queued_advice(agent, sim_host, fault: str) -> dict:
    """A completion advice (预授权完成通知) whose first copy meets `fault`: it stays owed."""
    held = preauth(agent, "600.00")
    sim_host.fault(fault)
    queued = agent.json("preauth", "complete", str(held["txn"]["trace"]), "640.00", "--advice")["outcome"]
    assert queued["details"]["queued"], queued
    assert agent.call("status")["result"]["advices"] == {"pending": 1}
    return queued


def test_an_advice_sent_again_is_a_0221_answered_from_the_first_booking(agent, sim_host):
    queued = queued_advice(agent, sim_host, "drop_response:mti=0220,count=1")  # booked, answer lost
    assert bank(sim_host) == (0, 64000)
    sale = agent.json("sale", "10.00", "--card", "credit")  # the advice goes first, as a repeat
    assert sale["outcome"]["status"] == "approved", sale
    assert sent_mtis(agent, queued["txn"]["id"]) == ["0220", "0221"]
    assert agent.call("status")["result"]["advices"] == {"pending": 0}
    assert bank(sim_host) == (0, 64000)  # charged once


def test_a_repeat_whose_first_copy_never_arrived_is_booked_once(agent, sim_host):
    queued = queued_advice(agent, sim_host, "drop_before:mti=0220,count=1")  # the bank never saw it
    assert bank(sim_host) == (60000, 0)
    settled = agent.cli("settle", "--yes", password=True)  # advices are delivered before the 0500
    assert settled.returncode == 0, settled.stderr
    assert sent_mtis(agent, queued["txn"]["id"]) == ["0220", "0221"]
    assert bank(sim_host) == (0, 64000)


def test_a_repeated_advice_meeting_a_declining_bank_is_still_answered_from_its_booking(agent, sim_host):
    queued = queued_advice(agent, sim_host, "drop_response:mti=0220,count=1")
    sim_host.fault("decline:count=1")  # whatever comes next would be refused: the 0221 is a repeat, not new
    assert agent.json("echo")["ok"]
    assert sent_mtis(agent, queued["txn"]["id"]) == ["0220", "0221"]
    assert agent.call("lookup", {"trace": queued["txn"]["trace"]})["result"]["transactions"][0]["state"] == "approved"
    assert bank(sim_host) == (0, 64000)


def test_the_echo_goes_after_the_advice_owed(agent, sim_host):
    queued_advice(agent, sim_host, "drop_response:mti=0220,count=1")
    echoed = agent.cli("echo")
    assert echoed.returncode == 0, echoed.stderr
    assert agent.call("status")["result"]["advices"] == {"pending": 0}  # delivered before the 0820


def test_the_echo_waits_while_the_advice_cannot_be_delivered(agent, sim_host):
    queued = queued_advice(agent, sim_host, "drop_response:mti=0220,count=1")
    sim_host.fault("drop_before:mti=0221,count=1")
    echoed = agent.cli("echo")
    errors = [line for line in echoed.stderr.splitlines() if not line.startswith("…")]  # progress lines aside
    assert echoed.returncode != 0 and len(errors) == 1 and "advice" in errors[0], echoed.stderr
    assert "Traceback" not in echoed.stderr
    assert agent.call("status")["result"]["advices"] == {"pending": 1}
    assert sent_mtis(agent, queued["txn"]["id"]) == ["0220", "0221"]


@pytest.mark.parametrize("name", ["cup", "iso87"])
def test_the_repeat_mtis_are_dialect_data(name):
    dialect = get_dialect(name)
    assert (dialect.repeat_mti("0220"), dialect.repeat_mti("0400"), dialect.repeat_mti("0200")) == \
        ("0221", "0401", "0200")
    profile = Profile.from_config(config.from_mapping({"acquirer": {"dialect": name}}))
    assert profile.repeat_of("0220") == "0221" and profile.repeat_of("0400") == "0401"


def test_a_dialect_repeat_must_keep_the_message_class():
    from agent.iso8583.dialect import Dialect

    with pytest.raises(ValueError, match="repeat of 0220"):
        Dialect(name="x", description="", mti="bcd", bitmap="binary", fields={}, repeats={"0220": "0230"})
