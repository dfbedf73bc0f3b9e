"""A settlement step the bank refuses settles nothing: the batch stays "settling" and the next settle
resumes it, through the real daemon and real TCP.  Found by the 10,000-power-cut run: a 0500 answered
05 without its field 48 was taken for an "error" result, every record was uploaded and the batch closed
in the journal while the bank had never settled it."""

from __future__ import annotations

import sqlite3

import pytest

from tests.agentproc import SUPERVISOR_PASSWORD, start_agent


def settle(agent) -> dict:
    return agent.call("settle", {"confirm": True}, password=SUPERVISOR_PASSWORD)


def journal_settled(directory) -> set[str]:
    with sqlite3.connect(f"file:{directory / 'journal.db'}?mode=ro", uri=True) as db:
        return {f"{n:06d}" for (n,) in db.execute("SELECT number FROM batches WHERE state = 'settled'")}


def host_settled(sim_host) -> set[str]:
    return {s["batch"] for s in sim_host.ledger()["settlements"]}


@pytest.mark.parametrize("mti, what", [("0500", "settlement"), ("0320", "batch upload")])
def test_fix_a_settlement_step_the_bank_refuses_leaves_the_batch_settling_until_it_settles(
        tmp_path, sim_host, mti, what):
    agent = start_agent(tmp_path, sim_host.port, response_timeout=1.0)
    try:
        sale = agent.call("sale", {"amount": 4200, "card": "debit"})
        assert sale["outcome"]["status"] == "approved", sale
        batch = f"{agent.call('status')['result']['batch']['number']:06d}"
        sim_host.fault(f"decline:mti={mti},count=1")  # 0320: the upload end, which every settlement sends
        refused = settle(agent)
        assert not refused["ok"], refused
        assert refused["error"]["code"] == "settlement_incomplete", refused
        assert "refused it (answer 05)" in refused["error"]["message"] and what in refused["error"]["message"]
        assert agent.call("status")["result"]["journal"]["settling"] is not None
        assert journal_settled(tmp_path) == set()
        if mti == "0500":
            assert host_settled(sim_host) == set()  # the bank settled nothing
        done = settle(agent)
        assert done["ok"] and done["outcome"]["status"] == "done", done
        assert agent.call("status")["result"]["journal"]["settling"] is None
        assert journal_settled(tmp_path) == host_settled(sim_host) == {batch}
    finally:
        agent.stop()
