"""Pre-authorization end to end: the CLI → the daemon's control API → the journal → real TCP → the
acquirer simulator; each test checks the bank's ledger (`posim host ledger --json`): what is held and
what is charged per card."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone

import pytest

from agent.errors import UsageError
from tests.agentproc import ROOT, SUPERVISOR_PASSWORD, start_agent


@pytest.fixture
def agent(tmp_path, sim_host):
    running = start_agent(tmp_path, sim_host.port)
    yield running
    running.stop()


def ledger_cli(sim_host) -> dict:
    """What `posim host ledger --json` prints."""
    out = subprocess.run([sys.executable, "-m", "simulator.cli", "host", "ledger", "--db", str(sim_host.db), "--json"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def bank(sim_host, card: str = "debit") -> tuple[int, int]:
    """(held, charged) for a card, as the bank's ledger says (the same report as `posim host ledger`)."""
    from simulator.host.holds import hold_report
    from simulator.host.ledger import Ledger

    ledger = Ledger(sim_host.db)
    try:
        held = hold_report(ledger, datetime.now(timezone.utc))["held"].get(card, 0)
        charged = ledger.net_report()["cards"].get(card, {}).get("net_charged", 0)
    finally:
        ledger.close()
    return held, charged


def preauth(agent, amount: str, *flags: str) -> dict:
    reply = agent.json("preauth", amount, "--card", "debit", *flags, password=True)
    assert reply["ok"], reply
    return reply["outcome"]


