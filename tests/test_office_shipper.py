"""The terminal's shipper (agent/office/shipper.py) against the real collector on a real PostgreSQL:
everything arrives once, a killed shipper resumes, a restored office is refilled, a refused chain stops
shipping, and after real sales through the daemon no full card number reaches the office's database."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import psycopg
import pytest

from agent.journal import Journal
from agent.office.link import ShipError
from agent.office.shipper import OfficeShipper, cursor_path, read_cursor, ship_once
from posoffice import db, rewalk, store
from tests.pgcluster import ROOT, Collector, office_dsn, pg_cluster  # noqa: F401

JOURNAL_EVENTS = 1200  # with the first batch's own event: three batches of 500, 500 and 201
DEBIT_PAN = "6226090000000048"  # simulator/data/cards.toml, card "debit"


@pytest.fixture(scope="module")
def journal_template(tmp_path_factory) -> Path:
    """A real journal of 1,201 events, written once and copied per test; in memory-backed /dev/shm when there
    is one, because each event is an fsynced commit and only the events matter here, not the disk."""
    shm = Path("/dev/shm")
    directory = Path(tempfile.mkdtemp(prefix="office-journal-", dir=shm)) if os.access(shm, os.W_OK) else \
        tmp_path_factory.mktemp("journal")
    try:
        with Journal.open(directory / "journal.db", fingerprint_key=b"k" * 16) as journal:
            write_events(journal, JOURNAL_EVENTS)
        template = tmp_path_factory.mktemp("template") / "journal.db"
        shutil.copy(directory / "journal.db", template)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return template


def write_events(journal: Journal, count: int) -> None:
    for i in range(count):
        journal.record_event("office.test", {"n": i}, operator="01", role="supervisor")


@pytest.fixture
def journal(journal_template, tmp_path) -> Path:
    path = tmp_path / "journal.db"
    shutil.copy(journal_template, path)
    return path


@pytest.fixture(scope="module")
def office(pg_cluster):
    dsn = pg_cluster.new_database()
    collector = Collector(dsn)
    yield collector
    collector.stop()


_numbers = iter(range(1, 10_000))


def register(dsn: str) -> tuple[str, str]:
    terminal = f"S{next(_numbers):04d}"
    with db.connect(dsn) as conn:
        db.migrate(conn)
        return terminal, store.add_terminal(conn, terminal, "M1")


def stored(dsn: str, terminal: str) -> tuple[int, int, int]:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT count(*), count(DISTINCT seq), coalesce(max(seq), 0) FROM events "
                            "WHERE terminal = %s", (terminal,)).fetchone()


def head_of(path: Path) -> int:
    with Journal.open(path, fingerprint_key=None, read_only=True) as j:
        return j.core.conn.execute("SELECT max(id) FROM events").fetchone()[0]


def test_a_journal_is_shipped_in_batches_of_500_and_a_second_round_sends_nothing(office, journal):
    terminal, secret = register(office.dsn)
    head = head_of(journal)
    first = ship_once(journal, office.url, terminal, secret)
    assert (first.batches, first.sent, first.acked, first.head) == (3, head, head, head)
    assert stored(office.dsn, terminal) == (head, head, head)
    assert read_cursor(journal).acked == head and cursor_path(journal).name == "journal.db.office-cursor"
    assert ship_once(journal, office.url, terminal, secret).sent == 0
    with db.connect(office.dsn) as conn:
        assert rewalk.verify(conn, terminal)["ok"]
        listed = {t["terminal"]: t for t in store.terminals(conn)}[terminal]
    assert listed["backlog"] == 0 and listed["chain"] == "ok"


def test_a_shipper_killed_while_the_office_stores_its_batch_sends_it_again_and_it_is_stored_once(
        office, journal, pg_cluster):
    terminal, secret = register(office.dsn)
    head = head_of(journal)
    with psycopg.connect(office.dsn) as holder:
        # the office's transaction for the first batch waits on this lock; the shipper waits for the answer
        holder.execute("SELECT 1 FROM terminals WHERE id = %s FOR NO KEY UPDATE", (terminal,))
        shipper = subprocess.Popen([sys.executable, "-m", "agent.office.shipper", str(journal), office.url, terminal],
                                   cwd=ROOT, env={**os.environ, "POSAGENT_OFFICE_SECRET": secret},
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for(lambda: waiting_on_lock(office.dsn) == 1)
            shipper.send_signal(signal.SIGKILL)
        finally:
            shipper.wait(10)
        holder.rollback()
    wait_for(lambda: stored(office.dsn, terminal)[0] == 500)  # the office took the batch; no one heard it
    assert not cursor_path(journal).exists()
    result = ship_once(journal, office.url, terminal, secret)
    assert result.sent == head and result.acked == head  # the first 500 again: at least once on the wire
    assert stored(office.dsn, terminal) == (head, head, head)  # and exactly once in the office


def test_a_shipper_killed_between_batches_resumes_after_its_cursor(office, journal):
    terminal, secret = register(office.dsn)
    head = head_of(journal)
    assert ship_once(journal, office.url, terminal, secret, max_batches=1).acked == 500
    result = ship_once(journal, office.url, terminal, secret)
    assert (result.sent, result.batches, result.acked) == (head - 500, 2, head)
    assert stored(office.dsn, terminal) == (head, head, head)


def test_an_office_restored_from_an_older_backup_is_refilled_from_what_it_holds(office, journal):
    terminal, secret = register(office.dsn)
    head = head_of(journal)
    ship_once(journal, office.url, terminal, secret)
    with psycopg.connect(office.dsn) as conn:  # as if restored from a backup taken at event 300
        conn.execute("DELETE FROM events WHERE terminal = %s AND seq > 300", (terminal,))
        conn.execute("UPDATE cursors SET last_seq = 300, last_hash = (SELECT hash FROM events WHERE terminal = %s "
                     "AND seq = 300) WHERE terminal = %s", (terminal, terminal))
    with Journal.open(journal, fingerprint_key=b"k" * 16) as j:
        write_events(j, 5)
    result = ship_once(journal, office.url, terminal, secret)
    assert result.acked == head + 5 and stored(office.dsn, terminal) == (head + 5, head + 5, head + 5)


def test_an_office_that_refuses_the_chain_stops_shipping_with_the_event_named(office, journal, tmp_path):
    terminal, secret = register(office.dsn)
    other = tmp_path / "other" / "journal.db"
    with Journal.open(other, fingerprint_key=b"k" * 16) as j:  # another journal under the same terminal id
        write_events(j, 3)
    ship_once(other, office.url, terminal, secret)
    with pytest.raises(ShipError, match=r"refused event 1: fork") as refused:
        ship_once(journal, office.url, terminal, secret)
    assert refused.value.retry is False and not cursor_path(journal).exists()


def test_wrong_credentials_and_an_unreachable_office_are_one_line_errors(office, journal):
    terminal, _ = register(office.dsn)
    with pytest.raises(ShipError, match=f"refused terminal {terminal}: unauthenticated") as refused:
        ship_once(journal, office.url, terminal, "not-the-secret")
    assert refused.value.retry is False
    with pytest.raises(ShipError, match="unreachable") as unreachable:
        ship_once(journal, "http://127.0.0.1:9/v1/events", terminal, "x", timeout=2)
    assert unreachable.value.retry is True


def test_the_loop_ships_what_the_journal_gains(office, journal):
    terminal, secret = register(office.dsn)
    shipper = OfficeShipper(journal, office.url, terminal, secret, interval=0.1)
    shipper.start()
    try:
        wait_for(lambda: shipper.last_result is not None and shipper.last_result.acked == head_of(journal))
        with Journal.open(journal, fingerprint_key=b"k" * 16) as j:
            write_events(j, 3)
        wait_for(lambda: stored(office.dsn, terminal)[2] == head_of(journal))
    finally:
        shipper.stop(10)
    assert shipper.last_error is None


# ----------------------------------------------------------------------------- real sales, no card data
def test_real_sales_through_the_daemon_reach_the_office_without_the_card_number(tmp_path, sim_host, pg_cluster):
    from tests.agentproc import SUPERVISOR_PASSWORD, start_agent

    dsn = pg_cluster.new_database()
    collector = Collector(dsn)
    agent = start_agent(tmp_path, sim_host.port)
    try:
        terminal, secret = register(dsn)
        sold = [agent.call("sale", {"amount": amount, "card": "debit"}) for amount in (1200, 3450, 800)]
        assert [s["outcome"]["status"] for s in sold] == ["approved"] * 3
        voided = agent.call("void", {"trace": sold[2]["outcome"]["txn"]["trace"]}, password=SUPERVISOR_PASSWORD)
        assert voided["outcome"]["status"] == "approved"
        refunded = agent.call("refund", {"trace": sold[1]["outcome"]["txn"]["trace"], "amount": 450},
                              password=SUPERVISOR_PASSWORD)
        assert refunded["outcome"]["status"] == "approved"
        journal = tmp_path / "journal.db"
        ship_once(journal, collector.url, terminal, secret)  # while the daemon runs and writes
    finally:
        agent.stop()
        collector.stop()
    collector = Collector(dsn)  # the rest, after the daemon stopped
    try:
        ship_once(journal, collector.url, terminal, secret)
    finally:
        collector.stop()
    head = head_of(journal)
    assert stored(dsn, terminal) == (head, head, head)
    assert DEBIT_PAN.encode() in (ROOT / "simulator/data/cards.toml").read_bytes()  # the scan looks for the right thing
    dump = pg_cluster.pg_dump(dsn)
    assert b"txn.complete" in dump and DEBIT_PAN.encode() not in dump
    today = datetime.now(timezone.utc).date().isoformat()
    day = subprocess.run([sys.executable, "-m", "posoffice", "day", today, "--json", "--dsn", dsn], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert day.returncode == 0, day.stderr
    line, = [t for t in json.loads(day.stdout)["terminals"] if t["terminal"] == terminal]
    assert line == {"terminal": terminal, "net": 1200 + 3450 + 800 - 800 - 450,
                    "sales": {"count": 3, "amount": 5450}, "refunds": {"count": 1, "amount": 450},
                    "voids": {"count": 1, "amount": 800}}


def waiting_on_lock(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND "
                            "query LIKE 'UPDATE terminals%%'").fetchone()[0]


def wait_for(predicate, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition never held")


def test_a_message_leaves_without_an_advice_s_sealed_card_and_scrubbed_again():
    from agent.office.shipper import shippable
    body = {"mti": "0220", "fields": {"2": DEBIT_PAN, "35": DEBIT_PAN + "=2512", "52": "00" * 8, "4": "000000001200"},
            "sealed_card": "a1" * 40}
    out = shippable({"txn_id": 7, "message_id": 0, "direction": "sent", "at": 1.0, "reversal_id": None,
                     "body": body})
    text = json.dumps(out)
    assert DEBIT_PAN not in text and "sealed_card" not in text and "a1a1" not in text
    assert out["body"]["fields"]["2"] == "622609******0048" and out["body"]["fields"]["4"] == "000000001200"
    assert out["body"]["fields"]["35"] == out["body"]["fields"]["52"] == "[removed]"
    assert body["sealed_card"] and body["fields"]["2"] == DEBIT_PAN  # the journal's copy is not changed
