"""The reversal queue: pending reversals are retried, never dropped, and end done or handled by a person."""

from __future__ import annotations

import sqlite3
from typing import Any, Mapping

from agent.journal.errors import JournalError, NotFound
from agent.journal.scrub import scrub_text
from agent.journal.records import Backlog, Reversal, Txn, reversal_from_row, txn_from_row
from agent.journal.states import (OPEN_REVERSALS_SQL, QUEUED_REVERSALS_SQL, REVERSAL, UNRESOLVED_SQL, ReversalState,
                                  TxnState)
from agent.journal.store import Core, Store, Writer
from agent.journal.transactions import Transactions


class Reversals(Store):
    """The `reversals` table: the reversal lifecycle.

    Armed is the "sending" transaction itself; `fail` queues the reversal: pending -> done, or
    needs_manual -> handled."""

    def __init__(self, core: Core, txns: Transactions):
        super().__init__(core)
        self._txns = txns
        # journals written before a "sending" row counted as its armed reversal may hold "armed" rows;
        # None until looked up once (no new ones are ever written, so the answer only turns false)
        self.legacy_armed: bool | None = None

    def queue(self, w: Writer, row: sqlite3.Row, reason: str, error: str) -> sqlite3.Row | None:
        """A failed request's reversal becomes (or stays) pending with `reason`; None when none is owed
        (`row` is the transaction as it was before it failed)."""
        txn_id = row["id"]
        now = self._clock()
        rev = self._conn.execute(f"SELECT * FROM reversals WHERE txn_id = ? AND state IN {QUEUED_REVERSALS_SQL} "
                                 "ORDER BY id DESC LIMIT 1", (txn_id,)).fetchone()
        result = None
        if rev is not None:
            result = self._step(w, rev, "fail", reason=reason, last_error=scrub_text(error))
        elif row["state"] in (TxnState.SENDING, TxnState.APPROVED):
            result = w.insert("reversals", {"txn_id": txn_id, "trace": row["trace"], "reason": reason,
                                            "tries": 0, "last_error": scrub_text(error),
                                            "state": ReversalState.PENDING,
                                            "created_at": now, "updated_at": now})
        return result

    def clear_legacy_armed(self, w: Writer, txn_id: int) -> None:
        """An answered request's "armed" row, in a journal written before the "sending" row was its armed
        reversal, is cleared with the answer (one cached lookup says whether any such row exists)."""
        if self.legacy_armed is None:
            self.legacy_armed = self._conn.execute(
                f"SELECT 1 FROM reversals WHERE state = '{ReversalState.ARMED}' LIMIT 1").fetchone() is not None
        if self.legacy_armed:
            cleared_state = REVERSAL.step(ReversalState.ARMED, "answered")
            cleared = self._conn.execute(f"UPDATE reversals SET state = '{cleared_state}', updated_at = ? WHERE "
                                         f"txn_id = ? AND state = '{ReversalState.ARMED}' RETURNING *",
                                         (self._clock(), txn_id)).fetchone()
            if cleared is not None:
                w.vouch("reversals", cleared)

    def pending_reversals(self) -> list[Reversal]:
        """Reversals waiting to be sent, oldest first (send them before any other online message)."""
        rows = self._conn.execute(f"SELECT * FROM reversals WHERE state = '{ReversalState.PENDING}' "
                                  "ORDER BY id").fetchall()
        return [reversal_from_row(r) for r in rows]

    def reversal_backlog(self) -> Backlog:
        """Requests still "sending" and pending reversals; ONE indexed statement when there are none."""
        found = self._conn.execute(
            f"SELECT 0, id FROM transactions WHERE state IN {UNRESOLVED_SQL} AND state = '{TxnState.SENDING}' "
            f"UNION ALL SELECT 1, id FROM reversals WHERE state IN {OPEN_REVERSALS_SQL} "
            f"AND state = '{ReversalState.PENDING}'").fetchall()
        if not found:
            return Backlog((), ())
        txns = tuple(txn_from_row(self._txns.row(i)) for table, i in sorted(map(tuple, found)) if table == 0)
        return Backlog(txns, tuple(self.pending_reversals()))

    def reversals_needing_manual_handling(self) -> list[Reversal]:
        """Reversals whose retries ran out, oldest first: a person must resolve each one."""
        rows = self._conn.execute(f"SELECT * FROM reversals WHERE state = '{ReversalState.NEEDS_MANUAL}' "
                                  "ORDER BY id").fetchall()
        return [reversal_from_row(r) for r in rows]

    def get_reversal(self, rev_id: int) -> Reversal:
        """One reversal; NotFound when there is none with that id."""
        return reversal_from_row(self._reversal_row(rev_id))

    def _reversal_row(self, rev_id: int) -> sqlite3.Row:
        row: sqlite3.Row | None = self._conn.execute("SELECT * FROM reversals WHERE id = ?", (rev_id,)).fetchone()
        if row is None:
            raise NotFound(f"no reversal {rev_id} in the journal")
        return row

    def _step(self, w: Writer, row: sqlite3.Row, event: str, **changes: Any) -> sqlite3.Row:
        """Move the reversal by `event` through the `REVERSAL` table (`IllegalTransition` otherwise)."""
        to_state = REVERSAL.step(row["state"], event, row["id"])
        return w.update("reversals", row["id"], {"state": to_state, "updated_at": self._clock(), **changes})

    def reversal_attempt(self, rev_id: int, request: Mapping[str, Any]) -> Reversal:
        """Commit BEFORE sending a reversal: tries += 1 and the (masked) request is stored."""
        with self._write(f"journal an attempt of reversal {rev_id}") as w:
            row = self._reversal_row(rev_id)
            if row["state"] != ReversalState.PENDING:
                raise JournalError(f"reversal {rev_id} is {row['state']}, not pending: nothing to send")
            updated = self._step(w, row, "attempt", tries=row["tries"] + 1)
            self._txns.store_message(w, "sent", request, txn_id=row["txn_id"], reversal_id=rev_id)
            w.record("reversal.attempt", row["txn_id"], None, "system", {"reversal": rev_id, "try": updated["tries"]})
        return reversal_from_row(updated)

    def reversal_acknowledged(self, rev_id: int, response: Mapping[str, Any]) -> None:
        """The host acknowledged the reversal: it is done and the transaction is "reversed"."""
        with self._write(f"record the acknowledgement of reversal {rev_id}") as w:
            row = self._reversal_row(rev_id)
            self._step(w, row, "acknowledge")
            self._txns.store_message(w, "received", response, txn_id=row["txn_id"], reversal_id=rev_id)
            txn = self._txns.row(row["txn_id"])
            self._txns.step(w, txn, "reverse")
            w.record("reversal.done", row["txn_id"], None, "system", {"reversal": rev_id})

    def reversal_failed(self, rev_id: int, error: str, *, max_tries: int) -> Reversal:
        """An attempt got no valid answer; after `max_tries` attempts it needs manual handling."""
        if not isinstance(max_tries, int) or max_tries < 1:
            raise JournalError(f"max_tries must be a positive whole number, not {max_tries!r}")
        with self._write(f"record the failure of reversal {rev_id}") as w:
            row = self._reversal_row(rev_id)
            updated = self._step(w, row, "give_up" if row["tries"] >= max_tries else "fail",
                                 last_error=scrub_text(error))
            to_state = updated["state"]
            w.record("reversal.failed", row["txn_id"], None, "system",
                     {"reversal": rev_id, "tries": row["tries"], "state": to_state, "error": scrub_text(error)})
        return reversal_from_row(updated)

    def reversal_handled(self, rev_id: int, *, note: str, operator: str, role: str = "supervisor") -> None:
        """A person resolved a reversal that could not be delivered (e.g. with the acquirer by phone)."""
        if not isinstance(note, str) or not note.strip():
            raise JournalError("manual handling needs a note saying what was done")
        with self._write(f"record manual handling of reversal {rev_id}") as w:
            row = self._reversal_row(rev_id)
            self._step(w, row, "handle", last_error=row["last_error"])
            txn = self._txns.row(row["txn_id"])
            if txn["state"] == TxnState.IN_DOUBT:
                self._txns.step(w, txn, "resolve")
            w.record("reversal.handled", row["txn_id"], operator, role, {"reversal": rev_id, "note": scrub_text(note, 1000)})

    def confirm_in_doubt(self, txn_id: int, *, approved: bool, response_code: str, rrn: str | None = None,
                         auth_code: str | None = None, response: dict[str, Any] | None = None,
                         operator: str = "system", role: str = "system") -> Txn:
        """The host's status says what became of an in-doubt transaction: its reversal is cancelled."""
        with self._write(f"confirm transaction {txn_id}") as w:
            row = self._txns.row(txn_id)
            updated = self._txns.apply_outcome(w, row, approved, response_code=response_code, rrn=rrn,
                                               auth_code=auth_code)
            if response is not None:
                self._txns.store_message(w, "received", response, txn_id=txn_id)
            for rev in self._conn.execute(f"SELECT * FROM reversals WHERE txn_id = ? AND state IN "
                                          f"{OPEN_REVERSALS_SQL}", (txn_id,)).fetchall():
                self._step(w, rev, "answered" if rev["state"] == ReversalState.ARMED else "cancel")
            w.record("txn.confirmed", txn_id, operator, role, {"state": updated["state"]})
        return txn_from_row(updated, batch_state=row["batch_state"])
