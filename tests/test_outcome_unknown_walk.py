"""Every operation that can move money, by the operation registry: the daemon is SIGKILLed while the bank
holds its answer, and the CLI says "outcome unknown" (exit 5) — never "nothing was charged" (exit 1) while
the bank has charged.  After the restart the bank's ledger and the journal agree.

Real parts only: `posim host` over TCP with a delay fault (the bank books the request, then waits before
answering), the daemon as a process, the CLI as a process, the journal a real SQLite file."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest

from agent import registry
from tests.agentproc import Agent, write_config
from tests.harness import wait_for
from tests.test_wallet_daemon import WALLET, issue

EXIT_UNKNOWN = 5


@pytest.fixture
def agent(tmp_path, sim_host):
    running = Agent(write_config(tmp_path, sim_host.port, extra=WALLET), tmp_path)
    running.start()
    yield running
    running.stop()


def _ok(reply: dict) -> dict:
    assert reply["ok"] and reply["outcome"]["status"] == "approved", reply
    return reply["outcome"]["txn"]


def _sale(agent, amount: str = "12.34") -> dict:
    return _ok(agent.json("sale", amount, "--card", "debit", "--confirm-duplicate"))


def _hold(agent, amount: str = "100.00") -> dict:
    return _ok(agent.json("preauth", amount, "--card", "debit", "--confirm-duplicate", password=True))


def _t(txn: dict) -> str:
    return f"{txn['trace']:06d}"


def _duplicate(agent, sim_host) -> list[str]:
    _sale(agent, "7.77")
    second = _sale(agent, "7.77")
    return ["duplicates", "--fix", str(second["id"])]


def _completion(agent, sim_host) -> list[str]:
    hold = _hold(agent)
    done = _ok(agent.json("preauth", "complete", _t(hold), "90.00"))
    return ["preauth", "void-completion", _t(done)]


def _wallet_correct(agent, sim_host) -> list[str]:
    paid = _ok(agent.json("sale", "30.00", "--code", issue(sim_host, "alice")))
    return ["correct", _t(paid), "--amount", "45.00", "--code", issue(sim_host, "alice")]


#: operation → what is done first, then the command line cut by the kill (the test below checks that
#: every money operation of the registry has one: a new one cannot be added without its walk)
RECIPES = {
    "sale": lambda agent, host: ["sale", "12.34", "--card", "debit"],
    "wallet_sale": lambda agent, host: ["sale", "66.67", "--code", issue(host, "alice")],
    "void": lambda agent, host: ["void", _t(_sale(agent))],
    "refund": lambda agent, host: ["refund", "5.00", "--trace", _t(_sale(agent))],
    "correct": lambda agent, host: ["correct", _t(_sale(agent)), "--amount", "10.00", "--card", "debit"],
    "wallet_correct": _wallet_correct,
    "duplicates_fix": _duplicate,
    "settle": lambda agent, host: (_sale(agent), ["settle", "--yes"])[1],
    "preauth": lambda agent, host: ["preauth", "100.00", "--card", "debit"],
    "preauth_complete": lambda agent, host: ["preauth", "complete", _t(_hold(agent)), "90.00"],
    "preauth_void": lambda agent, host: ["preauth", "void", _t(_hold(agent))],
    "preauth_release": lambda agent, host: ["preauth", "release", _t(_hold(agent))],
    "completion_void": _completion,
}


def test_every_money_operation_has_its_walk():
    assert set(RECIPES) == registry.money_operations()


def _charged(agent) -> int:
    from agent.journal import Journal
    with Journal.open(agent.directory / "journal.db", fingerprint_key=None, read_only=True) as journal:
        return sum(journal.net_charged().values())


def _bank(sim_host) -> tuple[int, int]:
    """(held, charged) over every card and payer, as the bank's ledger says."""
    from simulator.host.holds import hold_report
    from simulator.host.ledger import Ledger
    ledger = Ledger(sim_host.db)
    try:
        held = sum(hold_report(ledger, datetime.now(timezone.utc))["held"].values())
        charged = sum(card.get("net_charged", 0) for card in ledger.net_report()["cards"].values())
    finally:
        ledger.close()
    return held, charged


def _held(agent) -> int:
    reply = agent.call("preauth_list")
    assert reply["ok"], reply
    return sum(hold["blocked"] for hold in reply["outcome"]["details"]["holds"] if not hold["expired"])


def _faults_fired(sim_host) -> int:
    return sum(sim_host.control(op="stats")["faults"].values())


def _settled_down(agent) -> bool:
    status = agent.call("status")
    if not status.get("ok"):
        return False
    s = status["result"]
    return s["journal"]["in_doubt"] == 0 and s["reversals"]["pending"] == 0 and not s["journal"]["settling"] \
        and not s.get("advices", {}).get("pending")


@pytest.mark.parametrize("op", sorted(RECIPES))
def test_the_daemon_killed_while_the_bank_holds_the_answer_is_outcome_unknown(agent, sim_host, op):
    assert agent.cli("signon").returncode == 0
    argv = RECIPES[op](agent, sim_host)
    fired = _faults_fired(sim_host)
    sim_host.fault("delay:seconds=30,count=1")  # the next request is booked, its answer held back
    row = registry.OPERATIONS[op]
    cli = agent.cli_in_background(*argv, password=row.role != "cashier" or row.configured_by is not None)
    wait_for(lambda: _faults_fired(sim_host) > fired or cli.poll() is not None, 60,
             f"the bank to receive the {op} request")
    assert cli.poll() is None, cli.communicate()  # still waiting for the answer
    time.sleep(0.3)  # the bank has booked it (a delay processes first, then waits)
    agent.kill()
    out, err = cli.communicate(timeout=60)
    assert cli.returncode == EXIT_UNKNOWN, (op, argv, cli.returncode, out, err)
    assert "outcome is unknown" in err and "posagent status" in err, err
    assert "Traceback" not in err
    sim_host.clear_faults()
    agent.start()
    wait_for(lambda: _settled_down(agent), 60, "the restarted daemon to resolve what was in doubt")
    held, charged = _bank(sim_host)
    assert _charged(agent) == charged, (op, _charged(agent), charged)
    assert _held(agent) == held, (op, _held(agent), held)
