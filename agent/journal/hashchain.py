"""The hash chain that makes the journal tamper-evident.

Every event stores `content_hash = sha256(canonical [id, at, txn_id, kind, operator, role, details])`
and `hash = sha256(previous hash + content_hash)`; the first event follows `GENESIS`.  Each event also
lists the digest of every row it wrote (`details["rows"]`: ``[table, key, digest]``), so a row changed,
inserted or deleted behind the journal's back no longer matches the last digest the chain vouches for.
A plain SHA-256 chain needs no key, so a bank can check an exported bundle on its own.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from typing import Any, Iterable, Iterator

GENESIS = "0" * 64
#: tables whose every row is vouched for by the chain, with their key column
CHAINED_TABLES = {"batches": "id", "transactions": "id", "reversals": "id", "messages": "id",
                  "counters": "name", "state": "key", "fixes": "id", "tc_uploads": "id",
                  "param_downloads": "id", "param_items": "id", "param_sets": "id"}
#: the proof's name for a table whose name changed: the `fixes` table was called `chains` until schema
#: version 6, and the events that vouch for its rows (in `rows` and `pruned`) say "chains" and can never
#: change (they are hash-chained); its rows' digests are over this name too, so old and new ones compare
PROOF_TAGS = {"fixes": "chains"}


def proof_tag(table: str) -> str:
    """The name events give a table's rows (`details["rows"]`, `details["pruned"]`) and their digests hash."""
    return PROOF_TAGS.get(table, table)


#: one encoder for every call (json.dumps with these options builds a new one each time)
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


def canonical(value: Any) -> str:
    return _CANONICAL(value)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def row_digest(table: str, values: Iterable[Any]) -> str:
    # repr of str/int/float/None is exact and stable, and much cheaper than JSON on the hot path;
    # integral floats become ints because RETURNING reports a REAL column's 5.0 as 5
    values = tuple(int(v) if type(v) is float and v.is_integer() else v for v in values)
    return hashlib.sha256(repr((table, *values)).encode("utf-8")).hexdigest()


def content_hash(event_id: int, at: float, txn_id: int | None, kind: str, operator: str | None,
                 role: str | None, details_text: str) -> str:
    return sha256(canonical([event_id, at, txn_id, kind, operator, role, details_text]))


def link(previous: str, content: str) -> str:
    return sha256(previous + content)


#: the digests the events vouch for, while `verify_chain` runs: a TEMP table of the checking connection
_EXPECTED = "verify_chain_expected"
#: its page cache (KiB): the table itself goes to a temporary file, so the check's memory stays this
#: whatever the journal's size (a dict of every row's digest held ~380 bytes per row: 3.8 MB of Python
#: objects at 10,000 sales, and the daemon checks the whole journal at every start)
EXPECTED_CACHE_KIB = 256


def verify_chain(conn: sqlite3.Connection) -> tuple[int, int | None, str | None]:
    """Check the chain and every chained row: (events checked, first broken event id or None, why).  One
    read snapshot throughout (a savepoint); nothing is left behind in the connection."""
    conn.execute("SAVEPOINT verify_chain")
    try:
        conn.execute(f"PRAGMA temp.cache_size = -{EXPECTED_CACHE_KIB}")
        conn.execute(f"CREATE TEMP TABLE {_EXPECTED} (tbl TEXT NOT NULL, key NOT NULL, digest TEXT NOT NULL, "
                     f"event_id INTEGER NOT NULL, UNIQUE (tbl, key))")
        return _verify_chain(conn)
    finally:
        conn.execute("ROLLBACK TO verify_chain")  # the temporary table goes with it
        conn.execute("RELEASE verify_chain")


