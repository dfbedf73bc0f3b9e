"""The hot path: the two commits of every transaction, intent before sending and outcome after.

`begin` journals the request (trace taken, transaction "sending", masked message stored) and
`complete` / `fail` its outcome, each in ONE commit through `Core.write`; the stores it composes
(counters, batches, transactions, holds, reversals) each write their own rows.

The "sending" row is the armed reversal: everything a reversal needs (trace, batch, amount, the masked
request) is in it, committed before the bytes leave, and recovery reports every such row.  A reversal
row is written only when one is owed (`fail`), so the common case of an answered request writes no
reversal at all.  (Journals written before this kept an "armed" reversal row per request; those rows
are still honoured: `complete` clears one, `fail` makes it pending.)
"""

from __future__ import annotations

import re
from typing import Any, Callable, Mapping

from agent.iso8583.dump import message_to_json
from agent.iso8583.message import Message
from agent.journal.counters import Counters
from agent.journal.errors import DuplicateRequest, JournalError
from agent.journal.holds import Holds
from agent.journal.errors import OfflineLimitReached
from agent.journal.offline import offline_refusal
from agent.journal.records import Begun, Reversal, Txn, reversal_from_row, txn_from_row
from agent.journal.reversals import Reversals
from agent.journal.scrub import message_text, scrub_text
from agent.journal.settlement import Batches
from agent.journal.states import KINDS, REFUNDABLE_KINDS, REVERSAL_REASONS, UNRESOLVED_SQL, VOIDS, BatchState, TxnState
from agent.journal.store import Core, Store
from agent.journal.tcuploads import TcUploads
from agent.journal.transactions import TXN_SELECT, Transactions
from agent.masking import mask_pan
from agent.money import MAX_MINOR_UNITS

#: kinds sent without the card that are still about the original's card (its masked PAN is copied)
CARD_OF_ORIGINAL = ("preauth_void", "completion", "completion_void")
_THREE_DIGITS = re.compile(r"[0-9]{3}")
_RRN = re.compile(r"[0-9A-Za-z]{1,12}")
_MMDD = re.compile(r"(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])")
#: what the back office may say of another till's sale: a masked card (never a card number) and a terminal id
_MASKED_CARD = re.compile(r"[0-9]{6}\*{3,9}[0-9]{4}")
_TERMINAL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")


