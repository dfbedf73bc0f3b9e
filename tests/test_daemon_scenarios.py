"""S1–S5 end to end: the CLI → the daemon's control API → the journal → real TCP → the acquirer
simulator; each test checks what the **bank's ledger** says the cardholder was charged."""

from __future__ import annotations

import os
import stat

import pytest

from tests.agentproc import SUPERVISOR_PASSWORD, start_agent


@pytest.fixture
def agent(tmp_path, sim_host):
    running = start_agent(tmp_path, sim_host.port)
    yield running
    running.stop()


def net(sim_host, card: str = "debit") -> int:
    return sim_host.ledger()["cards"].get(card, {}).get("net_charged", 0)


def sale(agent, amount: str, *flags: str) -> dict:
    reply = agent.json("sale", amount, "--card", "debit", *flags)
    assert reply["ok"], reply
    return reply["outcome"]


def test_s1_overcharge_in_open_batch_is_voided_and_recharged(agent, sim_host):
    wrong = sale(agent, "120.00")
    assert wrong["status"] == "approved" and net(sim_host) == 12000
    fixed = agent.json("correct", f"{wrong['txn']['trace']}", "--amount", "100.00", "--card", "debit", password=True)
    assert fixed["ok"] and fixed["outcome"]["status"] == "approved", fixed
    assert "voided" in fixed["outcome"]["message"]
    assert len(fixed["outcome"]["receipts"]) == 2  # a receipt for every step
    assert net(sim_host) == 10000
    purchase = agent.json("journal", "purchase", str(wrong["txn"]["id"]))
    assert {t["kind"] for t in purchase} >= {"sale", "void", "correction"}


def test_s1_overcharge_after_settlement_refunds_the_difference(agent, sim_host):
    wrong = sale(agent, "120.00")
    assert agent.cli("settle", "--yes", password=True).returncode == 0
    fixed = agent.json("correct", str(wrong["txn"]["trace"]), "--amount", "100.00", password=True)
    assert fixed["outcome"]["status"] == "approved" and "settled" in fixed["outcome"]["message"]
    assert net(sim_host) == 10000


def test_s2_double_charge_is_warned_then_repaired(agent, sim_host):
    sale(agent, "50.00")
    warned = agent.cli("sale", "50.00", "--card", "debit")
    assert warned.returncode == 4 and "a moment ago" in warned.stdout
    assert net(sim_host) == 5000
    second = sale(agent, "50.00", "--confirm-duplicate")
    listing = agent.cli("duplicates")
    assert "charged 2 times" in listing.stdout
    fixed = agent.json("duplicates", "--fix", str(second["txn"]["id"]), password=True)
    assert fixed["outcome"]["status"] == "approved", fixed
    assert net(sim_host) == 5000


def test_s2_lost_answer_is_reversed_never_resent(agent, sim_host):
    sim_host.fault("drop_response:mti=0200,count=1")
    lost = sale(agent, "30.00")
    assert lost["status"] == "reversed", lost
    assert net(sim_host) == 0
    assert agent.json("reversals")["result"]["pending"] == []


def test_s3_undercharge_collects_the_difference_linked(agent, sim_host):
    short = sale(agent, "10.00")
    fixed = agent.json("correct", str(short["txn"]["trace"]), "--amount", "100.00", "--card", "debit", password=True)
    outcome = fixed["outcome"]
    assert outcome["status"] == "approved" and outcome["txn"]["amount"] == 9000
    assert outcome["txn"]["original_id"] == short["txn"]["id"]
    assert net(sim_host) == 10000


def test_s4_refunds_add_up_and_stop_at_the_original(agent, sim_host):
    original = sale(agent, "100.00")
    trace = str(original["txn"]["trace"])
    assert agent.json("refund", "--trace", trace, "30.00", password=True)["outcome"]["status"] == "approved"
    too_much = agent.cli("refund", "--trace", trace, "80.00", password=True)
    assert too_much.returncode == 1 and "more than the 70.00 still refundable" in too_much.stderr
    same = agent.cli("refund", "--trace", trace, "30.00", password=True)
    assert same.returncode == 4 and "--confirm-repeat" in same.stdout  # a double key press is not paid twice
    no_date = agent.cli("refund", "--rrn", original["txn"]["rrn"], password=True)
    assert no_date.returncode == 2 and "--date" in no_date.stderr
    rest = agent.json("refund", "--trace", trace, password=True)
    assert rest["outcome"]["status"] == "approved" and rest["outcome"]["txn"]["amount"] == 7000
    assert net(sim_host) == 0
    missing = agent.cli("refund", "--trace", "777", password=True)
    assert "no sale with trace 000777" in missing.stderr


def test_s5_settled_batch_refuses_void_and_offers_refund(agent, sim_host):
    original = sale(agent, "100.00")
    asked = agent.cli("settle")
    assert asked.returncode == 4 and "sales 1 for 100.00" in asked.stdout
    settled = agent.json("settle", "--yes", password=True)
    assert settled["outcome"]["status"] == "done" and settled["outcome"]["details"]["result"] == "balanced"
    report = settled["outcome"]["report"]
    assert "SETTLEMENT" in report and "100.00" in report and "balanced" in report
    void = agent.cli("void", str(original["txn"]["trace"]), password=True)
    assert void.returncode == 1
    assert "settled" in void.stderr and "posagent refund --trace" in void.stderr
    refund = agent.json("refund", "--trace", str(original["txn"]["trace"]), password=True)
    assert refund["outcome"]["status"] == "approved"
    assert net(sim_host) == 0
    assert len(sim_host.ledger()["settlements"]) == 1


