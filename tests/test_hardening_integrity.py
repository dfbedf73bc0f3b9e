"""Integrity at start and journal failures said out loud, with the real daemon on real SQLite files."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from tests.agentproc import start_agent

pytestmark = pytest.mark.realstack


def wait_for(predicate, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition never held")


def test_a_tampered_chain_tail_is_found_at_start_and_new_sales_are_refused(tmp_path, sim_host):
    agent = start_agent(tmp_path, sim_host.port)
    try:
        assert agent.call("sale", {"amount": 1200, "card": "debit"})["outcome"]["status"] == "approved"
    finally:
        agent.stop()
    with sqlite3.connect(tmp_path / "journal.db") as db:
        last, = db.execute("SELECT max(id) FROM events").fetchone()
        db.execute("UPDATE events SET operator = 'mallory' WHERE id = ?", (last,))
    agent.start()
    try:
        status = agent.call("status")["result"]
        assert f"damaged at event {last}" in status["journal"]["damaged"]
        refused = agent.call("sale", {"amount": 100, "card": "debit"})
        assert refused["error"]["code"] == "journal_damaged"
        assert "posagent journal verify" in refused["error"]["message"]
        assert agent.call("lookup", {"limit": 5})["ok"]  # reading goes on
        assert "ERROR posagent.daemon: journal integrity" in agent.log_text
    finally:
        agent.stop()


def test_a_row_changed_behind_the_journal_is_found_by_the_background_check(tmp_path, sim_host):
    agent = start_agent(tmp_path, sim_host.port)
    try:
        assert agent.call("sale", {"amount": 1200, "card": "debit"})["outcome"]["status"] == "approved"
    finally:
        agent.stop()
    with sqlite3.connect(tmp_path / "journal.db") as db:
        db.execute("UPDATE transactions SET amount = 1 WHERE id = 1")
    agent.start()
    try:
        wait_for(lambda: agent.call("status")["result"]["journal"]["damaged"])
        assert "transactions row 1 was changed" in agent.call("status")["result"]["journal"]["damaged"]
        assert agent.call("sale", {"amount": 100, "card": "debit"})["error"]["code"] == "journal_damaged"
    finally:
        agent.stop()


def test_a_clean_journal_is_verified_at_start_and_sales_go_on(tmp_path, sim_host):
    agent = start_agent(tmp_path, sim_host.port)
    try:
        wait_for(lambda: "the whole journal (checked in" in agent.log_text)
        assert agent.call("status")["result"]["journal"]["damaged"] is None
        assert agent.call("sale", {"amount": 100, "card": "debit"})["outcome"]["status"] == "approved"
    finally:
        agent.stop()


def test_a_journal_locked_while_the_answer_waits_is_logged(tmp_path, sim_host):
    agent = start_agent(tmp_path, sim_host.port, response_timeout=10.0)
    held = threading.Event()

    def lock_the_journal():
        db = sqlite3.connect(tmp_path / "journal.db", timeout=10, isolation_level=None)
        time.sleep(0.5)  # the sale's intent is journaled; its answer is delayed by the host
        db.execute("BEGIN EXCLUSIVE")
        held.set()
        time.sleep(7.0)  # longer than the journal's 5 s busy timeout
        db.execute("ROLLBACK")
        db.close()

    try:
        assert agent.call("sale", {"amount": 100, "card": "debit"})["outcome"]["status"] == "approved"
        sim_host.fault("delay:seconds=1.5,mti=0200,count=1")
        locker = threading.Thread(target=lock_the_journal)
        locker.start()
        reply = agent.call("sale", {"amount": 300, "card": "debit"})
        locker.join()
        assert held.is_set()
        assert not reply.get("ok") or reply["outcome"]["status"] != "approved", reply
        assert "ERROR posagent.engine: journal complete failed" in agent.log_text
        assert "another process holds the journal lock" in agent.log_text
    finally:
        agent.stop()


def test_without_the_whole_check_at_start_the_tail_is_still_checked_before_serving(tmp_path, sim_host):
    from simulator.stack import write_daemon_config
    from tests.agentproc import Agent, supervisor_hash
    config = write_daemon_config(tmp_path, sim_host.port, response_timeout=2.0, password_hash=supervisor_hash(),
                                 check_whole_at_start=False)
    agent = Agent(config, tmp_path)
    agent.start()
    try:
        assert agent.call("sale", {"amount": 1200, "card": "debit"})["outcome"]["status"] == "approved"
    finally:
        agent.stop()
    assert "the whole journal (checked in" not in agent.log_text
    with sqlite3.connect(tmp_path / "journal.db") as db:
        last, = db.execute("SELECT max(id) FROM events").fetchone()
        db.execute("UPDATE events SET operator = 'mallory' WHERE id = ?", (last,))
    agent.start()
    try:
        assert f"damaged at event {last}" in agent.call("status")["result"]["journal"]["damaged"]
        assert agent.call("sale", {"amount": 100, "card": "debit"})["error"]["code"] == "journal_damaged"
        assert "the whole journal (checked in" not in agent.log_text
    finally:
        agent.stop()
