"""Pre-authorization holds (预授权) in the journal: the rules a completion or pre-auth void must meet,
and the questions about open holds (by age, with what is still blocked on the cardholder's card).

A pre-auth stays "approved" for its whole life; what happened to it is derived from its children:
a live completion (approved, or still under way) completes it, an approved pre-auth void makes it
"voided".  A completion void takes the completion away, so the pre-auth can be completed again.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any, Mapping

from agent.journal.errors import JournalError
from agent.journal import offline
from agent.journal.events import Events
from agent.journal.queries import Queries
from agent.journal.records import Txn, txn_from_row
from agent.journal.scrub import scrub_text
from agent.journal.states import CHARGED_STATES, UNRESOLVED_SQL, UNRESOLVED_TXN_STATES, BatchState, TxnState
from agent.journal.store import Core, Store
from agent.journal.transactions import TXN_SELECT, Transactions, without_sealed_card

#: completion states that still count: the pre-auth is completed (or may be, when under way)
LIVE_COMPLETION_STATES = (*CHARGED_STATES, *UNRESOLVED_TXN_STATES, TxnState.ADVICE_PENDING)


@dataclass(frozen=True)
class Hold:
    """One pre-auth and where it stands; `blocked` is what the cardholder's bank still holds."""

    txn: Txn
    age_seconds: float
    completion: Txn | None
    expired: bool

    @property
    def blocked(self) -> int:
        blocked = not self.expired and self.completion is None and self.txn.state == TxnState.APPROVED
        return self.txn.amount if blocked else 0

    def as_dict(self) -> dict[str, Any]:
        return {"txn": self.txn.as_dict(), "age_seconds": round(self.age_seconds), "expired": self.expired,
                "completion": self.completion.as_dict() if self.completion else None, "blocked": self.blocked}


