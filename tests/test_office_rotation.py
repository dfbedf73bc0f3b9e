"""A terminal's shipping secret rotated without losing events (`posoffice terminal rotate`): the old secret is
accepted until the terminal first logs in with the new one or until the grace period ends, whichever comes
first; the daemon reads its secret file again by itself.  Real parts: the collector as a process on a real
PostgreSQL, and in the last test the daemon shipping over TLS through a rotation."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import psycopg
import pytest

from agent.atomicfile import atomic_write
from agent.journal import Journal
from posoffice import db, store
from tests.agentproc import Agent, write_config
from tests.harness import wait_for
from tests.pgcluster import ROOT, Collector, batch, pg_cluster, post, synthetic_chain  # noqa: F401
from tests.testca import pki  # noqa: F401 (the fixture)

TERMINAL = "10000001"  # the daemon's terminal id in tests/agentproc.py's configuration
CHAIN = synthetic_chain(12)


@pytest.fixture
def office(pg_cluster):
    dsn = pg_cluster.new_database()
    with db.connect(dsn) as conn:
        db.migrate(conn)
        secret = store.add_terminal(conn, TERMINAL, "M1")
    collector = Collector(dsn)
    yield collector, secret
    collector.stop()


def rotate(dsn: str, grace_s: float) -> store.Rotated:
    with db.connect(dsn) as conn:
        return store.rotate_secret(conn, TERMINAL, grace_s)


def send(collector, secret: str, first: int, last: int) -> int:
    status, _ = post(collector.url, TERMINAL, secret, batch(TERMINAL, CHAIN[first - 1:last]))
    return status


def previous_kept(dsn: str) -> bool:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT previous_credential_hash IS NOT NULL FROM terminals WHERE id = %s",
                            (TERMINAL,)).fetchone()[0]


def grace_ends(dsn: str) -> None:
    """The grace period of the secret before the newest ends now, as the clock would end it."""
    with psycopg.connect(dsn) as conn:
        conn.execute("UPDATE terminals SET previous_valid_until = now() - interval '1 second' "
                     "WHERE id = %s AND previous_valid_until IS NOT NULL", (TERMINAL,))


def stored(dsn: str) -> tuple[int, int]:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT count(*), count(DISTINCT seq) FROM events WHERE terminal = %s",
                            (TERMINAL,)).fetchone()


def test_the_old_secret_works_until_the_new_one_is_first_used_and_no_event_is_lost(office):
    collector, old = office
    assert send(collector, old, 1, 3) == 200  # the old secret, remembered by the collector after this
    new = rotate(collector.dsn, 3600).secret
    assert new != old and previous_kept(collector.dsn)
    assert send(collector, old, 4, 6) == 200  # the grace period: the terminal has not got the new one yet
    assert send(collector, new, 7, 9) == 200  # the new one's first use retires the old one at once
    assert not previous_kept(collector.dsn)
    assert send(collector, old, 10, 12) == 401  # also where the collector had remembered it
    assert send(collector, new, 10, 12) == 200
    assert stored(collector.dsn) == (12, 12)


def test_the_old_secret_is_refused_when_its_grace_ends_or_at_once_with_no_grace(office):
    collector, old = office
    rotated = rotate(collector.dsn, 3600)
    assert send(collector, old, 1, 2) == 200
    grace_ends(collector.dsn)  # an hour later, without waiting one (a short real grace races a loaded machine)
    assert send(collector, old, 3, 4) == 401 and send(collector, rotated.secret, 3, 4) == 200
    newest = rotate(collector.dsn, 0).secret
    assert rotated.old_valid_until is not None and not previous_kept(collector.dsn)
    assert send(collector, rotated.secret, 5, 6) == 401 and send(collector, newest, 5, 6) == 200
    # two rotations inside one grace period: only the newest and the one just before are accepted
    second = rotate(collector.dsn, 3600).secret
    third = rotate(collector.dsn, 3600).secret
    assert send(collector, newest, 7, 8) == 401
    assert send(collector, second, 7, 8) == 200 and send(collector, third, 9, 10) == 200
    assert stored(collector.dsn) == (10, 10)


def test_rotate_prints_the_new_secret_once_and_refuses_bad_input_in_one_line(office):
    collector, _ = office
    run = subprocess.run([sys.executable, "-m", "posoffice", "terminal", "rotate", TERMINAL, "--grace", "2",
                          "--dsn", collector.dsn], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run
    [secret] = [line.split(": ", 1)[1] for line in run.stdout.splitlines() if line.startswith("secret: ")]
    assert run.stdout.count(secret) == 1 and "first logs in with the new one, or until" in run.stdout
    assert send(collector, secret, 1, 2) == 200
    for args, expected in ((["rotate", "NOPE"], "no terminal NOPE is registered"),
                           (["rotate", TERMINAL, "--grace", "-1"], "is not a number of hours from 0 to 720"),
                           (["rotate", TERMINAL, "--grace", "nan"], "is not a number of hours from 0 to 720")):
        run = subprocess.run([sys.executable, "-m", "posoffice", "terminal", *args, "--dsn", collector.dsn],
                             cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert run.returncode == 2 and expected in run.stderr and "Traceback" not in run.stderr, run
        assert len(run.stderr.strip().splitlines()) == 1, run.stderr


def test_a_revoked_terminal_is_refused_until_it_is_given_a_new_secret_and_terminals_says_so(office):
    collector, old = office
    assert send(collector, old, 1, 2) == 200  # remembered by the collector
    rotate(collector.dsn, 3600)  # a rotation under way: revoking ends its grace too
    run = subprocess.run([sys.executable, "-m", "posoffice", "terminal", "revoke", TERMINAL, "--dsn", collector.dsn],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and "every login refused" in run.stdout, run
    assert send(collector, old, 3, 4) == 401
    listed = subprocess.run([sys.executable, "-m", "posoffice", "terminals", "--json", "--dsn", collector.dsn],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    [row] = json.loads(listed.stdout)
    assert (row["secret"], row["old_secret_until"]) == ("revoked", None)
    fresh = rotate(collector.dsn, 3600)
    assert fresh.old_valid_until is None  # nothing of a revoked terminal is accepted beside the new secret
    assert send(collector, old, 3, 4) == 401 and send(collector, fresh.secret, 3, 4) == 200
    newer = rotate(collector.dsn, 3600)
    table = subprocess.run([sys.executable, "-m", "posoffice", "terminals", "--dsn", collector.dsn], cwd=ROOT,
                           capture_output=True, text=True, timeout=60).stdout
    assert f"{TERMINAL}: secret rotated; the old one is accepted until the new one's first use or " in table
    assert send(collector, newer.secret, 5, 6) == 200 and stored(collector.dsn) == (6, 6)
    gone = subprocess.run([sys.executable, "-m", "posoffice", "terminal", "revoke", "NOPE", "--dsn", collector.dsn],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert gone.returncode == 2 and "no terminal NOPE is registered" in gone.stderr


def _head(journal) -> int:
    with Journal.open(journal, fingerprint_key=None, read_only=True) as j:
        return j.core.conn.execute("SELECT max(id) FROM events").fetchone()[0]


def test_a_shipping_daemon_carries_on_through_a_rotation_without_losing_an_event(tmp_path, sim_host, pg_cluster,
                                                                                pki):
    dsn = pg_cluster.new_database()
    with db.connect(dsn) as conn:
        db.migrate(conn)
        secret = store.add_terminal(conn, TERMINAL, "M1")
    collector = Collector(dsn, tls=pki["host"])
    secret_file = tmp_path / "office.secret"
    secret_file.write_text(secret + "\n")
    os.chmod(secret_file, 0o600)
    extra = (f'[office]\nurl = "{collector.url}"\nsecret_file = "{secret_file}"\nca_file = "{pki["ca"]}"\n'
             "interval = 1\n")
    agent = Agent(write_config(tmp_path, sim_host.port, extra=extra), tmp_path)
    journal = tmp_path / "journal.db"
    agent.start()

    def sell(amount: str) -> None:
        sold = agent.json("sale", amount, "--card", "debit", "--confirm-duplicate")
        assert sold["outcome"]["status"] == "approved", sold

    def office_backlog() -> int:
        return agent.call("status")["result"]["office"]["backlog"]

    try:
        sell("12.00")
        wait_for(lambda: stored(dsn)[0] >= _head(journal) and office_backlog() == 0, 30, "the first sale shipped")
        # a rotation with a grace period: the daemon goes on with the old secret until its file changes
        with db.connect(dsn) as conn:
            second = store.rotate_secret(conn, TERMINAL, 3600).secret
        sell("13.00")
        wait_for(lambda: office_backlog() == 0, 30, "shipping on with the old secret")
        atomic_write(secret_file, (second + "\n").encode())  # what the installer does: a new file, 0600
        sell("14.00")
        wait_for(lambda: not previous_kept(dsn), 30, "the daemon to log in with the new secret")
        wait_for(lambda: office_backlog() == 0, 30, "shipping with the new secret")
        # a strict rotation (no grace): refused until the new secret is in the file; sales go on meanwhile
        with db.connect(dsn) as conn:
            third = store.rotate_secret(conn, TERMINAL, 0).secret
        sell("15.00")
        wait_for(lambda: "refused terminal" in (agent.call("status")["result"]["office"]["last_error"] or ""), 30,
                 "the refusal shown in status")
        assert office_backlog() > 0
        atomic_write(secret_file, (third + "\n").encode())
        wait_for(lambda: office_backlog() == 0, 30, "the backlog drained with the newest secret")
        wait_for(lambda: agent.call("status")["result"]["office"]["last_error"] is None, 30, "the refusal gone")
        assert "office secret reloaded" in agent.log_text
    finally:
        agent.stop()
        collector.stop()
    head = _head(journal)
    assert stored(dsn) == (head, head)  # every event, once
    verified = subprocess.run([sys.executable, "-m", "posoffice", "verify", TERMINAL, "--dsn", dsn], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
    assert verified.returncode == 0, verified
    assert secret not in agent.log_text and second not in agent.log_text and third not in agent.log_text
