"""The counters store (the trace number) and the durable state values of the daemon.

A trace number is persisted in the same commit as its use: a crash can lose a number, never hand it
out twice.  `state` holds small durable values (a failure counter, the last sign-on...), each change
journaled and chained like everything else.
"""

from __future__ import annotations

from typing import Any

from agent.journal.errors import JournalError
from agent.journal.scrub import scrub_text
from agent.journal.store import Store, Writer

MAX_TRACE = 999_999


class Counters(Store):
    """The `counters` and `state` tables."""

    def create(self, w: Writer) -> None:
        """Schema's first rows: the trace counter starts at 0 (the first number taken is 1)."""
        w.insert("counters", {"name": "trace", "value": 0})

    def next_trace(self, w: Writer) -> int:
        # persisted in the same commit as its use: a crash can lose a number, never hand it out twice
        trace: int = w.update("counters", "trace", {"value": self.peek_trace(w.cache)})["value"]
        w.cache["trace"] = trace
        return trace

    def peek_trace(self, cache: dict[str, Any]) -> int:
        """The trace number the next commit will take (nothing is written)."""
        last: int | None = cache.get("trace")
        if last is None:
            last = cache["trace"] = self._conn.execute("SELECT value FROM counters WHERE name = 'trace'").fetchone()[0]
        return last % MAX_TRACE + 1

    def take_trace(self, purpose: str, *, operator: str = "system", role: str = "system") -> int:
        """Take a trace number for a message that is not a journaled transaction (sign-on, settlement...)."""
        with self._write("take a trace number") as w:
            trace = self.next_trace(w)
            w.record("trace.take", None, operator, role, {"trace": trace, "purpose": purpose})
        return trace

    def get_state(self, key: str) -> str | None:
        """A small durable value for the daemon (e.g. a failure counter); None when never set."""
        row = self._conn.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def set_state(self, key: str, value: str | None, *, operator: str = "system", role: str = "system",
                  event: str = "state.set", details: dict[str, Any] | None = None) -> None:
        """Set a durable value (journaled and chained like everything else: `event` names the change, with
        `details` beside the key)."""
        if not isinstance(key, str) or not key or len(key) > 100:
            raise JournalError("state key must be a non-empty string of at most 100 characters")
        if value is not None and (not isinstance(value, str) or len(value) > 4096):
            raise JournalError(f"state {key!r}: value must be a string of at most 4096 characters")
        if value is not None:
            value = scrub_text(value, 4096)
        with self._write(f"set {key}") as w:
            w.upsert_state(key, value)
            w.record(event, None, operator, role, {**(details or {}), "key": key})