class Holds(Store):
    """Pre-auth links checked inside `begin`, and hold queries."""

    def __init__(self, core: Core, *, txns: Transactions, queries: Queries, events: Events):
        super().__init__(core)
        self._txns = txns
        self._queries = queries
        self._events = events

    def _live_completion(self, preauth_id: int) -> sqlite3.Row | None:
        marks = ", ".join("?" * len(LIVE_COMPLETION_STATES))
        row: sqlite3.Row | None = self._conn.execute(
            TXN_SELECT + f" WHERE t.original_id = ? AND t.kind = 'completion' AND t.state IN ({marks}) "
            "ORDER BY t.id DESC LIMIT 1", (preauth_id, *LIVE_COMPLETION_STATES)).fetchone()
        return row

    def check_link(self, kind: str, amount: int, original: sqlite3.Row) -> None:
        """A completion or pre-auth void names an approved pre-auth with nothing else under way (one
        completion per pre-auth, checked in the same transaction as the insert)."""
        oid = original["id"]
        if original["kind"] != "preauth":
            raise JournalError(f"transaction {oid} is a {original['kind']}, not a pre-auth", txn_id=oid)
        if original["state"] != TxnState.APPROVED:
            raise JournalError(f"pre-auth {oid} is {original['state']}: only an approved pre-auth can be "
                               f"{'completed' if kind == 'completion' else 'voided'}", txn_id=oid)
        busy = self._conn.execute("SELECT id, kind FROM transactions WHERE original_id = ? AND kind IN "
                                  f"('preauth_void', 'completion') AND state IN {UNRESOLVED_SQL}",
                                  (oid,)).fetchone()
        if busy:
            raise JournalError(f"pre-auth {oid} has {busy[1]} {busy[0]} under way: resolve it first", txn_id=oid)
        done = self._live_completion(oid)
        if done is not None:
            raise JournalError(f"pre-auth {oid} is already completed by transaction {done['id']}: void that "
                               "completion first", txn_id=oid)
        if kind == "preauth_void" and amount != original["amount"]:
            raise JournalError(f"a pre-auth void must be for the pre-auth amount {original['amount']}, not {amount}",
                               txn_id=oid)

    def hold(self, preauth_id: int, *, validity_seconds: float) -> Hold:
        """Where one pre-auth stands (age by the journal's clock, completion, expiry)."""
        row = self._txns.row(preauth_id)
        if row["kind"] != "preauth":
            raise JournalError(f"transaction {preauth_id} is a {row['kind']}, not a pre-auth", txn_id=preauth_id)
        return self._hold(txn_from_row(row), validity_seconds)

    def _hold(self, txn: Txn, validity_seconds: float) -> Hold:
        age = max(0.0, self._clock() - txn.created_at)
        completion = self._live_completion(txn.id)
        return Hold(txn, age, txn_from_row(completion) if completion is not None else None,
                    expired=age > validity_seconds)

    def open_holds(self, *, validity_seconds: float, include_expired: bool = True) -> list[Hold]:
        """Approved pre-auths neither completed nor voided, oldest first."""
        rows = self._conn.execute(TXN_SELECT + f" WHERE t.kind = 'preauth' AND t.state = '{TxnState.APPROVED}' "
                                  "ORDER BY t.created_at, t.id").fetchall()
        holds = [self._hold(txn_from_row(r), validity_seconds) for r in rows]
        return [h for h in holds if h.completion is None and (include_expired or not h.expired)]

    def offline_refusal(self, amount: int, limits: Any) -> str | None:
        """Why a sale of `amount` may not be stored offline under `limits`; None when it fits (read only:
        the commit that stores it checks again)."""
        return offline.offline_refusal(self._conn, amount, limits, self._clock())

    def offline_stored(self) -> dict[str, Any]:
        """Sales stored offline and not yet forwarded: count, amount, oldest (a journal time or None)."""
        return offline.stored(self._conn)

    def offline_declined(self, *, unseen_only: bool = False) -> list[Txn]:
        """Sales stored offline that the bank declined when they were forwarded, newest first (`unseen_only`:
        those no supervisor has acknowledged yet)."""
        return [txn_from_row(r) for r in
                self._conn.execute(offline.declined_select(TXN_SELECT, unseen_only=unseen_only))]

    def offline_declined_seen(self, txn_ids: list[int]) -> set[int]:
        """Which of these declined-after-forwarding sales a supervisor has acknowledged."""
        return offline.seen_ids(self._conn, list(txn_ids))

    def acknowledge_offline_declined(self, *, operator: str, role: str = "supervisor") -> list[Txn]:
        """A supervisor saw the stored sales the bank declined after forwarding: each not yet acknowledged is
        marked seen (one event each; the keypad's banner ends).  Returns them, newest first."""
        unseen = self.offline_declined(unseen_only=True)
        for txn in unseen:
            self._events.record_event(offline.SEEN, {"amount": txn.amount, "trace": txn.trace}, operator=operator,
                                      role=role, txn_id=txn.id)
        return unseen

    def pending_advices(self) -> list[Txn]:
        """Offline completions and offline-approved sales whose advice is not yet acknowledged, oldest first
        (in batches not settled: a batch settles only after its own are delivered; those a supervisor moved
        when settling are the next batch's)."""
        return [txn_from_row(r) for r in self._conn.execute(
            TXN_SELECT + f" WHERE t.batch_id IN (SELECT id FROM batches WHERE state != '{BatchState.SETTLED}') "
            f"AND t.kind IN ('completion', 'sale') AND t.state = '{TxnState.ADVICE_PENDING}' ORDER BY t.id")]

    def advice_record(self, txn_id: int) -> dict[str, Any]:
        """What an offline-approved sale journaled for its advice: the masked message and the sealed card."""
        row = self._conn.execute("SELECT request FROM transactions WHERE id = ?", (txn_id,)).fetchone()
        if row is None or not row[0]:
            raise JournalError(f"transaction {txn_id} has no journaled request", txn_id=txn_id)
        record: dict[str, Any] = json.loads(row[0])
        return record

    def advice_attempt(self, txn_id: int, request: Mapping[str, Any]) -> int:
        """Commit BEFORE sending an advice: the (masked) message stored as sent.  Returns how many times it
        was sent before this try (0: the first copy; more: a repeat, which goes out with the repeat MTI)."""
        with self._write(f"journal a try of the advice of transaction {txn_id}") as w:
            row = self._txns.row(txn_id)
            if row["state"] != TxnState.ADVICE_PENDING:
                raise JournalError(f"transaction {txn_id} is {row['state']}, not a pending advice", txn_id=txn_id)
            earlier: int = self._conn.execute("SELECT count(*) FROM messages WHERE txn_id = ? AND direction = 'sent' "
                                         "AND reversal_id IS NULL", (txn_id,)).fetchone()[0]
            self._txns.store_message(w, "sent", request, txn_id=txn_id)
            w.record("advice.attempt", txn_id, None, "system", {"try": earlier + 1})
        return earlier

    def advice_tries(self, txn_id: int) -> int:
        """How many times an advice was sent (journaled before each try)."""
        return int(self._conn.execute("SELECT count(*) FROM messages WHERE txn_id = ? AND direction = 'sent' "
                                      "AND reversal_id IS NULL", (txn_id,)).fetchone()[0])

    def advice_failed(self, txn_id: int, error: str, *, not_booked: bool = False) -> None:
        """An advice try got no valid answer: it stays pending (the event keeps why).  `not_booked`: the bank
        answered that it did not process it (so the sale may still move to another batch)."""
        row = self._txns.row(txn_id)
        if row["state"] != TxnState.ADVICE_PENDING:
            raise JournalError(f"transaction {txn_id} is {row['state']}, not a pending advice", txn_id=txn_id)
        self._events.record_event("advice.failed", {"error": scrub_text(error)[:200],
                                                    **({offline.NOT_BOOKED: True} if not_booked else {})},
                                  operator="system", role="system", txn_id=txn_id)

    def advice_needs_manual(self, txn_id: int, reason: str) -> Txn:
        """A stored sale whose advice cannot be built (its sealed card does not open): it needs manual handling —
        it no longer holds back other messages nor counts as stored money; `reason` is journaled with it."""
        with self._write(f"journal that the advice of transaction {txn_id} needs manual handling") as w:
            row = self._txns.row(txn_id)
            if row["kind"] != "sale":
                raise JournalError(f"transaction {txn_id} is a {row['kind']}, not a stored sale", txn_id=txn_id)
            updated = self._txns.step(w, row, "give_up")
            w.record(offline.NEEDS_MANUAL, txn_id, None, "system",
                     {"error": scrub_text(reason)[:200], "amount": row["amount"], "trace": row["trace"]})
        return txn_from_row(updated, batch_state=row["batch_state"])

    def advices_needing_manual_handling(self) -> list[dict[str, Any]]:
        """Stored sales whose advice cannot be built, oldest first: each transaction with `reason` and `since`."""
        return [{**txn_from_row(r).as_dict(), "reason": r["reason"], "since": r["since"]}
                for r in self._conn.execute(offline.needs_manual_select(TXN_SELECT))]

    def advice_handled(self, txn_id: int, *, note: str, operator: str, role: str = "supervisor") -> Txn:
        """A person settled a stored sale the bank was never told of (with the acquirer, or the customer paid
        another way): resolved by hand, its sealed card destroyed in the same commit."""
        if not isinstance(note, str) or not note.strip():
            raise JournalError("manual handling needs a note saying what was done (--note)")
        with self._write(f"record manual handling of stored sale {txn_id}") as w:
            row = self._txns.row(txn_id)
            if row["kind"] != "sale" or row["state"] != TxnState.ADVICE_NEEDS_MANUAL:
                shown = "resolved by hand already" if row["state"] == TxnState.RESOLVED_MANUALLY else \
                    f"a {row['kind']} in state {row['state']}"
                raise JournalError(f"transaction {txn_id} is {shown}, not a stored sale needing manual handling "
                                   "(see posagent offline manual)", txn_id=txn_id)
            changes = {"request": without_sealed_card(row["request"], txn_id)} if row["request"] else {}
            updated = self._txns.step(w, row, "resolve", **changes)
            w.record(offline.HANDLED, txn_id, operator, role,
                     {"note": scrub_text(note, 1000), "amount": row["amount"], "trace": row["trace"]})
        return txn_from_row(updated, batch_state=row["batch_state"])

    def suspected_duplicate_holds(self, *, window_seconds: float) -> list[list[Txn]]:
        """Open pre-auths of the same card and amount close in time (a stay held twice)."""
        groups = self._queries.suspected_duplicates(window_seconds=window_seconds, kinds=("preauth",))
        open_ones = [[t for t in group if self._live_completion(t.id) is None] for group in groups]
        return [group for group in open_ones if len(group) > 1]
