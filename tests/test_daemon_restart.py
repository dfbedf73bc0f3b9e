"""Power cuts: the real daemon is killed with SIGKILL at random moments of each operation, restarted,
and after recovery the bank's ledger equals the journal, no trace repeats, and nothing is lost.

Host answers are slowed a little so that many kills land between "journaled" and "answered".  The run
is seeded (POSAGENT_RESTART_SEED) and bounded (POSAGENT_RESTART_KILLS, default 100 kills)."""

from __future__ import annotations

import os
import random
import threading
import time

from tests.agentproc import SUPERVISOR_PASSWORD, start_agent
from tests.test_daemon_faults import journal_net, ledger_net

KILLS = int(os.environ.get("POSAGENT_RESTART_KILLS", "100"))
SEED = int(os.environ.get("POSAGENT_RESTART_SEED", "20261123"))


def _in_background(call) -> threading.Thread:
    def run():
        try:
            call()
        except Exception:  # noqa: BLE001 — the daemon dies under it: that is the point
            pass
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_sigkill_at_random_points_then_recovery_keeps_bank_and_journal_equal(tmp_path, sim_host):
    rng = random.Random(SEED)
    agent = start_agent(tmp_path, sim_host.port, response_timeout=2.0)
    sim_host.fault("delay:seconds=0.15,probability=0.7,seed=3")
    operations = ("sale", "sale", "sale", "void", "refund", "settle")
    kills = recoveries = 0
    try:
        agent.call("sale", {"amount": 1000, "card": "debit"})
        for round_no in range(KILLS):
            op = rng.choice(operations)
            approved = [t for t in agent.call("lookup", {"limit": 50})["result"]["transactions"]
                        if t["kind"] == "sale" and t["state"] == "approved"]
            if op in ("void", "refund") and not approved:
                op = "sale"
            if op == "sale":
                args, password = {"amount": rng.randint(1, 90_000), "card": rng.choice(["debit", "credit"]),
                                  "confirm_duplicate": True, "confirm_unusual": True}, None
            elif op == "void":
                args, password = {"trace": rng.choice(approved)["trace"]}, SUPERVISOR_PASSWORD
            elif op == "refund":
                args, password = {"trace": rng.choice(approved)["trace"], "amount": rng.randint(1, 500),
                                  "confirm_repeat": True}, SUPERVISOR_PASSWORD
            else:
                args, password = {"confirm": True}, SUPERVISOR_PASSWORD
            worker = _in_background(lambda: agent.call(op, args, password=password))
            time.sleep(rng.uniform(0.0, 0.35))
            agent.kill()
            kills += 1
            worker.join(10)
            agent.start()  # recovery runs before "ready"
            recoveries += 1
            if round_no % 10 == 9:
                status = agent.call("status")["result"]
                assert status["reversals"]["needs_manual"] == 0, status
        sim_host.control(op="clear")
        agent.call("reversal_retry")
        settled = agent.call("settle", {"confirm": True}, password=SUPERVISOR_PASSWORD)
        assert settled["ok"], settled
        status = agent.call("status")["result"]
        assert status["reversals"]["pending"] == 0 and status["journal"]["in_doubt"] == 0, status
        assert status["journal"]["settling"] is None
        assert ledger_net(sim_host) == {k: v for k, v in journal_net(tmp_path).items() if v}
        batches = [s["batch"] for s in sim_host.ledger()["settlements"]]
        assert len(batches) == len(set(batches)), f"a batch number settled twice: {batches}"
    finally:
        agent.stop()
    assert kills == KILLS and recoveries == KILLS
