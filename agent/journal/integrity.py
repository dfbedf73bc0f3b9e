"""The journal's integrity at the daemon's start: the chain's tail at once, the whole chain in the background.

`check_tail` re-hashes the newest events (a bounded amount of work however large the journal), so a
daemon never starts appending to a chain whose end was tampered with.  `check_all` is `Journal.verify`
on its own read-only connection, so the daemon can run it in a worker thread while it serves; WAL lets
it read a consistent snapshot while new events are written.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from agent.journal.hashchain import GENESIS, content_hash, link, verify_chain
from agent.journal.schema import CACHE_KIB
from agent.journal.records import VerifyResult

#: events re-hashed before the daemon serves
TAIL_EVENTS = 2000


def _read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection inside one read transaction: every query sees the same WAL snapshot, so
    rows the daemon changes while the check runs cannot look changed behind the events' backs."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0, isolation_level=None)
    conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")  # as the writer's: it reads every page once
    conn.execute("BEGIN")
    return conn


def check_tail(path: Path, events: int = TAIL_EVENTS) -> VerifyResult:
    """The last `events` events: each content hash, each link to the one before, no gaps."""
    conn = _read_only(path)
    try:
        last = conn.execute("SELECT max(id), count(*) FROM events").fetchone()
        if last[0] is None:
            return VerifyResult(True, 0)
        start = max(1, last[0] - events + 1)
        if start == 1:
            previous = GENESIS
        else:
            row = conn.execute("SELECT hash FROM events WHERE id = ?", (start - 1,)).fetchone()
            if row is None:
                return VerifyResult(False, 0, start - 1, f"event {start - 1} is missing (deleted)")
            previous = row[0]
        checked, want = 0, start
        for row in conn.execute("SELECT id, at, txn_id, kind, operator, role, details, content_hash, hash "
                                "FROM events WHERE id >= ? ORDER BY id", (start,)):
            checked += 1
            if row[0] != want:
                return VerifyResult(False, checked, want, f"events {want}..{row[0] - 1} are missing (deleted)")
            want += 1
            if content_hash(*row[:7]) != row[7]:
                return VerifyResult(False, checked, row[0], "event content was changed (its content hash does "
                                                            "not match)")
            if link(previous, row[7]) != row[8]:
                return VerifyResult(False, checked, row[0], "hash chain broken (event changed, reordered or an "
                                                            "earlier one removed)")
            previous = row[8]
        return VerifyResult(True, checked)
    except sqlite3.DatabaseError as exc:
        return VerifyResult(False, 0, None, f"the journal cannot be read: {exc}")
    finally:
        conn.close()


def check_all(path: Path) -> VerifyResult:
    """SQLite's integrity check, the whole chain and every row it vouches for (as `posagent journal verify`)."""
    conn = _read_only(path)
    try:
        problems = [r[0] for r in conn.execute("PRAGMA integrity_check")]
        if problems != ["ok"]:
            return VerifyResult(False, 0, None, "SQLite integrity check failed: " + "; ".join(problems[:3]))
        count, broken, why = verify_chain(conn)
        return VerifyResult(why is None, count, broken, why)
    except sqlite3.DatabaseError as exc:
        return VerifyResult(False, 0, None, f"the journal cannot be read: {exc}")
    finally:
        conn.close()
