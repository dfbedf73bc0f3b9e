"""The collector on a real PostgreSQL: exactly once in the office whatever the wire does, chain problems
flagged with terminal and seq, one terminal never writing another's events, explicit limits."""

from __future__ import annotations

import http.client
import itertools
import json
import random
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import psycopg
import pytest

from posoffice import db, rewalk, store
from tests.pgcluster import Collector, batch, office_dsn, pg_cluster, post, synthetic_chain  # noqa: F401

_numbers = itertools.count(1)


@pytest.fixture(scope="module")
def office(pg_cluster):
    """One database and one collector for the module; each test registers its own terminals."""
    dsn = pg_cluster.new_database()
    collector = Collector(dsn)
    yield SimpleNamespace(dsn=dsn, url=collector.url)
    collector.stop()


def register(dsn: str, merchant: str = "M1") -> tuple[str, str]:
    terminal = f"T{next(_numbers):04d}"
    with db.connect(dsn) as conn:
        db.migrate(conn)
        return terminal, store.add_terminal(conn, terminal, merchant)


def query(dsn: str, sql: str, *args) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql, args).fetchall()


def stored_seqs(dsn: str, terminal: str) -> list[int]:
    return [r[0] for r in query(dsn, "SELECT seq FROM events WHERE terminal = %s ORDER BY seq", terminal)]


def problems(dsn: str, terminal: str) -> list[tuple]:
    return query(dsn, "SELECT seq, what, resolved_at IS NOT NULL FROM chain_problems WHERE terminal = %s "
                      "ORDER BY seq, what", terminal)


def deliver_until_acked(url: str, terminal: str, secret: str, batches: list[list[dict]]) -> list[int]:
    """What a shipper does: send each batch, and after a gap start again from what the office holds."""
    statuses, i = [], 0
    while i < len(batches):
        status, reply = post(url, terminal, secret, batch(terminal, batches[i]))
        statuses.append(status)
        assert status in (200, 409), reply
        if status == 409:
            assert reply["error"]["code"] == "gap", reply
            i = next(n for n, b in enumerate(batches) if b[-1]["seq"] > reply["acked"])
        else:
            i += 1
    return statuses


# ----------------------------------------------------------------------------- exactly once
def test_duplicated_and_reordered_batches_are_stored_exactly_once(office):
    terminal, secret = register(office.dsn)
    chain = synthetic_chain(60)
    batches = [chain[i:i + 10] for i in range(0, 60, 10)]
    shuffled = batches * 2
    random.Random(7).shuffle(shuffled)
    replies = [post(office.url, terminal, secret, batch(terminal, b)) for b in shuffled]
    assert {status for status, _ in replies} == {200, 409}  # some arrived before their predecessors
    assert all(r["error"]["code"] == "gap" for s, r in replies if s == 409)
    acked = [r["acked"] for _, r in replies]
    assert acked == sorted(acked)  # the office never goes back
    deliver_until_acked(office.url, terminal, secret, batches)  # the shipper resends from the office's ack
    assert stored_seqs(office.dsn, terminal) == list(range(1, 61))
    assert problems(office.dsn, terminal) and all(resolved for _, what, resolved in problems(office.dsn, terminal))
    again = post(office.url, terminal, secret, batch(terminal, chain[5:25]))
    assert again == (200, {"acked": 60, "stored": 0, "repeated": 20})
    with db.connect(office.dsn) as conn:
        assert rewalk.verify(conn, terminal)["ok"]


def test_the_same_batches_from_many_senders_through_two_collectors_are_stored_once(office, pg_cluster):
    terminal, secret = register(office.dsn)
    chain = synthetic_chain(120)
    batches = [chain[i:i + 20] for i in range(0, 120, 20)]
    second = Collector(office.dsn)
    try:
        urls = [office.url, second.url] * 4
        with ThreadPoolExecutor(len(urls)) as pool:
            list(pool.map(lambda url: deliver_until_acked(url, terminal, secret, batches), urls))
    finally:
        second.stop()
    assert stored_seqs(office.dsn, terminal) == list(range(1, 121))
    assert query(office.dsn, "SELECT last_seq, last_hash FROM cursors WHERE terminal = %s", terminal) == [
        (120, chain[-1]["hash"])]


