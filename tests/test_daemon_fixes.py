"""Multi-step fixes, end to end: CLI → daemon → journal → real TCP → the acquirer simulator.

For every step at which a fix can fail, the bank's ledger equals the journal, the operator is told
where the money stands (and the exit status says so), and one resume finishes the fix with the
intended net charge."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.agentproc import ROOT, SUPERVISOR_PASSWORD, start_agent
from tests.harness import wait_for

EXIT_DECLINED, EXIT_CONFIRM, EXIT_UNKNOWN, EXIT_OPEN = 1, 4, 5, 6


@pytest.fixture
def agent(tmp_path, sim_host):
    running = start_agent(tmp_path, sim_host.port)
    yield running
    running.stop()


def net(sim_host, card: str = "debit") -> int:
    return sim_host.ledger()["cards"].get(card, {}).get("net_charged", 0)


def journal_net(agent, card: str = "debit") -> int:
    """What the journal says the card stands charged (the same query the demo and the checker use)."""
    from agent.journal import Journal
    with Journal.open(agent.directory / "journal.db", fingerprint_key=None, read_only=True) as journal:
        return sum(journal.net_charged().values())


def sale(agent, amount: str, card: str = "debit", *flags: str) -> dict:
    reply = agent.json("sale", amount, "--card", card, "--confirm-duplicate", *flags)
    assert reply["ok"] and reply["outcome"]["status"] == "approved", reply
    return reply["outcome"]["txn"]


def correct(agent, trace: int, *args: str):
    return agent.cli("correct", f"{trace:06d}", *args, password=True)


def open_fixes(agent) -> list[dict]:
    return agent.call("fixes")["result"]["open"]


def assert_books_agree(agent, sim_host, card="debit"):
    assert journal_net(agent) == net(sim_host, card)


def test_correction_without_a_card_changes_nothing(agent, sim_host):
    """Defect 1: the card is read before the void, so a missing card voids nothing."""
    wrong = sale(agent, "12.34")
    result = correct(agent, wrong["trace"], "--amount", "10.00", "--card", "no-such-card")
    assert result.returncode == EXIT_DECLINED, result
    assert "Nothing was changed" in result.stderr
    assert net(sim_host) == 1234 and open_fixes(agent) == []
    fixed = correct(agent, wrong["trace"], "--amount", "10.00", "--card", "debit")
    assert fixed.returncode == 0, fixed
    assert net(sim_host) == 1000
    assert_books_agree(agent, sim_host)


def test_a_different_card_is_refused_before_the_void(agent, sim_host):
    wrong = sale(agent, "12.34")
    result = correct(agent, wrong["trace"], "--amount", "10.00", "--card", "credit")
    assert result.returncode == EXIT_DECLINED and "not the card of trace" in result.stderr, result
    assert net(sim_host) == 1234 and net(sim_host, "credit") == 0


@pytest.mark.parametrize("fault", ["decline:mti=0200,count=1,skip=1", "drop_response:mti=0200,count=1,skip=1",
                                   "drop_before:mti=0200,count=1,skip=1"])
def test_resale_fails_after_the_void_then_one_resume_finishes(agent, sim_host, fault):
    """The void went through, the new sale did not: the fix stays open, says so, and a resume finishes."""
    wrong = sale(agent, "12.34")
    sim_host.fault(fault)
    result = correct(agent, wrong["trace"], "--amount", "10.00", "--card", "debit")
    assert result.returncode == EXIT_OPEN, result
    assert "Voided 12.34." in result.stdout and "10.00 still to charge: insert the card" in result.stdout
    assert f"posagent correct {wrong['trace']:06d} --resume" in result.stdout
    assert net(sim_host) == 0
    assert_books_agree(agent, sim_host)
    [fix] = open_fixes(agent)
    assert fix["owed"] == [{"op": "sale", "amount": 1000, "status": "owed"}]
    status = agent.cli("status")
    assert "1 open" in status.stdout and "10.00 still to charge" in status.stdout
    again = correct(agent, wrong["trace"], "--amount", "10.00", "--card", "debit")  # not refused: resumed
    assert again.returncode == 0, again
    assert net(sim_host) == 1000 and open_fixes(agent) == []
    assert_books_agree(agent, sim_host)


def test_resume_without_a_card_keeps_the_fix_open_and_says_so(agent, sim_host):
    wrong = sale(agent, "12.34")
    sim_host.fault("decline:mti=0200,count=1,skip=1")
    assert correct(agent, wrong["trace"], "--amount", "10.00", "--card", "debit").returncode == EXIT_OPEN
    missing = correct(agent, wrong["trace"], "--resume", "--card", "no-such-card")
    assert missing.returncode == EXIT_OPEN and "10.00 still to charge" in missing.stdout, missing
    done = correct(agent, wrong["trace"], "--resume", "--card", "debit")
    assert done.returncode == 0 and net(sim_host) == 1000, done


@pytest.mark.parametrize("fault", ["decline:mti=0200,count=1", "drop_response:mti=0200,count=1"])
def test_void_fails_first_then_resume(agent, sim_host, fault):
    wrong = sale(agent, "12.34")
    sim_host.fault(fault)  # the first 0200 after the card read is the void
    result = correct(agent, wrong["trace"], "--amount", "10.00", "--card", "debit")
    assert result.returncode == EXIT_OPEN, result
    assert "Nothing done yet." in result.stdout and "12.34 still to void" in result.stdout
    assert net(sim_host) == 1234
    assert_books_agree(agent, sim_host)
    done = correct(agent, wrong["trace"], "--resume", "--card", "debit")
    assert done.returncode == 0, done
    assert net(sim_host) == 1000 and open_fixes(agent) == []


@pytest.mark.parametrize("fault", ["decline:mti=0200,count=1", "drop_response:mti=0200,count=1"])
def test_undercharge_sale_fails_then_resume(agent, sim_host, fault):
    short = sale(agent, "10.00")
    sim_host.fault(fault)
    result = correct(agent, short["trace"], "--amount", "12.00", "--card", "debit")
    assert result.returncode == EXIT_OPEN and "2.00 still to charge" in result.stdout, result
    assert net(sim_host) == 1000
    done = correct(agent, short["trace"], "--resume", "--card", "debit")
    assert done.returncode == 0 and net(sim_host) == 1200, done
    assert_books_agree(agent, sim_host)


@pytest.mark.parametrize("fault", ["decline:mti=0220,count=1", "drop_response:mti=0220,count=1"])
def test_overcharge_refund_after_settlement_fails_then_resume(agent, sim_host, fault):
    wrong = sale(agent, "12.00")
    assert agent.cli("settle", "--yes", password=True).returncode == 0
    sim_host.fault(fault)
    result = correct(agent, wrong["trace"], "--amount", "10.00")
    assert result.returncode == EXIT_OPEN and "2.00 still to refund" in result.stdout, result
    assert net(sim_host) == 1200
    done = correct(agent, wrong["trace"], "--resume")
    assert done.returncode == 0 and net(sim_host) == 1000, done
    assert_books_agree(agent, sim_host)


def test_duplicate_fix_void_declined_then_resumed(agent, sim_host):
    sale(agent, "50.00")
    second = sale(agent, "50.00")
    sim_host.fault("decline:mti=0200,count=1")
    result = agent.cli("duplicates", "--fix", str(second["id"]), password=True)
    assert result.returncode == EXIT_OPEN and f"posagent duplicates --fix {second['id']}" in result.stdout, result
    assert net(sim_host) == 10000
    done = agent.cli("duplicates", "--fix", str(second["id"]), password=True)
    assert done.returncode == 0 and net(sim_host) == 5000, done


def test_supervisor_closes_an_open_fix_with_a_reason(agent, sim_host):
    wrong = sale(agent, "12.34")
    sim_host.fault("decline:mti=0200,count=1,skip=1")
    assert correct(agent, wrong["trace"], "--amount", "10.00", "--card", "debit").returncode == EXIT_OPEN
    [fix] = open_fixes(agent)
    no_reason = agent.cli("fixes", "--close", str(fix["id"]), password=True)
    assert no_reason.returncode == 2 and "--reason" in no_reason.stderr
    closed = agent.cli("fixes", "--close", str(fix["id"]), "--reason", "customer paid cash", password=True)
    assert closed.returncode == 0 and "customer paid cash" in closed.stdout, closed
    assert open_fixes(agent) == []
    again = agent.cli("fixes", "--close", str(fix["id"]), "--reason", "twice", password=True)
    assert again.returncode == EXIT_DECLINED and "closed" in again.stderr
    events = agent.json("journal", "purchase", str(wrong["id"]))
    assert events  # the purchase's transactions are still there to show


def test_open_fix_blocks_settlement_until_confirmed(agent, sim_host):
    wrong = sale(agent, "12.34")
    sim_host.fault("decline:mti=0200,count=1,skip=1")
    assert correct(agent, wrong["trace"], "--amount", "10.00", "--card", "debit").returncode == EXIT_OPEN
    blocked = agent.cli("settle", "--yes", password=True)
    assert blocked.returncode == EXIT_CONFIRM and "still open" in blocked.stderr, blocked
    assert "10.00 still to charge" in blocked.stderr and "--confirm-open-fixes" in blocked.stderr
    settled = agent.cli("settle", "--yes", "--confirm-open-fixes", password=True)
    assert settled.returncode == 0, settled


def test_the_names_before_the_rename_still_work_with_the_same_exit_statuses(agent, sim_host):
    """`posagent chains [--close ID --reason]`, `--confirm-open-chains` and the control API's `chains`,
    `chain_close` and `confirm_open_chains`: unlisted, still taken; what comes back says fix."""
    wrong = sale(agent, "12.34")
    sim_host.fault("decline:mti=0200,count=1,skip=1")
    assert correct(agent, wrong["trace"], "--amount", "10.00", "--card", "debit").returncode == EXIT_OPEN
    listed, today = agent.cli("chains"), agent.cli("fixes")
    assert listed.returncode == today.returncode == EXIT_OPEN and listed.stdout == today.stdout
    assert "10.00 still to charge" in listed.stdout and "fix " in listed.stdout and "chain" not in listed.stdout
    assert agent.call("chains")["result"] == agent.call("fixes")["result"] == {"open": open_fixes(agent)}
    blocked = agent.cli("settle", "--yes", password=True)
    assert blocked.returncode == EXIT_CONFIRM and "--confirm-open-fixes" in blocked.stderr, blocked
    assert agent.cli("settle", "--yes", "--confirm-open-chains", password=True).returncode == 0
    [fix] = open_fixes(agent)
    closed = agent.cli("chains", "--close", str(fix["id"]), "--reason", "customer paid cash", "--json",
                       password=True)
    assert closed.returncode == 0 and '"fix"' in closed.stdout and "Fix %d closed" % fix["id"] in closed.stdout
    assert open_fixes(agent) == []
    again = agent.cli("chains", "--close", str(fix["id"]), "--reason", "twice", password=True)
    assert again.returncode == EXIT_DECLINED and "closed" in again.stderr


def _journal_txns(agent) -> list:
    from agent.journal import Journal
    with Journal.open(agent.directory / "journal.db", fingerprint_key=None, read_only=True) as journal:
        return journal.find(limit=100)


def test_sigkill_between_void_and_sale_is_reported_after_restart(agent, sim_host):
    """The daemon dies while the new sale's answer is awaited (the void went through): the CLI says the
    outcome is unknown (exit 5); after the restart the sale is reversed, the fix is reported open —
    never silently dropped — and one resume finishes it."""
    wrong = sale(agent, "12.34")
    sim_host.fault("delay:mti=0200,seconds=20,count=1,skip=1")  # the void answers; the new sale hangs
    cli = agent.cli_in_background("correct", f"{wrong['trace']:06d}", "--amount", "10.00", "--card", "debit",
                                  password=True)
    wait_for(lambda: any(t.kind == "correction" and t.state == "sending" for t in _journal_txns(agent)), 30,
             "the new sale journaled and sent")
    agent.kill()
    out, err = cli.communicate(timeout=30)
    assert cli.returncode == EXIT_UNKNOWN, (out, err)
    assert "outcome is unknown" in err and "never charged twice" in err and "posagent status" in err
    sim_host.clear_faults()
    agent.start()
    wait_for(lambda: "left open" in agent.log_text, 30, "recovery reports the open fix")
    assert net(sim_host) == 0  # voided, and the interrupted sale reversed
    assert_books_agree(agent, sim_host)
    [fix] = open_fixes(agent)
    assert fix["owed"] == [{"op": "sale", "amount": 1000, "status": "owed"}]
    done = correct(agent, wrong["trace"], "--resume", "--card", "debit")
    assert done.returncode == 0, done
    assert net(sim_host) == 1000 and open_fixes(agent) == []
    assert_books_agree(agent, sim_host)


def test_sigkill_after_the_last_step_marks_the_fix_done_at_restart(agent, sim_host):
    """Killed after the last step's approval reached the journal but before the fix was closed: the
    restart sees every step went through and closes it — nothing is charged again."""
    wrong = sale(agent, "12.34")
    sim_host.fault("delay:mti=0200,seconds=1.5,count=1,skip=1")
    command = [sys.executable, "-m", "agent", "--config", str(agent.config), "correct", f"{wrong['trace']:06d}",
               "--amount", "10.00", "--card", "debit", "--password-stdin"]
    cli = subprocess.run(command, cwd=ROOT, input=SUPERVISOR_PASSWORD + "\n", capture_output=True, text=True,
                         timeout=60)
    assert cli.returncode == 0, cli
    agent.kill()
    agent.start()
    assert open_fixes(agent) == [] and net(sim_host) == 1000


def test_repeated_refund_names_the_sale_and_the_flag(agent, sim_host):
    original = sale(agent, "30.00")
    first = agent.cli("refund", "10.00", "--trace", f"{original['trace']:06d}", password=True)
    assert first.returncode == 0, first
    again = agent.cli("refund", "10.00", "--trace", f"{original['trace']:06d}", password=True)
    assert again.returncode == EXIT_CONFIRM, again
    assert f"sale trace {original['trace']:06d}" in again.stdout and "--confirm-repeat" in again.stdout
    assert "MERCHANT COPY" not in again.stdout  # nothing reprinted: nothing was done
    assert net(sim_host) == 2000
    on_purpose = agent.cli("refund", "10.00", "--trace", f"{original['trace']:06d}", "--confirm-repeat",
                           password=True)
    assert on_purpose.returncode == 0 and net(sim_host) == 1000


def test_refund_receipt_shows_the_card(agent, sim_host):
    original = sale(agent, "30.00")
    refund = agent.json("refund", "10.00", "--trace", f"{original['trace']:06d}", password=True)
    receipt = refund["outcome"]["receipts"][0]["customer"]
    assert original["pan_masked"] in receipt and "CARD" in receipt


def test_partly_refunded_sale_counts_as_a_duplicate_for_guard_and_list_alike(agent, sim_host):
    """Defect 2: one definition — the guard asks exactly when the list would list the pair."""
    first = agent.json("sale", "70.00", "--card", "debit")["outcome"]["txn"]
    assert agent.cli("refund", "20.00", "--trace", f"{first['trace']:06d}", password=True).returncode == 0
    asked = agent.cli("sale", "70.00", "--card", "debit")
    assert asked.returncode == EXIT_CONFIRM and "a moment ago" in asked.stdout, asked
    assert "no suspected duplicates" in agent.cli("duplicates").stdout


def test_voided_sale_is_no_duplicate_for_guard_and_list_alike(agent, sim_host):
    first = agent.json("sale", "70.00", "--card", "debit")["outcome"]["txn"]
    assert agent.cli("void", f"{first['trace']:06d}", password=True).returncode == 0
    again = agent.cli("sale", "70.00", "--card", "debit")
    assert again.returncode == 0, again
    assert "no suspected duplicates" in agent.cli("duplicates").stdout


def test_duplicates_table_fits_its_content(agent, sim_host):
    first = agent.json("sale", "70.00", "--card", "debit")["outcome"]["txn"]
    assert agent.cli("refund", "20.00", "--trace", f"{first['trace']:06d}", password=True).returncode == 0
    sale(agent, "70.00")
    listing = agent.cli("duplicates").stdout
    rows = [line for line in listing.splitlines() if line.startswith("  id ")]
    assert len(rows) == 2 and "refunded_partially " in rows[0]
    assert rows[0].index("rrn") == rows[1].index("rrn")  # columns line up


def test_daemon_dying_mid_sale_says_the_outcome_is_unknown_and_what_happens(agent, sim_host):
    """Defect 3: not just "closed the connection" — whether the card may be charged, what happens next,
    how to check, and its own exit status; after the restart the sale is reversed, never charged twice."""
    sim_host.fault("delay:mti=0200,seconds=20,count=1")
    command = [sys.executable, "-m", "agent", "--config", str(agent.config), "sale", "25.00", "--card", "debit"]
    cli = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    wait_for(lambda: any(t.kind == "sale" and t.state == "sending" for t in _journal_txns(agent)), 30,
             "the sale journaled and sent")
    agent.kill()
    out, err = cli.communicate(timeout=30)
    assert cli.returncode == EXIT_UNKNOWN, (out, err)
    assert "may have been charged" in err and "never charged twice" in err and "posagent journal show" in err
    sim_host.clear_faults()
    agent.start()
    wait_for(lambda: net(sim_host) == 0 and all(t.state != "sending" for t in _journal_txns(agent)), 30,
             "the interrupted sale reversed after the restart")
    assert_books_agree(agent, sim_host)


def test_console_status_lists_open_fixes():
    from agent.console import views
    status = {"link": {"host": "h", "port": 1, "connected": True, "tls": False},
              "keys": {"installed": True, "check_values": {}}, "batch": {"number": 1, "state": "open",
                                                                       "transactions": 2},
              "reversals": {"pending": 0, "needs_manual": 0}, "journal": {"in_doubt": 0, "settling": None},
              "fixes": {"open": [{"id": 3, "trace": 5, "standing": "Voided 12.34. 10.00 still to charge: insert "
                                                                    "the card — `posagent correct 000005 --resume`"}]}}
    text = views.status(status)
    assert "fixes     1 open" in text and "fix 3 trace 000005: Voided 12.34." in text


def test_a_purchase_corrected_twice_and_the_same_correction_again_ends_at_the_right_amount(agent, sim_host):
    """10.00 keyed for 100.00, corrected (a linked 90.00); the cashier runs the same correction again (nothing
    more is charged), then finds the right amount was 5.00: the 95.00 comes back from both parts."""
    first = sale(agent, "10.00")
    assert correct(agent, first["trace"], "--amount", "100.00", "--card", "debit").returncode == 0
    assert net(sim_host) == 10000
    again = correct(agent, first["trace"], "--amount", "100.00", "--card", "debit")
    assert again.returncode == 0 and "Nothing to correct" in again.stdout and "100.00" in again.stdout, again
    assert net(sim_host) == 10000
    down = correct(agent, first["trace"], "--amount", "5.00")
    assert down.returncode == 0, down
    assert "corrected before" in down.stdout and "95.00" in down.stdout, down.stdout
    assert net(sim_host) == 500 and open_fixes(agent) == []
    assert_books_agree(agent, sim_host)
    up = correct(agent, first["trace"], "--amount", "7.00", "--card", "debit")  # and up again: 2.00 more
    assert up.returncode == 0 and net(sim_host) == 700, up
    assert_books_agree(agent, sim_host)