class HotPath(Store):
    """begin / complete / fail and the refund and void rules they enforce."""

    def __init__(self, core: Core, *, counters: Counters, batches: Batches, txns: Transactions, holds: Holds,
                 reversals: Reversals, tc_uploads: TcUploads | None = None):
        super().__init__(core)
        self._tc_uploads = tc_uploads if tc_uploads is not None else TcUploads(core)
        self._counters = counters
        self._batches = batches
        self._txns = txns
        self._holds = holds
        self._reversals = reversals

    def next_numbers(self) -> tuple[int, int]:
        """(trace, batch number) the next request will be journaled with, read outside any transaction."""
        cache = self._core.read_cache()
        return self._counters.peek_trace(cache), self._batches.open_batch_ids(cache)["number"]

    # ----------------------------------------------------------------- hot path: intent
    def begin(self, kind: str, *, amount: int, currency: str, pan: str | None, entry_mode: str | None,
              operator: str, role: str, original_id: int | None = None, purchase_id: int | None = None,
              client_request_id: str | None = None, request: Callable[[int, int], Any],
              advice: bool = False, original_rrn: str | None = None, original_date: str | None = None,
              offline_limits: Any = None, original_sale: Mapping[str, Any] | None = None) -> Txn:
        """Journal a request for callers outside the engine that need only the transaction (tools, tests,
        benchmarks): the next numbers, `request(trace, batch)` builds the message, `begin_request` under them.
        One try: another writer taking the numbers meanwhile is refused (the engine's `common.begin` retries)."""
        trace, batch = self.next_numbers()
        begun = self.begin_request(kind, trace=trace, batch=batch, message=request(trace, batch), amount=amount,
                                   currency=currency, pan=pan, entry_mode=entry_mode, operator=operator, role=role,
                                   original_id=original_id, purchase_id=purchase_id, client_request_id=client_request_id,
                                   advice=advice, original_rrn=original_rrn, original_date=original_date,
                                   offline_limits=offline_limits, original_sale=original_sale)
        if begun is None:
            raise JournalError(f"another writer took trace {trace:06d} meanwhile: the {kind} was not journaled; "
                               "try again")
        return begun.txn

    def begin_request(self, kind: str, *, trace: int, batch: int, message: Any, amount: int, currency: str,
                      pan: str | None, entry_mode: str | None, operator: str, role: str,
                      original_id: int | None = None, purchase_id: int | None = None,
                      client_request_id: str | None = None, advice: bool = False, original_rrn: str | None = None,
                      original_date: str | None = None, offline_limits: Any = None,
                      original_sale: Mapping[str, Any] | None = None) -> Begun | None:
        """Journal a financial request before it is sent, in ONE commit, under the `trace` and `batch` number
        `next_numbers` gave and the `message` (a `Message`, stored masked, or an already masked dict) the
        caller built with them; None, with nothing written, when they are no longer the next ones (another
        writer took the trace or the batch changed meanwhile: build again with new numbers).  The compare is
        made inside the commit, so the message journaled is the one sent, and no caller's code runs in it.

        The commit takes the trace, inserts the transaction (state "sending": its reversal is armed from this
        commit on) and stores the masked message.
        A void must name an approved sale of the open batch with the same amount; a refund an approved
        sale with at least `amount` still refundable (checked in the same transaction, so two refunds cannot both
        pass).  A repeated `client_request_id` raises `DuplicateRequest` naming the first one.
        An `advice` (offline completion, offline-approved sale) starts "advice_pending": it owes no reversal.
        A refund of a sale made at another till names it by `original_rrn` and `original_date` (MMDD) instead of
        `original_id`: what it may refund was asked of the back office, which counts it by the two (they go on
        its `txn.begin`); the request journaled, the message sent, names it the same way (37, 61).  What the
        office said of that sale, `original_sale` ({"card": masked, "trace", "terminal"}, each may be None), goes
        on its `txn.begin` too (`original_card`, `original_trace`, `original_terminal`, for its receipt), and the
        masked card is the refund's own, as a refund of a sale in this journal takes its original's.
        A sale stored offline passes `offline_limits` (`OfflineLimits`): the commit refuses it with
        `OfflineLimitReached` when it would break one, counted in the same transaction (no race).
        """
        _check_begin_args(kind, amount, currency, entry_mode, operator, role)
        reference = _check_reference(kind, original_id, original_rrn, original_date, original_sale)
        if advice and kind not in ("completion", "sale"):
            raise JournalError(f"only a completion or an offline-approved sale is sent as an advice, not a {kind}")
        masked = mask_pan(pan) if pan is not None else (reference or {}).get("original_card")
        fp = self._core.fingerprint(pan) if pan is not None else None
        request_text = message_text(message_to_json(message, masked=True) if isinstance(message, Message) else message,
                                    None)
        txn = self._insert_request(kind, trace, batch, request_text, amount=amount, currency=currency,
                                   entry_mode=entry_mode, pan_masked=masked, pan_fingerprint=fp,
                                   original_id=original_id, purchase_id=purchase_id, operator=operator, role=role,
                                   client_request_id=client_request_id, advice=advice, reference=reference,
                                   offline_limits=offline_limits)
        return Begun(txn, message) if txn is not None else None

    def _insert_request(self, kind: str, trace: int, batch_number: int, request_text: str,
                        advice: bool = False, reference: dict[str, str] | None = None,
                        offline_limits: Any = None, **values: Any) -> Txn | None:
        """The intent commit; None (nothing written) when `trace`/`batch_number` are no longer the next ones."""
        try:
            return self._insert_request_once(kind, trace, batch_number, request_text, values, advice, reference,
                                             offline_limits)
        except _Stale:
            return None

    def _insert_request_once(self, kind: str, trace: int, batch_number: int, request_text: str,
                             values: dict[str, Any], advice: bool = False,
                             reference: dict[str, str] | None = None, offline_limits: Any = None) -> Txn:
        with self._write(f"journal a {kind}") as w:
            if offline_limits is not None:
                reason = offline_refusal(self._conn, values["amount"], offline_limits, self._clock())
                if reason is not None:
                    raise OfflineLimitReached(reason)
            client_request_id = values["client_request_id"]
            if client_request_id is not None:
                dup = self._conn.execute(TXN_SELECT + " WHERE t.client_request_id = ?", (client_request_id,)).fetchone()
                if dup is not None:
                    raise DuplicateRequest(client_request_id, txn_from_row(dup))
            batch = self._batches.open_batch_ids(w.cache)
            self._check_links(kind, values["amount"], values["original_id"], values["purchase_id"], batch["id"])
            if batch["number"] != batch_number or self._counters.peek_trace(w.cache) != trace:
                raise _Stale
            if values["pan_masked"] is None and values["original_id"] is not None and kind in CARD_OF_ORIGINAL:
                values["pan_masked"], values["pan_fingerprint"] = self._conn.execute(
                    "SELECT pan_masked, pan_fingerprint FROM transactions WHERE id = ?",
                    (values["original_id"],)).fetchone()
            taken = self._counters.next_trace(w)
            now = self._clock()
            # the request and its answer live in the transaction row: one row write per commit
            row = w.insert("transactions", {
                **values, "kind": kind, "state": TxnState.ADVICE_PENDING if advice else TxnState.SENDING,
                "trace": taken,
                "batch_id": batch["id"], "batch": batch["number"], "created_at": now, "updated_at": now,
                "uploaded": 0, "request": request_text})
            w.cache["begun"] = {**dict(zip(row.keys(), row)), "batch_state": BatchState.OPEN}
            w.record("txn.begin", row["id"], values["operator"], values["role"],
                     {"kind": kind, "amount": values["amount"], "trace": taken, "batch": batch["number"],
                      # what the back office matches and groups by: never more than the row holds (masked card,
                      # the keyed fingerprint), and the transaction this one voids, refunds or completes
                      "card": values["pan_masked"], "fingerprint": values["pan_fingerprint"],
                      "original": values["original_id"], **(reference or {}),
                      # an advice (a sale stored offline, an offline completion) begins approved offline: the back
                      # office tells it from a request still under way
                      **({"state": TxnState.ADVICE_PENDING.value} if advice else {})})
        return txn_from_row(row, batch_state=BatchState.OPEN)

    def _check_links(self, kind: str, amount: int, original_id: int | None, purchase_id: int | None,
                     batch_id: int) -> None:
        if purchase_id is not None:
            self._txns.row(purchase_id)
        if kind in ("void", "preauth_void", "completion", "completion_void") and original_id is None:
            raise JournalError(f"a {kind} needs the original transaction")
        if original_id is None:
            return
        original = self._txns.row(original_id)
        if kind in ("preauth_void", "completion"):
            self._holds.check_link(kind, amount, original)  # agent/journal/holds.py
            return
        # a void names what it voids; a refund or a linked correction may name a completion too
        wanted = VOIDS.get(kind) or (REFUNDABLE_KINDS if kind in ("refund", "correction") else
                                     ("sale", "correction"))
        if original["kind"] not in wanted:
            raise JournalError(f"transaction {original_id} is a {original['kind']}, not a "
                               f"{' or '.join(wanted)}", txn_id=original_id)
        if kind in ("void", "completion_void"):
            if original["batch_id"] != batch_id:
                raise JournalError(f"transaction {original_id} is in batch {original['batch']:06d}, which is "
                                   "settled or closed: it can no longer be voided, refund it instead",
                                   txn_id=original_id)
            if original["state"] != TxnState.APPROVED:
                raise JournalError(f"transaction {original_id} is {original['state']}: only an approved sale "
                                   "can be voided", txn_id=original_id)
            if amount != original["amount"]:
                raise JournalError(f"a void must be for the original amount {original['amount']}, not {amount}",
                                   txn_id=original_id)
            busy = self._conn.execute("SELECT id, kind FROM transactions WHERE original_id = ? AND "
                                      f"state IN {UNRESOLVED_SQL}", (original_id,)).fetchone()
            if busy:
                raise JournalError(f"transaction {original_id} has {busy[1]} {busy[0]} under way: resolve it first",
                                   txn_id=original_id)
        elif kind == "refund":
            voiding = self._conn.execute("SELECT id FROM transactions WHERE original_id = ? AND kind IN "
                                         f"('void', 'completion_void') AND state IN {UNRESOLVED_SQL}",
                                         (original_id,)).fetchone()
            if voiding:
                raise JournalError(f"transaction {original_id} has void {voiding[0]} under way: resolve it first",
                                   txn_id=original_id)
            left = self._txns.refundable(original)
            if amount > left:
                raise JournalError(f"refund of {amount} exceeds what is still refundable on transaction "
                                   f"{original_id} ({left})", txn_id=original_id)

    # ----------------------------------------------------------------- hot path: outcome
    def complete(self, txn_id: int, *, approved: bool, response_code: str, rrn: str | None,
                 auth_code: str | None, response: Mapping[str, Any] | None, host_time: str | None = None,
                 tc_upload: bytes | None = None, card_sequence: str | None = None) -> Txn:
        """Record a validated answer in ONE commit: approved/declined (the reversal is disarmed with it).

        An approved void marks its original "voided"; an approved refund marks its original
        "refunded_partially" or "refunded" from the sum of approved refunds.  `tc_upload`: the card's
        TC (field 55) of an approved chip transaction, owed to the acquirer from this same commit.
        """
        _check_response_code(response_code)
        with self._write(f"record the answer to transaction {txn_id}") as w:
            row = self._txns.row_for_outcome(w, txn_id)
            response_text = None if response is None else message_text(response, txn_id)
            updated = self._txns.apply_outcome(w, row, approved, response_code=response_code, rrn=rrn,
                                               auth_code=auth_code, host_time=host_time, response=response_text)
            self._reversals.clear_legacy_armed(w, txn_id)  # an older journal's "armed" row for this request
            if tc_upload is not None and approved:
                self._tc_uploads.owe(w, txn_id, tc_upload, card_sequence)
            w.record("txn.complete", txn_id, row["operator"], row["role"],
                     {"state": updated["state"], "response_code": response_code, "rrn": updated["rrn"],
                      "auth_code": updated["auth_code"]})
        return txn_from_row(updated, batch_state=row["batch_state"])

    def fail(self, txn_id: int, *, reason: str, error: str, response: Mapping[str, Any] | None = None) -> Reversal | None:
        """No valid answer (98), MAC failure (A0) or chip declined after approval (06), in ONE commit.

        The transaction becomes "in_doubt" and a reversal is queued "pending" with `reason` (for a
        request still "sending", or a sale that was already approved); failing again updates the
        pending one.  Returns the reversal, or None when none is owed any more (its reversal was
        already sent or handed to an operator).
        """
        if reason not in REVERSAL_REASONS:
            raise JournalError(f"reversal reason must be 98 (timeout), A0 (MAC) or 06 (other), not {reason!r}")
        with self._write(f"record the failure of transaction {txn_id}") as w:
            row = self._txns.row(txn_id)
            if row["state"] == TxnState.APPROVED and row["kind"] not in ("sale", "correction", "preauth"):
                raise JournalError(f"transaction {txn_id} is an approved {row['kind']}: it cannot be failed",
                                   txn_id=txn_id)
            if row["state"] == TxnState.APPROVED and self._conn.execute(
                    "SELECT 1 FROM transactions WHERE original_id = ? LIMIT 1", (txn_id,)).fetchone():
                raise JournalError(f"transaction {txn_id} already has a void or refund: reverse that instead",
                                   txn_id=txn_id)
            extra = {} if response is None else {"response": message_text(response, txn_id)}
            self._txns.step(w, row, "fail", failure_reason=reason, **extra)
            result = self._reversals.queue(w, row, reason, error)
            w.record("txn.fail", txn_id, row["operator"], row["role"], {"reason": reason, "error": scrub_text(error)})
        return None if result is None else reversal_from_row(result)