def test_a_collector_killed_mid_batch_stores_nothing_and_the_other_takes_the_batch_once(pg_cluster):
    dsn = pg_cluster.new_database()
    first, second = Collector(dsn), Collector(dsn)
    try:
        terminal, secret = register(dsn)
        chain = synthetic_chain(500)
        assert post(first.url, terminal, secret, batch(terminal, chain[:100]))[0] == 200
        # hold the terminal's row the way a slow transaction would: the collector's batch then waits inside
        # its own transaction, its 400 events inserted and the commit not yet reached
        with psycopg.connect(dsn) as holder:
            holder.execute("SELECT 1 FROM terminals WHERE id = %s FOR NO KEY UPDATE", (terminal,))
            sender = threading.Thread(target=lambda: _post_quietly(first.url, terminal, secret, chain[100:]))
            sender.start()
            _wait_for(lambda: query(dsn, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                         "AND query LIKE 'UPDATE terminals%%'")[0][0] == 1)
            first.kill()
            sender.join(30)
            holder.rollback()
        _wait_for(lambda: query(dsn, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")[0][0] == 0)
        assert stored_seqs(dsn, terminal) == list(range(1, 101))  # the killed batch left nothing behind
        status, reply = post(second.url, terminal, secret, batch(terminal, chain[50:]))
        assert (status, reply) == (200, {"acked": 500, "stored": 400, "repeated": 50})
        assert stored_seqs(dsn, terminal) == list(range(1, 501))
    finally:
        first.kill()
        second.stop()


def _post_quietly(url, terminal, secret, events):
    try:
        post(url, terminal, secret, batch(terminal, events), timeout=30)
    except OSError:
        pass  # the collector died under the request: what this test wants


def _wait_for(predicate, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition never held")


# ----------------------------------------------------------------------------- chain problems
def test_a_fork_is_refused_and_recorded_with_terminal_and_seq(office):
    terminal, secret = register(office.dsn)
    chain, other = synthetic_chain(20), synthetic_chain(20, salt="forked")
    assert post(office.url, terminal, secret, batch(terminal, chain[:12]))[0] == 200
    status, reply = post(office.url, terminal, secret, batch(terminal, other[9:]))
    assert status == 409 and reply["acked"] == 12 and reply["error"]["code"] == "fork" and reply["error"]["seq"] == 10
    assert problems(office.dsn, terminal) == [(10, "fork", False)]
    assert stored_seqs(office.dsn, terminal) == list(range(1, 13))
    listed = {t["terminal"]: t for t in _terminals(office.dsn)}[terminal]
    assert listed["chain"] == "problem" and listed["first_problem"]["seq"] == 10


def test_an_altered_event_is_refused_from_that_event_on(office):
    terminal, secret = register(office.dsn)
    chain = synthetic_chain(10)
    chain[6] = dict(chain[6], details=chain[6]["details"].replace("\"amount\":400", "\"amount\":40000"))
    status, reply = post(office.url, terminal, secret, batch(terminal, chain))
    assert status == 409 and reply == {"acked": 6, "stored": 6, "repeated": 0, "error": {
        "code": "altered", "seq": 7, "message": "event 7's content does not match its content hash"}}
    assert problems(office.dsn, terminal) == [(7, "altered", False)]
    assert stored_seqs(office.dsn, terminal) == list(range(1, 7))


def test_a_gap_is_recorded_until_the_missing_events_arrive(office):
    terminal, secret = register(office.dsn)
    chain = synthetic_chain(10)
    post(office.url, terminal, secret, batch(terminal, chain[:3]))
    status, reply = post(office.url, terminal, secret, batch(terminal, chain[6:]))
    assert status == 409 and reply["error"]["code"] == "gap" and reply["error"]["seq"] == 7 and reply["acked"] == 3
    post(office.url, terminal, secret, batch(terminal, chain[6:]))  # the same gap again: one problem, seen twice
    assert query(office.dsn, "SELECT seq, what, times FROM chain_problems WHERE terminal = %s", terminal) == [
        (7, "gap", 2)]
    assert {t["terminal"]: t for t in _terminals(office.dsn)}[terminal]["chain"] == "problem"
    assert post(office.url, terminal, secret, batch(terminal, chain[3:]))[0] == 200
    assert problems(office.dsn, terminal) == [(7, "gap", True)]
    assert {t["terminal"]: t for t in _terminals(office.dsn)}[terminal]["chain"] == "ok"


def _terminals(dsn):
    with db.connect(dsn) as conn:
        return store.terminals(conn)


# ----------------------------------------------------------------------------- who may write
def test_a_terminal_cannot_post_another_terminals_events(office):
    mine, my_secret = register(office.dsn)
    theirs, their_secret = register(office.dsn, merchant="M2")
    chain = synthetic_chain(4)
    status, reply = post(office.url, mine, my_secret, batch(theirs, chain))
    assert status == 403 and reply["error"]["code"] == "wrong_terminal"
    assert post(office.url, theirs, my_secret, batch(theirs, chain))[0] == 401
    assert post(office.url, "T9999", my_secret, batch("T9999", chain))[0] == 401
    assert stored_seqs(office.dsn, theirs) == [] and stored_seqs(office.dsn, mine) == []
    assert post(office.url, theirs, their_secret, batch(theirs, chain))[0] == 200
    assert stored_seqs(office.dsn, theirs) == [1, 2, 3, 4] and stored_seqs(office.dsn, mine) == []


def test_a_request_without_credentials_is_refused(office):
    parts = urllib.parse.urlsplit(office.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.request("POST", parts.path, body=b"{}", headers={"Content-Type": "application/json"})
    reply = conn.getresponse()
    assert reply.status == 401 and reply.getheader("WWW-Authenticate") == 'Basic realm="posoffice"'


# ----------------------------------------------------------------------------- limits
def test_a_body_over_the_limit_is_refused_before_it_is_read(office):
    terminal, secret = register(office.dsn)
    parts = urllib.parse.urlsplit(office.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.putrequest("POST", parts.path)
    import base64
    conn.putheader("Authorization", "Basic " + base64.b64encode(f"{terminal}:{secret}".encode()).decode())
    conn.putheader("Content-Length", str(64 * 1024 * 1024))
    conn.endheaders()  # no body follows: the answer must not wait for it
    reply = conn.getresponse()
    assert reply.status == 413 and json.loads(reply.read())["error"]["code"] == "too_large"


def test_a_batch_of_more_than_500_events_is_refused(office):
    terminal, secret = register(office.dsn)
    status, reply = post(office.url, terminal, secret, batch(terminal, synthetic_chain(501)))
    assert status == 413 and reply["error"]["code"] == "too_many_events"
    assert stored_seqs(office.dsn, terminal) == []


# ----------------------------------------------------------------------------- migrations
def test_collectors_starting_at_once_apply_each_migration_once(pg_cluster):
    dsn = pg_cluster.new_database()

    def start():
        with db.connect(dsn) as conn:
            return db.migrate(conn)

    with ThreadPoolExecutor(4) as pool:
        applied = list(pool.map(lambda _: start(), range(4)))
    every = [m.version for m in db.migrations()]
    assert sorted(applied) == [[], [], [], every]
    assert query(dsn, "SELECT version, name FROM schema_version ORDER BY version") == [
        (m.version, m.name) for m in db.migrations()]
