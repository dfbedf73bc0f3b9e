"""Retention in the office (`posoffice retention --days N [--apply]`): old events of settled, reconciled batches
removed as a prefix of each chain, the last one kept as the chain's anchor, so `posoffice verify` and the
collector's checks go on from it.  On a real PostgreSQL, through the office's own ingest and CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime, timezone

import psycopg
import pytest

from agent.journal.hashchain import GENESIS, canonical, content_hash, link
from posoffice import db, store
from posoffice.chain import recomputed_content_hash
from posoffice.retention import plan_chain
from posoffice.wire import Batch, WireEvent
from tests.pgcluster import ROOT, office_dsn, pg_cluster  # noqa: F401

DAY = 86400.0
NOW = time.time()
A, B, C = NOW - 100 * DAY, NOW - 95 * DAY, NOW - 1 * DAY  # three business days: two old, one recent


def utc_day(at: float) -> str:
    return datetime.fromtimestamp(at, timezone.utc).date().isoformat()


def chain() -> list[WireEvent]:
    """Batch 1 on day A (two sales, settled), a pre-authorization, batch 2 on day B (a sale, settled), a sale of
    batch 3 today (open)."""
    events, previous = [], GENESIS

    def event(txn_id, kind, at, details):
        nonlocal previous
        seq, text = len(events) + 1, canonical({**details, "rows": []})
        chash = content_hash(seq, at, txn_id, kind, "01", "cashier", text)
        previous = link(previous, chash)
        events.append(WireEvent(seq, at, txn_id, kind, "01", "cashier", text, chash, previous))

    def sale(txn_id, at, batch, kind="sale"):
        event(txn_id, "txn.begin", at, {"kind": kind, "amount": 1000 * txn_id, "trace": txn_id, "batch": batch})
        event(txn_id, "txn.complete", at + 1, {"state": "approved", "rrn": f"{txn_id:012d}"})

    sale(1, A + 8 * 3600, 1)                                             # 1, 2
    sale(2, A + 9 * 3600, 1)                                             # 3, 4
    event(None, "settlement.finish", A + 10 * 3600, {"batch": 1, "next": 2})  # 5
    sale(3, A + 11 * 3600, 2, kind="preauth")                           # 6, 7: on no statement
    sale(4, B + 8 * 3600, 2)                                             # 8, 9
    event(None, "settlement.finish", B + 10 * 3600, {"batch": 2, "next": 3})  # 10
    sale(5, C, 3)                                                        # 11, 12
    return events


CHAIN = chain()


@pytest.fixture
def office(office_dsn):
    with db.connect(office_dsn) as conn:
        db.migrate(conn)
        for terminal in ("T1", "T2"):
            store.add_terminal(conn, terminal, "M1")
            result = store.ingest(conn, terminal, Batch(terminal, 12, tuple(CHAIN)))
            assert (result.acked, result.problem) == (12, None)
    return office_dsn


def reconciled(dsn: str, day: float, terminals=("T1",), status="balanced") -> None:
    with db.connect(dsn) as conn:
        store.record_reconciliation(conn, {"statement": "merchant.csv", "format": "posim", "status": status,
                                           "merchant_id": "M1", "settlement_date": utc_day(day),
                                           "error": "unreadable" if status == "refused" else None,
                                           "report": {"terminals": [{"terminal_id": t} for t in terminals]}})


def posoffice(dsn: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "posoffice", *args, "--dsn", dsn], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


def retention(dsn: str, *args: str) -> dict:
    run = posoffice(dsn, "retention", "--days", "30", "--tz", "UTC", "--json", *args)
    assert run.returncode == 0, run
    return {t["terminal"]: t for t in json.loads(run.stdout)["terminals"]}


def seqs(dsn: str, terminal: str = "T1") -> list[int]:
    with psycopg.connect(dsn) as conn:
        return [r[0] for r in conn.execute("SELECT seq FROM events WHERE terminal = %s ORDER BY seq", (terminal,))]


def test_a_dry_run_says_what_would_go_and_why_it_stops_and_removes_nothing(office):
    reconciled(office, A + 10 * 3600)
    reconciled(office, B + 10 * 3600, terminals=("T2",))  # another terminal's run does not cover T1
    reconciled(office, B + 10 * 3600, status="refused")  # nor does a refused one
    plans = retention(office)
    assert (plans["T1"]["first"], plans["T1"]["through"], plans["T1"]["kept_from"]) == (1, 7, 8)
    assert "batch 000002, settled on" in plans["T1"]["why"] and "no reconciliation run covers" in plans["T1"]["why"]
    assert (plans["T2"]["through"], plans["T2"]["kept_from"]) == (0, 1)  # its batch 1 is not reconciled
    assert seqs(office) == list(range(1, 13))
    text = posoffice(office, "retention", "--days", "30", "--tz", "UTC").stdout
    assert "T1: would remove events 1..7 (7); kept from event 8" in text and "dry run: 7 event(s)" in text


def test_applied_the_chain_keeps_an_anchor_and_verify_and_ingest_go_on_from_it(office, tmp_path):
    reconciled(office, A + 10 * 3600)
    assert retention(office, "--apply", "--archive", str(tmp_path / "archive"))["T1"]["events"] == 7
    # the archive: the events removed as the terminal shipped them, re-walked with the journal's functions
    archived = tmp_path / "archive" / "events-T1-000000001-000000007.jsonl"
    assert oct(archived.stat().st_mode & 0o777) == "0o600"
    previous = GENESIS
    for line, sent in zip(archived.read_text().splitlines(), CHAIN, strict=False):
        event = WireEvent(**json.loads(line))
        assert event == sent and recomputed_content_hash(event) == event.content_hash
        previous = link(previous, event.content_hash)
    assert len(archived.read_text().splitlines()) == 7 and previous == CHAIN[6].hash  # the anchor's hash
    assert seqs(office) == list(range(8, 13)) and seqs(office, "T2") == list(range(1, 13))
    verified = posoffice(office, "verify")
    assert verified.returncode == 0 and "7 older events removed" in verified.stdout, verified
    listed = {t["terminal"]: t for t in json.loads(posoffice(office, "terminals", "--json").stdout)}
    assert (listed["T1"]["retired_through"], listed["T2"]["retired_through"]) == (7, None)
    assert "T1: events 1..7 removed by retention" in posoffice(office, "terminals").stdout
    with db.connect(office) as conn:
        # a shipper sending everything again (its cursor lost): acknowledged, nothing stored twice
        again = store.ingest(conn, "T1", Batch("T1", 12, tuple(CHAIN)))
        assert (again.acked, again.stored, again.repeated, again.problem) == (12, 0, 12, None)
        altered = CHAIN[2].__class__(**{**CHAIN[2].as_json(), "details": CHAIN[2].details.replace("2000", "1")})
        assert altered.details != CHAIN[2].details
        refused = store.ingest(conn, "T1", Batch("T1", 12, (CHAIN[0], CHAIN[1], altered)))
        assert (refused.problem.what, refused.problem.seq) == ("altered", 3)
        forked = CHAIN[6].__class__(**{**CHAIN[6].as_json(), "hash": "f" * 64})  # the anchor, another chain hash
        refused = store.ingest(conn, "T1", Batch("T1", 12, (forked,)))
        assert (refused.problem.what, refused.problem.seq) == ("fork", 7)
    # the next day's run covers batch 2; the refused events above are open problems: nothing goes until a
    # person has looked at them (here: marked resolved), then the walk goes on to today's events
    reconciled(office, B + 10 * 3600)
    assert "open chain problem (altered at event 3)" in retention(office, "--apply")["T1"]["why"]
    with psycopg.connect(office) as conn:
        conn.execute("UPDATE chain_problems SET resolved_at = now() WHERE terminal = 'T1'")
    plans = retention(office, "--apply")
    assert (plans["T1"]["first"], plans["T1"]["through"], plans["T1"]["kept_from"]) == (8, 10, 11)
    assert "made less than 30 days ago" in plans["T1"]["why"]
    assert seqs(office) == [11, 12] and posoffice(office, "verify").returncode == 0
    assert retention(office, "--apply")["T1"]["events"] == 0  # nothing more: the same answer again
    with psycopg.connect(office) as conn:
        runs = conn.execute("SELECT removed FROM retention_runs ORDER BY id").fetchall()
        assert runs == [(7,), (3,)]


def test_verify_still_finds_an_altered_event_or_anchor_after_retention(office):
    reconciled(office, A + 10 * 3600)
    retention(office, "--apply")
    with psycopg.connect(office) as conn:
        conn.execute("UPDATE chain_anchors SET hash = %s WHERE terminal = 'T1'", ("0" * 64,))
    found = posoffice(office, "verify", "T1")
    assert found.returncode == 1 and "T1 event 8: the chain link is broken" in found.stdout, found
    with psycopg.connect(office) as conn:
        conn.execute("UPDATE chain_anchors SET hash = %s WHERE terminal = 'T1'", (CHAIN[6].hash,))
        conn.execute("UPDATE events SET details_text = replace(details_text, '4000', '4001') "
                     "WHERE terminal = 'T1' AND seq = 8")
    found = posoffice(office, "verify", "T1")
    assert found.returncode == 1 and "T1 event 8: the event was changed" in found.stdout, found
    # a chain that does not verify is never cut: the anchor would vouch for what was changed
    reconciled(office, B + 10 * 3600)
    plans = retention(office, "--apply")
    assert plans["T1"]["events"] == 0 and "the chain does not verify (event 8" in plans["T1"]["why"]
    assert seqs(office) == list(range(8, 13))


def test_a_terminal_with_an_open_chain_problem_keeps_every_event(office):
    reconciled(office, A + 10 * 3600, terminals=("T1", "T2"))
    with psycopg.connect(office) as conn:
        conn.execute("INSERT INTO chain_problems (terminal, seq, what, detail) VALUES ('T2', 13, 'fork', 'x')")
    plans = retention(office, "--apply")
    assert plans["T1"]["events"] == 7 and plans["T2"]["events"] == 0
    assert "open chain problem (fork at event 13)" in plans["T2"]["why"] and len(seqs(office, "T2")) == 12


def test_an_archive_that_cannot_be_written_removes_nothing_and_a_dry_run_archives_nothing(office, tmp_path):
    reconciled(office, A + 10 * 3600)
    in_the_way = tmp_path / "file"
    in_the_way.write_text("x")
    for args, expected in ((["--apply", "--archive", str(in_the_way)], "archive: "),
                           (["--archive", str(tmp_path / "a")], "--archive goes with --apply")):
        run = posoffice(office, "retention", "--days", "30", *args)
        assert run.returncode == 2 and expected in run.stderr and "Traceback" not in run.stderr, run
        assert len(run.stderr.strip().splitlines()) == 1
    assert seqs(office) == list(range(1, 13)) and not (tmp_path / "a").exists()


def test_bad_days_are_one_line(office):
    for days in ("-1", "3651", "ten"):
        run = posoffice(office, "retention", "--days", days)
        assert run.returncode == 2 and "is not a number of days from 0 to 3650" in run.stderr, run
        assert len(run.stderr.strip().splitlines()) == 1


def test_the_walk_stops_at_the_first_event_that_must_stay():
    batches = {1: (1, "20261201"), 2: (2, None)}
    events = [(1, 10.0, 1), (2, 11.0, None), (3, 12.0, 2), (4, 13.0, None)]
    assert plan_chain("T", events, batches, {"20261201"}, 100.0, first=1, days=30).through == 2
    assert plan_chain("T", events, batches, set(), 100.0, first=1, days=30).through == 0
    assert plan_chain("T", events[:2], batches, {"20261201"}, 100.0, first=1, days=30).kept_from is None
    young = plan_chain("T", events, batches, {"20261201"}, 11.0, first=1, days=30)
    assert (young.through, young.kept_from, young.count) == (1, 2, 1)
