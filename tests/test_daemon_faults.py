"""Every fault the simulator can inject, at every step of sale, void, refund and settlement, through the
real daemon and real TCP: afterwards the bank's ledger equals what the journal says, no trace number
repeats, and nothing is lost."""

from __future__ import annotations

import pytest

from agent.journal import Journal
from simulator.host.faults import FAULT_KINDS
from tests.agentproc import SUPERVISOR_PASSWORD, start_agent

#: fault → its text with the knobs that make it bite within the agent's 1 s answer timeout
FAULTS = {
    "delay": "delay:seconds=1.5",
    "drop_response": "drop_response",
    "drop_before": "drop_before",
    "drop_after": "drop_after",
    "duplicate": "duplicate",
    "corrupt_mac": "corrupt_mac",
    "wrong_stan": "wrong_stan",
    "wrong_amount": "wrong_amount",
    "garbage": "garbage",
    "decline": "decline",
    "refuse": "refuse:seconds=0.5",
}


def test_the_matrix_covers_every_fault_the_simulator_has():
    assert set(FAULTS) == set(FAULT_KINDS)


def journal_net(directory) -> dict[str, int]:
    """Net charge per masked card according to the journal; also: no trace repeats, the chain verifies."""
    journal = Journal.open(directory / "journal.db", fingerprint_key=(directory / "fingerprint.key").read_bytes())
    try:
        traces = [t.trace for t in journal.find(limit=500)]
        assert len(traces) == len(set(traces)), f"trace number reused: {sorted(traces)}"
        assert journal.verify().ok
        return journal.net_charged()
    finally:
        journal.close()


def ledger_net(sim_host) -> dict[str, int]:
    return {c["masked_pan"]: c["net_charged"] for c in sim_host.ledger()["cards"].values() if c["net_charged"]}


def settle_everything(agent):
    agent.call("reversal_retry")
    return agent.call("settle", {"confirm": True}, password=SUPERVISOR_PASSWORD)


STEPS = {
    # step name → (mti the fault targets, what to run after the setup)
    "sale": "0200",
    "void": "0200",
    "refund": "0220",
    "settlement": "0500",
    "upload": "0320",
    "reversal": "0400",
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
@pytest.mark.parametrize("step", sorted(STEPS))
def test_fault_at_step_keeps_bank_and_journal_equal(tmp_path, sim_host, fault, step):
    agent = start_agent(tmp_path, sim_host.port, response_timeout=1.0)
    try:
        first = agent.call("sale", {"amount": 10000, "card": "debit"})
        assert first["ok"] and first["outcome"]["status"] == "approved", first
        trace = first["outcome"]["txn"]["trace"]
        mti = STEPS[step]
        spec = FAULTS[fault] + ("," if ":" in FAULTS[fault] else ":") + f"mti={mti},count=1"
        if fault == "refuse":
            spec = FAULTS[fault]  # refusing acts on connections, not on one MTI
            agent.stop()  # a fresh daemon has to connect again
            sim_host.fault(spec)
            agent.start()
        else:
            sim_host.fault(spec)
        if step == "sale":
            agent.call("sale", {"amount": 2500, "card": "credit"})
        elif step == "void":
            agent.call("void", {"trace": trace}, password=SUPERVISOR_PASSWORD)
        elif step == "refund":
            agent.call("refund", {"trace": trace, "amount": 4000}, password=SUPERVISOR_PASSWORD)
        elif step == "reversal":
            sim_host.fault("drop_response:mti=0200,count=1")  # a sale that must be reversed…
            agent.call("sale", {"amount": 1500, "card": "credit"})  # …whose reversal meets the fault
        settle_everything(agent)
        sim_host.control(op="clear")
        final = settle_everything(agent)
        status = agent.call("status")["result"]
        assert status["reversals"]["pending"] == 0, status
        assert status["journal"]["in_doubt"] == 0, status
        assert status["journal"]["settling"] is None, (final, status)
        assert ledger_net(sim_host) == {k: v for k, v in journal_net(tmp_path).items() if v}
    finally:
        agent.stop()
