"""Retention: settled batches older than the retention period are pruned, a few batches per call.

What is pruned is recorded in the hash chain (`pruned` id ranges per table), so `verify` tells a
legitimate prune from a deletion.  The event log itself is kept: it holds no card data beyond the
masked PAN and is the proof for everything exported before.
"""

from __future__ import annotations

from typing import Any

from agent.journal.errors import JournalError
from agent.journal.hashchain import proof_tag
from agent.journal.states import OPEN_REVERSALS_SQL, UNRESOLVED_SQL, BatchState, FixState, TxnState
from agent.journal.store import Store


def _ranges(ids: list[int]) -> list[list[int]]:
    out: list[list[int]] = []
    for i in sorted(ids):
        if out and i == out[-1][1] + 1:
            out[-1][1] = i
        else:
            out.append([i, i])
    return out


class Retention(Store):
    """`prune()`: old settled batches and everything of theirs, recorded in the chain."""

    def prune(self, *, retention_days: int, max_batches: int = 10) -> int:
        """Delete up to `max_batches` settled batches settled more than `retention_days` ago.

        A batch is kept while any of its transactions is unresolved, has an open reversal or is a stored sale
        needing manual handling, or while a newer transaction still links to one of its transactions.  Returns the number of transactions
        removed.
        """
        if not isinstance(retention_days, int) or retention_days < 1:
            raise JournalError(f"retention must be at least 1 day, not {retention_days!r}")
        if not isinstance(max_batches, int) or not 1 <= max_batches <= 1000:
            raise JournalError(f"max_batches must be from 1 to 1000, not {max_batches!r}")
        cutoff = self._clock() - retention_days * 86400
        removed = 0
        with self._write("prune old batches") as w:
            candidates = self._conn.execute(
                f"SELECT id, number FROM batches WHERE state = '{BatchState.SETTLED}' AND settled_at < ? ORDER BY id",
                (cutoff,)).fetchall()
            pruned: dict[str, list[int]] = {"batches": [], "transactions": [], "messages": [], "reversals": [],
                                            "fixes": [], "tc_uploads": []}
            for batch in candidates:
                if len(pruned["batches"]) >= max_batches:
                    break
                txn_ids = [r[0] for r in self._conn.execute("SELECT id FROM transactions WHERE batch_id = ?",
                                                            (batch["id"],))]
                if self._held(batch["id"]):
                    continue
                rev_ids = [r[0] for r in self._conn.execute(
                    "SELECT r.id FROM reversals r JOIN transactions t ON t.id = r.txn_id WHERE t.batch_id = ?",
                    (batch["id"],))]
                msg_ids = [r[0] for r in self._conn.execute(
                    "SELECT m.id FROM messages m JOIN transactions t ON t.id = m.txn_id WHERE t.batch_id = ?",
                    (batch["id"],))]
                self._conn.execute("DELETE FROM messages WHERE txn_id IN (SELECT id FROM transactions WHERE batch_id = ?)",
                                   (batch["id"],))
                self._conn.execute("DELETE FROM reversals WHERE txn_id IN (SELECT id FROM transactions WHERE batch_id = ?)",
                                   (batch["id"],))
                fix_ids = [r[0] for r in self._conn.execute(  # finished fixes of these transactions
                    "SELECT k.id FROM fixes k JOIN transactions t ON t.id = k.original_id WHERE t.batch_id = ?",
                    (batch["id"],))]
                self._conn.execute("DELETE FROM fixes WHERE original_id IN (SELECT id FROM transactions "
                                   "WHERE batch_id = ?)", (batch["id"],))
                tc_ids = [r[0] for r in self._conn.execute(
                    "SELECT u.id FROM tc_uploads u JOIN transactions t ON t.id = u.txn_id WHERE t.batch_id = ?",
                    (batch["id"],))]
                self._conn.execute("DELETE FROM tc_uploads WHERE txn_id IN (SELECT id FROM transactions "
                                   "WHERE batch_id = ?)", (batch["id"],))
                self._conn.execute("DELETE FROM transactions WHERE batch_id = ?", (batch["id"],))
                self._conn.execute("DELETE FROM batches WHERE id = ?", (batch["id"],))
                w.cache.pop("begun", None)
                pruned["batches"].append(batch["id"])
                pruned["transactions"] += txn_ids
                pruned["messages"] += msg_ids
                pruned["reversals"] += rev_ids
                pruned["fixes"] += fix_ids
                pruned["tc_uploads"] += tc_ids
                removed += len(txn_ids)
            if pruned["batches"]:
                details: dict[str, Any] = {"pruned": {proof_tag(t): _ranges(ids) for t, ids in pruned.items() if ids},
                                           "retention_days": retention_days}
                w.record("retention.prune", None, None, "system", details)
        return removed

    def _held(self, batch_id: int) -> bool:
        return self._conn.execute(
            f"SELECT 1 FROM transactions t WHERE t.batch_id = ? AND (t.state IN {UNRESOLVED_SQL} "
            f"OR t.state = '{TxnState.ADVICE_NEEDS_MANUAL}' "  # a stored sale the bank never had: a person acts
            f"OR EXISTS (SELECT 1 FROM reversals r WHERE r.txn_id = t.id AND r.state IN {OPEN_REVERSALS_SQL}) "
            f"OR EXISTS (SELECT 1 FROM fixes k WHERE k.original_id = t.id AND k.state = '{FixState.OPEN}') "
            "OR EXISTS (SELECT 1 FROM transactions c WHERE (c.original_id = t.id OR "
            "c.purchase_id = t.id) AND c.batch_id != t.batch_id)) LIMIT 1", (batch_id,)).fetchone() is not None
