"""The daemon ships its journal to the back office by itself (`[office] url`): beside the operations, never
delaying a sale; an unreachable office only grows the backlog `status` shows.  Real parts: the daemon as a
process, `posim host`, the collector on a real PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg

from agent.journal import Journal
from posoffice import db, store
from tests.agentproc import ROOT, Agent, write_config
from tests.harness import wait_for
from tests.pgcluster import Collector, pg_cluster  # noqa: F401

TERMINAL = "10000001"


def _office_config(tmp_path, url: str, secret: str, mode: int = 0o600) -> str:
    secret_file = tmp_path / "office.secret"
    secret_file.write_text(secret + "\n")
    os.chmod(secret_file, mode)
    return f'[office]\nurl = "{url}"\nsecret_file = "{secret_file}"\ninterval = 1\n'


def _head(journal) -> int:
    with Journal.open(journal, fingerprint_key=None, read_only=True) as j:
        return j.core.conn.execute("SELECT max(id) FROM events").fetchone()[0]


def _stored(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT count(*) FROM events WHERE terminal = %s", (TERMINAL,)).fetchone()[0]


def _messages(dsn: str) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT txn_id, direction, body->'fields' FROM messages WHERE terminal = %s",
                            (TERMINAL,)).fetchall()


def test_the_daemon_ships_its_journal_and_status_shows_the_backlog(tmp_path, sim_host, pg_cluster):
    dsn = pg_cluster.new_database()
    with db.connect(dsn) as conn:
        db.migrate(conn)
        secret = store.add_terminal(conn, TERMINAL, "M1")
    collector = Collector(dsn)
    url = collector.url
    agent = Agent(write_config(tmp_path, sim_host.port, extra=_office_config(tmp_path, url, secret)), tmp_path)
    agent.start()
    try:
        for amount in ("12.00", "34.50"):
            sold = agent.json("sale", amount, "--card", "debit", "--confirm-duplicate")
            assert sold["outcome"]["status"] == "approved", sold
        journal = tmp_path / "journal.db"
        wait_for(lambda: _stored(dsn) >= _head(journal), 30, "the office to hold the journal")
        status = agent.call("status")["result"]["office"]
        assert status["url"] == url and status["last_error"] is None
        wait_for(lambda: agent.call("status")["result"]["office"]["backlog"] == 0, 30, "the backlog to be 0")
        # the office goes away: sales go on, the backlog grows and status says so
        collector.stop()
        sold = agent.json("sale", "5.00", "--card", "debit", "--confirm-duplicate")
        assert sold["outcome"]["status"] == "approved", sold
        wait_for(lambda: agent.call("status")["result"]["office"]["backlog"] > 0, 30, "a backlog")
        wait_for(lambda: agent.call("status")["result"]["office"]["last_error"], 30, "the office's problem shown")
        shown = agent.cli("status")
        assert "not yet at the back office" in shown.stdout, shown
        # the office is back: the backlog drains by itself, every event stored once
        collector = Collector(dsn, port=int(url.split(":")[2].split("/")[0]))
        wait_for(lambda: agent.call("status")["result"]["office"]["backlog"] == 0, 60, "the backlog to drain")
        assert _stored(dsn) == _head(journal)
        # beside the events, each sale's masked request and answer, once each, the card masked
        wait_for(lambda: len(_messages(dsn)) >= 6, 30, "the three sales' messages at the office")
        messages = _messages(dsn)
        assert sorted((txn, direction) for txn, direction, _f in messages) == [
            (txn, direction) for txn in (1, 2, 3) for direction in ("received", "sent")], messages
        for _txn, direction, fields in messages:
            if direction == "sent":
                assert fields["2"][:6] + fields["2"][-4:] != fields["2"] and "*" in fields["2"], fields
            else:
                assert fields["39"] == "00" and fields["37"].strip(), fields
    finally:
        agent.stop()
        collector.stop()


def test_an_office_secret_readable_by_others_is_refused_by_config_check_and_run(tmp_path, sim_host):
    config = write_config(tmp_path, sim_host.port,
                          extra=_office_config(tmp_path, "http://127.0.0.1:9/v1/events", "s3cret", mode=0o644))
    checked = subprocess.run([sys.executable, "-m", "agent", "config", "check", str(config)], cwd=ROOT,
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode != 0 and "office.secret_file" in checked.stderr and "0600" in checked.stderr, checked
    assert "Traceback" not in checked.stderr
