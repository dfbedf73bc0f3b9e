"""The events store: the hash chain every commit appends to, and operator events in it.

Each write transaction ends with exactly one event whose details list the rows it wrote (by digest);
its content hash is linked to the previous event's hash (agent/journal/hashchain.py), so a row changed
or an event removed afterwards breaks the chain where it happened.
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
    from agent.journal.store import Writer

_KIND = re.compile(r"[a-z][a-z0-9_.-]{0,63}")


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

    def __init__(self, core):
        self._core = core

    def record_event(self, kind: str, details: dict[str, Any], *, operator: str, role: str,
                     txn_id: int | None = None) -> None:
        """Journal an operator action (lockout, manual handling, confirmation...) in the hash chain."""
        if not isinstance(kind, str) or not _KIND.fullmatch(kind):
            raise JournalError(f"event kind {kind!r}: expected lowercase letters, digits, '.', '_' or '-'")
        text = message_text(details, txn_id)  # scrubbed and size-checked like a message
        with self._core.write(f"record {kind}") as w:
            w.record(kind, txn_id, operator, role, {"details": json.loads(text)})
