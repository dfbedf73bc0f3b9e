"""A completion's correction as a fix, end to end: CLI → daemon → journal → real TCP → the acquirer
simulator.  Each failure point leaves the bank's ledger (held and charged) equal to the journal, the
operator told where the money stands with the exit status that says so, and one resume — or the
supervisor's close — finishing it; a SIGKILL between the completion void and the new completion is
reported after the restart, never dropped."""

from __future__ import annotations

import pytest

from tests.agentproc import start_agent
from tests.harness import wait_for
from tests.test_daemon_fixes import EXIT_CONFIRM, EXIT_OPEN, EXIT_UNKNOWN, _journal_txns, journal_net, open_fixes
from tests.test_preauth_daemon import bank, preauth


@pytest.fixture
def agent(tmp_path, sim_host):
    running = start_agent(tmp_path, sim_host.port)
    yield running
    running.stop()


def wrong_completion(agent, held: str = "1000.00", completed: str = "1100.00") -> dict:
    hold = preauth(agent, held)
    assert hold["status"] == "approved", hold
    done = agent.json("preauth", "complete", f"{hold['txn']['trace']:06d}", completed)
    assert done["ok"] and done["outcome"]["status"] == "approved", done
    return done["outcome"]["txn"]


def correct(agent, trace: int, *args: str):
    return agent.cli("correct", f"{trace:06d}", *args, password=True)


def assert_books_agree(agent, sim_host):
    assert journal_net(agent) == bank(sim_host)[1]


@pytest.mark.parametrize("fault", ["decline:mti=0200,count=1,skip=1", "drop_response:mti=0200,count=1,skip=1"])
def test_new_completion_fails_after_the_void_then_one_resume_finishes(agent, sim_host, fault):
    wrong = wrong_completion(agent)
    sim_host.fault(fault)  # the completion void answers; the new completion does not go through
    result = correct(agent, wrong["trace"], "--amount", "980.00")
    assert result.returncode == EXIT_OPEN, result
    assert "Voided the completion of 1100.00." in result.stdout and "980.00 still to complete" in result.stdout
    assert f"posagent correct {wrong['trace']:06d} --resume" in result.stdout
    assert bank(sim_host) == (100000, 0)  # the hold is back on the card, nothing charged
    assert_books_agree(agent, sim_host)
    [fix] = open_fixes(agent)
    assert fix["kind"] == "completion_fix"
    assert fix["owed"] == [{"op": "completion", "amount": 98000, "status": "owed"}]
    listed = agent.cli("fixes")
    assert listed.returncode == EXIT_OPEN and "980.00 still to complete" in listed.stdout, listed
    assert "980.00 still to complete" in agent.cli("status").stdout
    sim_host.clear_faults()
    done = correct(agent, wrong["trace"], "--resume")
    assert done.returncode == 0, done
    assert bank(sim_host) == (0, 98000) and open_fixes(agent) == []
    assert_books_agree(agent, sim_host)


def test_completion_void_declined_first_nothing_done_then_resume(agent, sim_host):
    wrong = wrong_completion(agent)
    sim_host.fault("decline:mti=0200,count=1")
    result = correct(agent, wrong["trace"], "--amount", "980.00")
    assert result.returncode == EXIT_OPEN and "Nothing done yet." in result.stdout, result
    assert bank(sim_host) == (0, 110000)
    done = correct(agent, wrong["trace"], "--amount", "980.00")  # the same command again resumes it
    assert done.returncode == 0, done
    assert bank(sim_host) == (0, 98000)
    assert_books_agree(agent, sim_host)


def test_open_completion_fix_blocks_settlement_until_closed_with_a_reason(agent, sim_host):
    wrong = wrong_completion(agent)
    sim_host.fault("decline:mti=0200,count=1,skip=1")
    assert correct(agent, wrong["trace"], "--amount", "980.00").returncode == EXIT_OPEN
    blocked = agent.cli("settle", "--yes", password=True)
    assert blocked.returncode == EXIT_CONFIRM and "980.00 still to complete" in blocked.stderr, blocked
    [fix] = open_fixes(agent)
    closed = agent.cli("fixes", "--close", str(fix["id"]), "--reason", "completed on a paper slip",
                       password=True)
    assert closed.returncode == 0 and "completed on a paper slip" in closed.stdout, closed
    assert open_fixes(agent) == []
    gone = correct(agent, wrong["trace"], "--resume")
    assert gone.returncode != 0 and "no open correction" in gone.stderr, gone
    assert agent.cli("settle", "--yes", password=True).returncode == 0
    assert_books_agree(agent, sim_host)


def test_sigkill_between_the_completion_void_and_the_new_completion(agent, sim_host):
    """The daemon dies while the new completion's answer is awaited: the CLI says the outcome is unknown;
    after the restart the completion is reversed, the fix is reported open, and one resume finishes."""
    wrong = wrong_completion(agent)
    sim_host.fault("delay:mti=0200,seconds=20,count=1,skip=1")
    cli = agent.cli_in_background("correct", f"{wrong['trace']:06d}", "--amount", "980.00", password=True)
    wait_for(lambda: any(t.kind == "completion" and t.state == "sending" for t in _journal_txns(agent)), 30,
             "the new completion journaled and sent")
    agent.kill()
    out, err = cli.communicate(timeout=30)
    assert cli.returncode == EXIT_UNKNOWN, (out, err)
    sim_host.clear_faults()
    agent.start()
    wait_for(lambda: "left open" in agent.log_text, 30, "recovery reports the open fix")
    assert bank(sim_host) == (100000, 0)
    assert_books_agree(agent, sim_host)
    [fix] = open_fixes(agent)
    assert fix["owed"] == [{"op": "completion", "amount": 98000, "status": "owed"}]
    done = correct(agent, wrong["trace"], "--resume")
    assert done.returncode == 0, done
    assert bank(sim_host) == (0, 98000) and open_fixes(agent) == []
    assert_books_agree(agent, sim_host)