def test_hold_then_complete_for_the_real_amount(agent, sim_host):
    held = preauth(agent, "2000.00")
    assert held["status"] == "approved", held
    assert bank(sim_host) == (200000, 0)
    trace = f"{held['txn']['trace']:06d}"
    done = agent.json("preauth", "complete", trace, "1850.00")
    assert done["ok"] and done["outcome"]["status"] == "approved", done
    assert bank(sim_host) == (0, 185000)
    report = ledger_cli(sim_host)
    assert report["holds"]["held"] == {} and report["cards"]["debit"]["net_charged"] == 185000
    text = subprocess.run([sys.executable, "-m", "simulator.cli", "host", "ledger", "--db", str(sim_host.db)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60).stdout
    assert "held (open pre-auths)" in text
    receipt = done["outcome"]["receipts"][0]["customer"]
    assert "AUTH COMPLETE" in receipt and "1850.00" in receipt


def test_completion_above_the_tolerance_is_refused_with_the_ceiling(agent, sim_host):
    held = preauth(agent, "100.00")
    refused = agent.cli("preauth", "complete", str(held["txn"]["trace"]), "116.00")
    assert refused.returncode == 1 and "115.00" in refused.stderr
    assert bank(sim_host) == (10000, 0)


def test_forgotten_hold_is_listed_by_age_and_released(agent, sim_host):
    held = preauth(agent, "800.00")
    listing = agent.cli("preauth", "list", "--open")
    assert listing.returncode == 0 and f"trace {held['txn']['trace']:06d}" in listing.stdout
    assert "800.00" in listing.stdout and "blocked" in listing.stdout
    released = agent.json("preauth", "release", str(held["txn"]["trace"]), password=True)
    assert released["outcome"]["status"] == "approved", released
    assert bank(sim_host) == (0, 0)
    assert "No open pre-auths" in agent.cli("preauth", "list").stdout


def test_duplicate_hold_is_asked_then_listed_then_voided(agent, sim_host):
    preauth(agent, "500.00")
    asked = agent.cli("preauth", "500.00", "--card", "debit", password=True)
    assert asked.returncode == 4 and "--confirm-duplicate" in asked.stderr
    second = preauth(agent, "500.00", "--confirm-duplicate")
    assert bank(sim_host) == (100000, 0)
    listing = agent.json("duplicates")["result"]
    assert [t["id"] for t in listing["holds"][0]][-1] == second["txn"]["id"]
    text = agent.cli("duplicates").stdout
    assert "held 2 times" in text and f"--fix {second['txn']['id']}" in text
    fixed = agent.json("duplicates", "--fix", str(second["txn"]["id"]), password=True)
    assert fixed["outcome"]["status"] == "approved", fixed
    assert bank(sim_host) == (50000, 0)


def test_wrong_completion_is_corrected_by_the_engine(agent, sim_host):
    held = preauth(agent, "1000.00")
    wrong = agent.json("preauth", "complete", str(held["txn"]["trace"]), "1100.00")["outcome"]
    fixed = agent.json("correct", str(wrong["txn"]["trace"]), "--amount", "980.00", password=True)
    assert fixed["outcome"]["status"] == "approved", fixed
    assert len(fixed["outcome"]["receipts"]) == 2
    assert bank(sim_host) == (0, 98000)
    agent.cli("settle", "--yes", password=True)
    refused = agent.cli("preauth", "void-completion", str(fixed["outcome"]["txn"]["trace"]), password=True)
    assert refused.returncode == 1 and "refund" in refused.stderr


def test_password_is_required_for_a_preauth_by_default(agent, sim_host):
    refused = agent.cli("preauth", "100.00", "--card", "debit")
    assert refused.returncode == 3
    assert bank(sim_host) == (0, 0)


def test_bad_input_gets_one_line_errors(agent):
    for args, expected in ((("preauth", "complete", "12"), "complete TRACE AMOUNT"),
                           (("preauth", "void", "abc"), "trace number"),
                           (("preauth", "frobnicate", "1"), "unknown preauth action"),
                           (("preauth", "12.345"), "")):
        result = agent.cli(*args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr and expected in result.stderr


@pytest.mark.parametrize("fault", ["drop_response", "drop_before", "drop_after", "corrupt_mac", "wrong_stan",
                                   "wrong_amount", "garbage", "duplicate", "delay:seconds=3"])
def test_every_host_fault_at_every_step_leaves_holds_and_charges_right(agent, sim_host, fault):
    kind, _, rest = fault.partition(":")

    def step(mti: str, op: str, args: dict, before: tuple[int, int], after: tuple[int, int]):
        """Arm the fault for `mti`, run the step; not approved → nothing moved, and the retry goes through."""
        sim_host.fault(f"{kind}:mti={mti},count=1" + (f",{rest}" if rest else ""))
        reply = agent.call(op, args, password=SUPERVISOR_PASSWORD)
        outcome = reply.get("outcome") or {}
        if outcome.get("status") != "approved":
            assert bank(sim_host) == before, reply
            reply = agent.call(op, args, password=SUPERVISOR_PASSWORD)
            outcome = reply["outcome"]
        assert outcome["status"] == "approved", reply
        assert bank(sim_host) == after, reply
        assert agent.call("reversals")["result"]["pending"] == []
        return outcome

    hold_args = {"amount": 30000, "card": "debit", "confirm_duplicate": True}
    held = step("0100", "preauth", hold_args, (0, 0), (30000, 0))
    trace = held["txn"]["trace"]
    done = step("0200", "preauth_complete", {"trace": trace, "amount": 32000}, (30000, 0), (0, 32000))
    step("0200", "completion_void", {"trace": done["txn"]["trace"]}, (0, 32000), (30000, 0))
    step("0100", "preauth_release", {"trace": trace}, (30000, 0), (0, 0))
    again = step("0100", "preauth", {**hold_args, "amount": 10000}, (0, 0), (10000, 0))
    # the advice: queued or delivered at once; either way the next online message delivers it, once
    sim_host.fault(f"{kind}:mti=0220,count=1" + (f",{rest}" if rest else ""))
    advised = agent.call("preauth_complete", {"trace": again["txn"]["trace"], "amount": 10000, "advice": True})
    assert advised["outcome"]["status"] in ("approved", "done"), advised
    assert bank(sim_host) in ((10000, 0), (0, 10000))
    flushed = agent.call("sale", {"amount": 100, "card": "credit"})
    assert flushed["outcome"]["status"] == "approved", flushed
    assert bank(sim_host) == (0, 10000)
    assert agent.call("lookup", {"trace": advised["outcome"]["txn"]["trace"]})["result"]["transactions"][0]["state"] \
        == "approved"


def test_completion_advice_goes_out_when_the_bank_answers_again(agent, sim_host):
    held = preauth(agent, "600.00")
    sim_host.fault("drop_response:mti=0220,count=1")
    queued = agent.json("preauth", "complete", str(held["txn"]["trace"]), "640.00", "--advice")
    outcome = queued["outcome"]
    assert outcome["status"] == "done" and outcome["details"]["queued"], outcome
    assert bank(sim_host) == (0, 64000)  # the host took it; its answer was lost
    assert agent.cli("preauth", "complete", str(held["txn"]["trace"]), "640.00").returncode == 1
    assert agent.call("status")["result"]["advices"] == {"pending": 1}
    assert "advices   1 waiting for the bank's answer" in agent.cli("status").stdout
    settled = agent.cli("settle", "--yes", password=True)  # the advice is answered before the 0500
    assert settled.returncode == 0, settled.stderr
    assert bank(sim_host) == (0, 64000)
    purchase = agent.json("journal", "purchase", str(held["txn"]["id"]))
    assert [(t["kind"], t["state"]) for t in purchase] == [("preauth", "approved"), ("completion", "approved")]
    assert agent.call("status")["result"]["advices"] == {"pending": 0}
    assert "advices" not in agent.cli("status").stdout


def test_an_advice_sent_again_is_answered_from_its_booking_even_when_the_bank_would_decline_a_new_request(
        agent, sim_host):
    """The first copy was booked and its answer lost; the copy sent again (before the next online message)
    meets a bank that declines what comes next: a repeat is answered from the booking (00), so the journal
    and the bank agree — the completion charged once, the sale after it declined."""
    held = preauth(agent, "600.00")
    sim_host.fault("drop_response:mti=0220,count=1")
    queued = agent.json("preauth", "complete", str(held["txn"]["trace"]), "640.00", "--advice")["outcome"]
    assert queued["details"]["queued"] and bank(sim_host) == (0, 64000)
    sim_host.fault("decline:count=2")  # whatever the terminal sends next: the advice again, then the sale
    after = agent.json("sale", "10.00", "--card", "debit")
    assert after["outcome"]["status"] == "declined", after
    assert bank(sim_host) == (0, 64000)
    purchase = agent.json("journal", "purchase", str(held["txn"]["id"]))
    assert [(t["kind"], t["state"]) for t in purchase] == [("preauth", "approved"), ("completion", "approved")]


def test_the_console_journal_search_finds_the_family(agent, sim_host):
    from agent import config
    from agent.console.commands import CommandTable
    from agent.console.context import ConsoleContext
    from agent.control_client import ControlClient

    held = preauth(agent, "432.10")
    done = agent.json("preauth", "complete", str(held["txn"]["trace"]), "432.10")["outcome"]
    table = CommandTable(ConsoleContext(ControlClient(agent.socket, timeout=30), config.load(agent.config)))
    found = table.run("journal search amount 432.10").text
    assert "preauth" in found and "completion" in found
    by_trace = table.run(f"journal search trace {done['txn']['trace']}").text
    assert "completion" in by_trace and "432.10" in by_trace
    only_holds = table.run("journal search kind preauth").text  # the technician lists the pre-auths alone
    assert "preauth" in only_holds and "completion" not in only_holds
    with pytest.raises(UsageError, match="kind must be one of sale, correction"):
        table.run("journal search kind holds")
    listed = agent.json("journal", "list", "--kind", "completion")  # the CLI's journal list, too
    assert [t["kind"] for t in listed] == ["completion"]
