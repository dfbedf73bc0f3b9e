"""The re-walk of the stored chains — `posoffice verify`, and retention before it removes a prefix: each event
re-hashed from the stored text, each link, no seq missing, the jsonb copy equal to the text, the cursor at the last
event.  Nothing is changed.
"""

from __future__ import annotations

import json
from typing import Any, Iterator, TypedDict

import psycopg

from agent.journal.hashchain import link
from posoffice.chain import Cursor, recomputed_content_hash
from posoffice.store import check_terminal_exists
from posoffice.wire import WireEvent


class WalkProblem(TypedDict):
    """What a re-walk found wrong at event `seq`."""

    seq: int
    what: str


class ChainProblem(WalkProblem):
    terminal: str


class Verified(TypedDict):
    """`verify`'s answer (as `posoffice verify --json` prints it)."""

    terminals: int
    events: int
    retired: int  # events retention removed before the anchors the walks started from
    ok: bool
    problems: list[ChainProblem]


def verify(conn: psycopg.Connection, terminal: str | None = None) -> Verified:
    """Re-walk every stored chain (or one terminal's): each event re-hashed from the stored text, each link,
    no seq missing, the jsonb copy equal to the text, the cursor at the last event.  Nothing is changed."""
    if terminal is not None:
        check_terminal_exists(conn, terminal)
    found: list[ChainProblem] = []
    checked = 0
    cursors = conn.execute("SELECT c.terminal, c.last_seq, c.last_hash, a.seq, a.hash FROM cursors c "
                           "LEFT JOIN chain_anchors a ON a.terminal = c.terminal WHERE %s::text IS NULL OR "
                           "c.terminal = %s ORDER BY c.terminal", (terminal, terminal)).fetchall()
    retired = 0
    for tid, last_seq, last_hash, anchor_seq, anchor_hash in cursors:
        anchor = Cursor(anchor_seq, anchor_hash) if anchor_seq is not None else Cursor.start()
        count, problems = _walk(conn, tid, Cursor(last_seq, last_hash), anchor)
        checked += count
        retired += anchor.seq
        found.extend({"terminal": tid, **p} for p in problems)
    return {"terminals": len(cursors), "events": checked, "retired": retired, "ok": not found, "problems": found}


def _walk(conn: psycopg.Connection, terminal: str, cursor: Cursor,
          anchor: Cursor = Cursor.start()) -> tuple[int, list[WalkProblem]]:
    """From `anchor`: the last event retention removed (its seq and chain hash), or the chain's start."""
    problems: list[WalkProblem] = []
    previous, want, count = anchor.hash, anchor.seq + 1, 0
    for e, details in _stored_events(conn, terminal):
        count += 1
        if e.seq != want:
            problems.append({"seq": want, "what": f"events {want}..{e.seq - 1} are missing"})
        want = e.seq + 1
        if recomputed_content_hash(e) != e.content_hash:
            problems.append({"seq": e.seq, "what": "the event was changed (its content hash does not match)"})
        elif _parsed(e.details) != details:
            problems.append({"seq": e.seq, "what": "the details column differs from the hashed details text"})
        if link(previous, e.content_hash) != e.hash:
            problems.append({"seq": e.seq, "what": "the chain link is broken (hash changed or an event before "
                                                   "it removed)"})
        previous = e.hash
        if len(problems) >= 100:
            problems.append({"seq": e.seq, "what": "more problems follow; the walk stopped here"})
            return count, problems
    if want - 1 != cursor.seq or (cursor.seq and previous != cursor.hash):
        problems.append({"seq": cursor.seq, "what": f"the office's cursor says event {cursor.seq} is the last "
                                                    f"verified, but the stored chain ends at {want - 1}"
                                                    + ("" if want - 1 != cursor.seq else " with another hash")})
    return count, problems


def _stored_events(conn: psycopg.Connection, terminal: str) -> Iterator[tuple[WireEvent, Any]]:
    with conn.cursor(name="office_verify") as cur:  # server-side: a long chain is read in pieces
        cur.itersize = 2000
        cur.execute("SELECT seq, at, txn_id, kind, operator, role, details_text, content_hash, hash, details "
                    "FROM events WHERE terminal = %s ORDER BY seq", (terminal,))
        for r in cur:
            yield WireEvent(*r[:9]), r[9]


def _parsed(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None
