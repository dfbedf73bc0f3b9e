"""What a statement reconciliation reads from the journal, and how its run is journaled.

`reconciliation_facts` reads every financial transaction with the local days it was made and its
batch was settled (in SQL, so a 100,000-transaction journal is one query).  `record_reconciliation`
writes the run as one hash-chained event (`reconcile.run`, or `reconcile.refused` for a statement that
could not be read) and returns that event's id and hash, which the claim letter quotes.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from agent.journal.errors import JournalError

if TYPE_CHECKING:
    from agent.journal.facade import Journal

RUN_KINDS = ("reconcile.run", "reconcile.refused")
_FACTS = (
    "SELECT t.id, t.kind, t.state, t.amount, t.trace, t.batch, t.rrn, COALESCE(t.pan_masked, o.pan_masked, p.pan_masked), "
    "strftime('%Y%m%d', t.created_at, 'unixepoch', 'localtime') AS made_on, "
    "CASE WHEN b.settled_at IS NULL THEN NULL "
    "ELSE strftime('%Y%m%d', b.settled_at, 'unixepoch', 'localtime') END AS settled_on "
    "FROM transactions t JOIN batches b ON b.id = t.batch_id LEFT JOIN transactions o ON o.id = t.original_id LEFT JOIN transactions p ON p.id = o.original_id WHERE t.kind IN ('sale', 'correction', 'void', 'refund', 'completion', 'completion_void') "
    "ORDER BY t.id")


def reconciliation_facts(journal: Journal) -> list[tuple[Any, ...]]:
    """(id, kind, state, amount, trace, batch, rrn, pan_masked, made_on, settled_on) per transaction."""
    return [tuple(row) for row in journal.core.conn.execute(_FACTS)]


def record_reconciliation(journal: Journal, kind: str, details: dict[str, Any], *, operator: str = "supervisor",
                          role: str = "supervisor") -> dict[str, Any]:
    """Journal one reconciliation run; returns {"event_id", "hash"} of the event written."""
    if kind not in RUN_KINDS:
        raise JournalError(f"reconciliation event kind must be one of {', '.join(RUN_KINDS)}, not {kind!r}")
    if not isinstance(details, dict):
        raise JournalError("reconciliation details must be an object")
    if not (isinstance(operator, str) and re.fullmatch(r"[a-z][a-z0-9_-]{0,31}", operator)):
        raise JournalError(f"operator {operator!r}: expected a lowercase name")
    journal.event_chain.record_event(kind, details, operator=operator, role=role)
    row = journal.core.conn.execute("SELECT id, hash FROM events WHERE kind = ? ORDER BY id DESC LIMIT 1",
                                (kind,)).fetchone()
    return {"event_id": row[0], "hash": row[1]}