def test_supervisor_password_locks_after_five_failures_and_survives_restart(agent, sim_host):
    original = sale(agent, "10.00")
    for _ in range(5):
        bad = agent.call("void", {"trace": original["txn"]["trace"]}, password="nope")
        assert bad["error"]["code"] == "auth"
    locked = agent.call("void", {"trace": original["txn"]["trace"]}, password=SUPERVISOR_PASSWORD)
    assert "locked" in locked["error"]["message"]
    agent.stop()
    agent.start()
    still = agent.call("void", {"trace": original["txn"]["trace"]}, password=SUPERVISOR_PASSWORD)
    assert "locked" in still["error"]["message"]
    assert SUPERVISOR_PASSWORD not in agent.log_text
    assert net(sim_host) == 1000


def test_one_daemon_per_journal_and_a_private_socket(agent, tmp_path):
    mode = stat.S_IMODE(os.stat(tmp_path / "control.sock").st_mode)
    assert mode == 0o600
    from simulator.stack import StackError
    from tests.agentproc import Agent
    second = Agent(agent.config, tmp_path)
    with pytest.raises(StackError, match="already owns the journal"):
        second.start()


def test_cli_without_daemon_says_how_to_start_it(tmp_path, sim_host):
    from tests.agentproc import Agent, write_config
    idle = Agent(write_config(tmp_path, sim_host.port), tmp_path)
    result = idle.cli("status")
    assert result.returncode != 0 and "posagent run" in result.stderr and "Traceback" not in result.stderr


def test_bad_amounts_are_refused_at_the_edge(agent):
    for text, why in (("12.345", "at most 2 decimals"), ("-5", "not a number"), ("0", "more than zero"),
                      ("1,000.00", "not a number")):
        result = agent.cli("sale", text, "--card", "debit")
        assert result.returncode == 2 and why in result.stderr, (text, result.stderr)


def test_reversal_retry_says_when_a_reversal_now_needs_manual_handling(agent, sim_host):
    sim_host.fault("drop_response:mti=0200,count=1")
    sim_host.fault("drop_response:mti=0400")
    sim_host.fault("drop_response:mti=0401")
    lost = sale(agent, "12.00")
    assert lost["status"] == "in_doubt", lost
    replies = [agent.call("reversal_retry") for _ in range(2)]  # tries 2 and 3 of 3
    assert replies[0]["error"]["code"] == "reversal_pending", replies
    assert replies[1]["result"]["status"] == "needs_manual", replies
    assert "manual handling" in replies[1]["result"]["message"]
    queue = agent.json("reversals")["result"]
    assert queue["pending"] == [] and len(queue["needs_manual"]) == 1
    sim_host.control(op="clear")
    assert agent.call("reversal_retry")["result"]["message"] == "no reversal was pending"


def test_daemon_signs_on_at_start_when_keys_are_missing(agent):
    import time
    deadline = time.monotonic() + 10
    while not agent.call("status")["result"]["keys"]["installed"]:
        assert time.monotonic() < deadline, "no sign-on at start"
        time.sleep(0.05)
    assert set(agent.call("status")["result"]["keys"]["check_values"]) >= {"pin", "mac"}


def test_reprinted_receipt_is_marked_and_otherwise_identical(agent):
    sold = sale(agent, "12.34")
    reprint = agent.json("receipt", str(sold["txn"]["id"]))["result"]
    original = sold["receipts"][0]["customer"]
    assert "REPRINT" in reprint["customer"] and "REPRINT" not in original
    assert reprint["customer"].replace(reprint["customer"].splitlines()[-1] + "\n", "") == original


def test_passwd_prints_a_salted_hash_that_verifies_and_refuses_weak_input(tmp_path):
    import subprocess
    import sys

    from agent.auth import verify_password
    from tests.agentproc import ROOT
    run = lambda *args, stdin: subprocess.run([sys.executable, "-m", "agent", "passwd", *args],  # noqa: E731
                                              cwd=ROOT, capture_output=True, text=True, input=stdin, timeout=60)
    made = run("--password-stdin", stdin="24681357\n")
    assert made.returncode == 0 and made.stdout.startswith("[supervisor]\npassword_hash = \"scrypt$")
    stored = made.stdout.split('"')[1]
    assert verify_password("24681357", stored) and not verify_password("24681358", stored)
    assert "24681357" not in made.stdout
    assert run("--role", "technician", "--password-stdin", stdin="s3cret-pw\n").stdout.startswith("[console]")
    short = run("--role", "technician", "--password-stdin", stdin="abc\n")
    assert short.returncode == 2 and "at least 6" in short.stderr
    # the supervisor's is keyed on the cashier's keypad too: letters would be a password nobody can key there
    for bad in ("s3cret-pw", "12345", "1234567890123"):
        refused = run("--password-stdin", stdin=bad + "\n")
        assert refused.returncode == 2 and "6 to 12 digits" in refused.stderr and "keypad" in refused.stderr


def test_receipts_are_rendered_only_when_asked_and_can_be_had_later(agent):
    from agent.control_client import ControlClient

    client = ControlClient(agent.directory / "control.sock", timeout=60)
    bare = client.call("sale", {"amount": 1234, "card": "debit"}, receipts=False)
    assert bare["ok"] and bare["outcome"]["status"] == "approved", bare
    assert "receipts" not in bare["outcome"]
    assert bare["outcome"]["steps"] == [bare["outcome"]["txn"]]
    asked = client.call("sale", {"amount": 2345, "card": "credit"})
    assert [r["txn_id"] for r in asked["outcome"]["receipts"]] == [asked["outcome"]["txn"]["id"]]
    later = client.call("receipt", {"id": bare["outcome"]["txn"]["id"]})["result"]
    assert "12.34" in later["customer"] and "REPRINT" in later["customer"]