class _Stale(Exception):
    """The numbers a message was built with are no longer the next ones (another writer committed)."""


def _check_response_code(code: Any) -> None:
    if not isinstance(code, str) or len(code) != 2 or not code.isascii() or not code.isprintable():
        raise JournalError(f"response code must be 2 printable characters, not {code!r}")


def _check_reference(kind: str, original_id: int | None, rrn: Any, date: Any,
                     sale: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    """A refund names its original by journal id, or — a sale of another till — by its RRN and date (MMDD), with
    what the back office said of that sale (`sale`: its masked card, trace and terminal, each may be None)."""
    if sale is not None and rrn is None:
        raise JournalError("what the back office said of a sale goes only with its RRN and date")
    if rrn is None and date is None:
        if kind == "refund" and original_id is None:
            raise JournalError("a refund needs the original transaction (its journal id, or its RRN and date)")
        return None
    if kind != "refund" or original_id is not None:
        raise JournalError("only a refund of a sale this journal does not hold names it by RRN and date")
    if not isinstance(rrn, str) or not _RRN.fullmatch(rrn):
        raise JournalError(f"the original's RRN must be 1 to 12 letters or digits, not {rrn!r}")
    if not isinstance(date, str) or not _MMDD.fullmatch(date):
        raise JournalError(f"the original's date must be MMDD (a month and a day), not {date!r}")
    reference: dict[str, Any] = {"original_rrn": rrn, "original_date": date}
    card, trace, terminal = (sale or {}).get("card"), (sale or {}).get("trace"), (sale or {}).get("terminal")
    if card is not None and not (isinstance(card, str) and _MASKED_CARD.fullmatch(card)):
        raise JournalError("the original's card must be masked (first 6 and last 4 digits), not a card number")
    if trace is not None and not (isinstance(trace, int) and not isinstance(trace, bool) and 0 < trace < 1_000_000):
        raise JournalError(f"the original's trace must be 1 to 999999, not {trace!r}")
    if terminal is not None and not (isinstance(terminal, str) and _TERMINAL.fullmatch(terminal)):
        raise JournalError(f"the original's terminal must be 1 to 32 letters, digits, '.', '_' or '-', not "
                           f"{str(terminal)[:40]!r}")
    for name, value in (("original_card", card), ("original_trace", trace), ("original_terminal", terminal)):
        if value is not None:
            reference[name] = value
    return reference


def _check_begin_args(kind: str, amount: Any, currency: Any, entry_mode: Any, operator: Any, role: Any) -> None:
    if kind not in KINDS:
        raise JournalError(f"unknown transaction kind {kind!r} (known: {', '.join(KINDS)})")
    if not isinstance(amount, int) or isinstance(amount, bool) or not 0 < amount <= MAX_MINOR_UNITS:
        raise JournalError(f"amount must be a whole number of minor units from 1 to {MAX_MINOR_UNITS}, not {amount!r}")
    if not isinstance(currency, str) or not _THREE_DIGITS.fullmatch(currency):
        raise JournalError(f"currency must be 3 digits (ISO 4217 numeric), not {currency!r}")
    if entry_mode is not None and (not isinstance(entry_mode, str) or not _THREE_DIGITS.fullmatch(entry_mode)):
        raise JournalError(f"entry mode must be 3 digits, not {entry_mode!r}")
    for name, value in (("operator", operator), ("role", role)):
        if not isinstance(value, str) or not value or len(value) > 64:
            raise JournalError(f"{name} must be a non-empty string of at most 64 characters")
