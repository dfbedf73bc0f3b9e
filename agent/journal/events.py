"""The events store: the hash chain every commit appends to, and operator events in it.

Each write transaction ends with exactly one event whose details list the rows it wrote (by digest);
its content hash is linked to the previous event's hash (agent/journal/hashchain.py), so a row changed
or an event removed afterwards breaks the chain where it happened.

Events are never pruned, so every operator event kind has a bound on the size of its details
(`DETAILS_BOUNDS`); an event over its bound is refused before anything is written.
"""

from __future__ import annotations

import json
import re
import sqlite3
from typing import TYPE_CHECKING, Any

from agent.journal.errors import JournalError
from agent.journal.hashchain import GENESIS, canonical, content_hash, link
from agent.journal.scrub import message_text

if TYPE_CHECKING:
    from agent.journal.store import Core, Writer

_KIND = re.compile(r"[a-z][a-z0-9_.-]{0,63}")

#: kind pattern → the most bytes of details (canonical JSON, as stored) an event of that kind carries;
#: the first pattern matching the whole kind applies
DETAILS_BOUNDS: tuple[tuple[re.Pattern[str], int], ...] = tuple((re.compile(pattern), most) for pattern, most in (
    (r"reconcile\.run", 16 * 1024),  # fixed fields and at most 100 findings (agent/reconcile/run.py)
    (r"reconcile\.refused", 2 * 1024),  # the statement's name, digest, format and a 400-character error
    (r"console\.[a-z_]+", 2 * 1024),  # the technician console's audit trail: a few short fields
    (r"auth_(failed|locked)", 512),
    (r"signon|settlement_started", 1024),
    (r"advice\.failed", 2 * 1024),
    (r"wallet\.(paying|query|final)", 8 * 1024),  # a status query carries its masked request
    (r"request_abandoned", 4 * 1024),  # the operation's checked, non-secret arguments
    (r"[a-z][a-z0-9_.-]*", 4 * 1024),  # any other operator event
))


def details_bound(kind: str) -> int:
    """The most bytes of details an event of `kind` may carry."""
    return next(most for pattern, most in DETAILS_BOUNDS if pattern.fullmatch(kind))


def append_event(conn: sqlite3.Connection, writer: "Writer", at: float) -> None:
    """The one event of a write transaction, chained to the last one (called by `Core.write`)."""
    kind, txn_id, operator, role, details = writer.event or ("rows", None, None, "system", {})
    last = writer.cache.get("head")
    if last is None:
        last = conn.execute("SELECT id, hash FROM events ORDER BY id DESC LIMIT 1").fetchone()
    event_id, previous = (last[0] + 1, last[1]) if last else (1, GENESIS)
    text = canonical({**details, "rows": writer.rows})
    chash = content_hash(event_id, at, txn_id, kind, operator, role, text)
    ehash = link(previous, chash)
    conn.execute("INSERT INTO events (id, at, txn_id, kind, operator, role, details, content_hash, hash) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                 (event_id, at, txn_id, kind, operator, role, text, chash, ehash))
    writer.cache["head"] = (event_id, ehash)


class Events:
    """Operator actions journaled in the chain (lockouts, manual handling, confirmations...)."""

    def __init__(self, core: Core):
        self._core = core

    def record_event(self, kind: str, details: dict[str, Any], *, operator: str, role: str,
                     txn_id: int | None = None) -> None:
        """Journal an operator action (lockout, manual handling, confirmation...) in the hash chain."""
        if not isinstance(kind, str) or not _KIND.fullmatch(kind):
            raise JournalError(f"event kind {kind!r}: expected lowercase letters, digits, '.', '_' or '-'")
        text = message_text(details, txn_id)  # scrubbed and size-checked like a message
        size, most = len(text.encode("utf-8")), details_bound(kind)
        if size > most:
            raise JournalError(f"event {kind}: details of {size} bytes exceed the {most} bytes its kind may carry; "
                               f"not journaled", txn_id=txn_id)
        with self._core.write(f"record {kind}") as w:
            w.record(kind, txn_id, operator, role, {"details": json.loads(text)})