def _verify_chain(conn: sqlite3.Connection) -> tuple[int, int | None, str | None]:
    # the last digest an event gave each row: a later event's replaces it (its place in the order of
    # first records, which breaks ties between rows deleted behind one event's back, stays)
    record = (f"INSERT INTO temp.{_EXPECTED} (tbl, key, digest, event_id) VALUES (?, ?, ?, ?) "
              f"ON CONFLICT (tbl, key) DO UPDATE SET digest = excluded.digest, event_id = excluded.event_id")
    forget = f"DELETE FROM temp.{_EXPECTED} WHERE tbl = ? AND key BETWEEN ? AND ?"
    previous, count, want_id = GENESIS, 0, None
    for row in conn.execute("SELECT id, at, txn_id, kind, operator, role, details, content_hash, hash "
                            "FROM events ORDER BY id"):
        count += 1
        event_id = row[0]
        if want_id is not None and event_id != want_id:
            return count, want_id, f"events {want_id}..{event_id - 1} are missing (deleted)"
        if want_id is None and event_id != 1:
            return count, 1, f"the log starts at event {event_id}: earlier events are missing"
        want_id = event_id + 1
        recomputed = content_hash(event_id, row[1], row[2], row[3], row[4], row[5], row[6])
        if recomputed != row[7]:
            return count, event_id, "event content was changed (its content hash does not match)"
        if link(previous, row[7]) != row[8]:
            return count, event_id, "hash chain broken (event changed, reordered or an earlier one removed)"
        previous = row[8]
        try:
            details = json.loads(row[6])
        except ValueError:
            return count, event_id, "event details are not valid JSON"
        for table, ranges in (details.get("pruned") or {}).items():
            conn.executemany(forget, [(table, lo, hi) for lo, hi in ranges])
        rows = details.get("rows")
        if rows:
            conn.executemany(record, [(table, key, digest, event_id) for table, key, digest in rows])
    for table, key_column in CHAINED_TABLES.items():
        for row in _rows(conn, table, key_column):
            *values, want, by_event = row
            key = row[key_column]
            if want is None:
                return count, None, f"{table} row {key} was added outside the journal (no event records it)"
            if want != row_digest(proof_tag(table), values):
                return count, by_event, f"{table} row {key} was changed after event {by_event} recorded it"
    gone = None  # the earliest event whose row is no longer there, over every table
    for table, key_column in CHAINED_TABLES.items():
        first = conn.execute(f"SELECT event_id, e.rowid, key FROM temp.{_EXPECTED} e WHERE tbl = ? AND NOT EXISTS "
                             f"(SELECT 1 FROM main.{table} t WHERE t.{key_column} = e.key) "
                             f"ORDER BY event_id, e.rowid LIMIT 1", (proof_tag(table),)).fetchone()
        if first is not None and (gone is None or tuple(first[:2]) < gone[:2]):
            gone = (first[0], first[1], table, first[2])
    if gone is not None:
        event_id, _, table, key = gone
        return count, event_id, f"{table} row {key} recorded by event {event_id} was deleted"
    return count, None, None


def _rows(conn: sqlite3.Connection, table: str, key_column: str) -> Iterator[sqlite3.Row]:
    """Each row in key order, with the digest and event its last record gave it (None, None: none did).
    `+t.key` compares the keys as stored (no affinity on either side), so the look-up uses the index."""
    cursor = conn.execute(f"SELECT t.*, e.digest, e.event_id FROM main.{table} t LEFT JOIN temp.{_EXPECTED} e "
                          f"ON e.tbl = ? AND e.key = +t.{key_column} ORDER BY t.{key_column}", (proof_tag(table),))
    cursor.row_factory = sqlite3.Row
    yield from cursor


def verify_bundle_proof(proof: dict[str, Any], events: list[dict[str, Any]]) -> str | None:
    """Check an exported bundle's proof on its own; returns None when it holds, else why not."""
    by_id = {e["id"]: e for e in events}
    previous = proof["start_previous_hash"]
    for event_id, chash, ehash in proof["links"]:
        if event_id in by_id:
            e = by_id.pop(event_id)
            if content_hash(e["id"], e["at"], e["txn_id"], e["kind"], e["operator"], e["role"],
                            canonical(e["details"])) != chash:
                return f"event {event_id}: content does not match its hash"
        if link(previous, chash) != ehash:
            return f"event {event_id}: chain link broken"
        previous = ehash
    if by_id:
        return f"events {sorted(by_id)} are not covered by the proof"
    if previous != proof["head_hash"]:
        return "the proof does not end at the recorded head"
    return None
