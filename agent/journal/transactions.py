"""The transactions store: a transaction's row, its state changes (by the transition table), its
stored messages, and what an outcome does to the original it names (voided, refunded in part or whole).

`TXN_SELECT` is the one query every store reads transactions with (the row and its batch's state).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from agent.journal.errors import NotFound
from agent.journal.records import Txn, txn_from_row
from agent.journal.scrub import message_text
from agent.journal.states import LIVE_SQL, TRANSACTION, VOIDS, TxnState
from agent.journal.store import Store, Writer

TXN_SELECT = "SELECT t.*, b.state AS batch_state FROM transactions t JOIN batches b ON b.id = t.batch_id"


def without_sealed_card(request_text: str, txn_id: int) -> str:
    """The journaled request of an advice without its sealed card (the rest is the masked evidence)."""
    request = json.loads(request_text)
    request.pop("sealed_card", None)
    return message_text(request, txn_id)


class Transactions(Store):
    """Rows of the `transactions` and `messages` tables."""

    def row(self, txn_id: int) -> sqlite3.Row:
        row: sqlite3.Row | None = self._conn.execute(TXN_SELECT + " WHERE t.id = ?", (txn_id,)).fetchone()
        if row is None:
            raise NotFound(f"no transaction {txn_id} in the journal", txn_id=txn_id)
        return row

    def row_for_outcome(self, w: Writer, txn_id: int) -> Any:
        """The row of the request being answered: the one the last intent commit wrote, unless
        anything changed it since (no statement then), else read."""
        begun = w.cache.get("begun")
        if begun is not None and begun["id"] == txn_id:
            return begun
        return self.row(txn_id)

    def step(self, w: Writer, row: sqlite3.Row, event: str, **changes: Any) -> sqlite3.Row:
        """Move the transaction by `event` through the `TRANSACTION` table (`IllegalTransition` otherwise)."""
        to_state = TRANSACTION.step(row["state"], event, row["id"])
        return w.update("transactions", row["id"], {"state": to_state, "updated_at": self._clock(), **changes})

    def store_message(self, w: Writer, direction: str, message: Any, *, txn_id: int | None,
                      reversal_id: int | None = None) -> None:
        body = message_text(message, txn_id)
        w.insert("messages", {"txn_id": txn_id, "reversal_id": reversal_id, "direction": direction,
                              "at": self._clock(), "body": body})

    def apply_outcome(self, w: Writer, row: sqlite3.Row, approved: bool, **fields: Any) -> sqlite3.Row:
        """Approved or declined; an approved void marks its original "voided", an approved refund
        marks its original "refunded_partially" or "refunded" from the sum of approved refunds.  An
        answered advice destroys its sealed card in the same commit: once the acquirer has the sale, the
        terminal keeps no card number, sealed or not (PCI DSS v4 3.2.1)."""
        if row["state"] == TxnState.ADVICE_PENDING and row["request"]:
            fields["request"] = without_sealed_card(row["request"], row["id"])
        updated = self.step(w, row, "approve" if approved else "decline", **fields)
        if approved and row["kind"] in VOIDS:
            self.step(w, self.row(row["original_id"]), "void")
        elif approved and row["kind"] == "refund" and row["original_id"] is not None:  # else a sale of another till
            original = self.row(row["original_id"])
            refunded = self._conn.execute(
                "SELECT coalesce(sum(amount), 0) FROM transactions WHERE original_id = ? AND kind = 'refund' "
                f"AND state = '{TxnState.APPROVED}'", (original["id"],)).fetchone()[0]
            self.step(w, original, "refund_all" if refunded >= original["amount"] else "refund_part")
        return updated

    def refundable(self, original: sqlite3.Row) -> int:
        """Original amount minus approved refunds minus refunds still under way (sending / in doubt)."""
        if original["state"] not in (TxnState.APPROVED, TxnState.REFUNDED_PARTIALLY):
            return 0
        taken: int = self._conn.execute(
            "SELECT coalesce(sum(amount), 0) FROM transactions WHERE original_id = ? AND kind = 'refund' "
            f"AND state IN {LIVE_SQL}", (original["id"],)).fetchone()[0]
        amount: int = original["amount"]
        return max(0, amount - taken)

    def recent_refunds_by_reference(self, rrn: str, date: str, *, window_seconds: float) -> list[Txn]:
        """Refunds of a sale of another till, named by its RRN and date (MMDD), journaled in the last
        `window_seconds`, oldest first (repeat guard).  Such a refund names its original in the request it
        journaled, the message sent: 37 the RRN, 61.3 the date."""
        return [txn_from_row(r) for r in self._conn.execute(
            TXN_SELECT + " WHERE t.kind = 'refund' AND t.original_id IS NULL AND t.created_at >= ? "
            "AND json_extract(t.request, '$.fields.\"37\"') = ? "
            "AND json_extract(t.request, '$.subfields.\"61\".orig_date') = ? ORDER BY t.id",
            (self._clock() - window_seconds, rrn, date))]
