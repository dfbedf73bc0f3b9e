"""The journal port's declaration: `JournalPort`, one typed method (and a one-line docstring) per question
or write the engine asks of storage.

`agent.engine.port` reads its questions from these methods (`ask`, `check_port`); the journal's facade
answers each under the same name, and the type checker holds it to this declaration
(`_the_journal_answers_the_port`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Protocol

if TYPE_CHECKING:  # the port names the journal's values in its signatures only: no storage code is loaded
    import datetime as dt

    from agent.journal.fixes import Fix, FixStep
    from agent.journal.facade import Journal
    from agent.journal.holds import Hold
    from agent.journal.params import ParamDownload, ParamRecord
    from agent.journal.paytotals import PaymentTotals
    from agent.journal.records import Backlog, Batch, Begun, Recovery, Reversal, Totals, Txn
    from agent.journal.states import FixState
    from agent.journal.tcuploads import TcUpload


class JournalPort(Protocol):
    """What the engine needs from storage (`agent.engine.port` says how a plan asks it)."""

    # -- transactions: intent and outcome
    def next_numbers(self) -> tuple[int, int]:
        """(trace, batch number) the next request will be journaled with, if no other writer takes them first."""
        ...

    def begin_request(self, kind: str, *, trace: int, batch: int, message: Any, amount: int, currency: str,
                      pan: str | None, entry_mode: str | None, operator: str, role: str,
                      original_id: int | None = None, purchase_id: int | None = None,
                      client_request_id: str | None = None, advice: bool = False, original_rrn: str | None = None,
                      original_date: str | None = None, offline_limits: Any = None,
                      original_sale: Mapping[str, Any] | None = None) -> Begun | None:
        """Journal a financial request before it is sent, built by the caller for `trace` and `batch`; None, with
        nothing written, when those are no longer the next numbers (an `advice`, an offline completion or
        offline-approved sale, starts "advice_pending", owes no reversal; a refund of another till's sale names
        it by `original_rrn` and `original_date` MMDD, not `original_id`, with what the back office said of it in
        `original_sale`: masked card, trace, terminal)."""
        ...

    def complete(self, txn_id: int, *, approved: bool, response_code: str, rrn: str | None,
                 auth_code: str | None, response: Mapping[str, Any] | None, host_time: str | None = None,
                 tc_upload: bytes | None = None, card_sequence: str | None = None) -> Txn:
        """Record a validated answer: approved or declined (with `tc_upload`, the card's TC owed from the same commit)."""
        ...

    def fail(self, txn_id: int, *, reason: str, error: str, response: Mapping[str, Any] | None = None) -> Reversal | None:
        """No valid answer: the transaction is in doubt and its reversal is queued."""
        ...

    # -- transactions: questions
    def get(self, txn_id: int) -> Txn:
        """One transaction by id."""
        ...

    def find(self, *, trace: int | None = None, rrn: str | None = None, date: str | dt.date | None = None, amount: int | None = None,
             last4: str | None = None, batch: int | None = None, kind: str | None = None,
             limit: int = 50) -> list[Txn]:
        """Transactions matching every criterion, newest first."""
        ...

    def find_request(self, client_request_id: str) -> Txn | None:
        """The transaction journaled for a client request id."""
        ...

    def refundable_amount(self, sale_id: int) -> int:
        """What is still refundable on a sale."""
        ...

    def corrections_of(self, original_id: int) -> list[Txn]:
        """The sales earlier fixes charged for the same purchase, oldest first."""
        ...

    def recent_refunds(self, original_id: int, *, window_seconds: float) -> list[Txn]:
        """Refunds of a sale journaled in the last `window_seconds`."""
        ...

    def recent_refunds_by_reference(self, rrn: str, date: str, *, window_seconds: float) -> list[Txn]:
        """Refunds of another till's sale (named by RRN and date MMDD) journaled in the last `window_seconds`."""
        ...

    def recent_sale_amounts(self, *, limit: int = 50) -> list[int]:
        """Amounts of the latest approved sales, newest first."""
        ...

    def fingerprint(self, pan: str) -> str:
        """The keyed fingerprint of a card number."""
        ...

    def duplicates_of(self, fingerprint: str, amount: int, *, window_seconds: float,
                      kinds: tuple[str, ...] = ("sale", "correction")) -> list[Txn]:
        """Sales of the same card and amount in the window."""
        ...

    def suspected_duplicates(self, *, window_seconds: float, lookback_seconds: float = 2592000,
                             kinds: tuple[str, ...] = ("sale", "correction")) -> list[list[Txn]]:
        """Groups of approved sales that look like duplicate charges."""
        ...

    def in_doubt(self) -> Recovery:
        """What is unresolved: unanswered requests, pending reversals, a settlement under way."""
        ...

    # -- reversals
    def reversal_backlog(self) -> Backlog:
        """Requests without an outcome and pending reversals: what goes out before anything else."""
        ...

    def pending_reversals(self) -> list[Reversal]:
        """Reversals waiting to be sent, oldest first."""
        ...

    def reversal_attempt(self, rev_id: int, request: Mapping[str, Any]) -> Reversal:
        """Before sending a reversal: one more try, the request stored."""
        ...

    def reversal_acknowledged(self, rev_id: int, response: Mapping[str, Any]) -> None:
        """The host acknowledged a reversal."""
        ...

    def reversal_failed(self, rev_id: int, error: str, *, max_tries: int) -> Reversal:
        """A reversal attempt got no valid answer."""
        ...

    # -- counters, events
    def take_trace(self, purpose: str, *, operator: str = "system", role: str = "system") -> int:
        """A trace number for a message that is not a journaled transaction."""
        ...

    def record_event(self, kind: str, details: dict[str, Any], *, operator: str, role: str,
                     txn_id: int | None = None) -> None:
        """An operator or system action, in the hash chain."""
        ...

    # -- batches and settlement
    def open_batch(self) -> Batch:
        """The current batch."""
        ...

    def get_batch(self, batch_no: int) -> Batch:
        """The newest batch with this number."""
        ...

    def batch_size(self, batch_no: int) -> int:
        """How many transactions a batch holds."""
        ...

    def set_batch_number(self, number: int, *, operator: str = "system", role: str = "system") -> Batch:
        """Adopt the host's batch number while the open batch is empty."""
        ...

    def batch_totals(self, batch_no: int) -> Totals:
        """Debit and credit totals of a batch."""
        ...

    def payment_totals(self, batch_no: int, *, wallet_entry_mode: str) -> PaymentTotals:
        """A batch's totals per payment type: card and payment code."""
        ...

    def begin_settlement(self, batch_no: int, *, move_stored: bool = False, operator: str = "system",
                         role: str = "system") -> Batch:
        """Freeze a batch's totals (open → settling); `move_stored`: its owed advices move to the next batch."""
        ...

    def stored_owed(self, batch_no: int) -> list[dict[str, Any]]:
        """The advices a batch still owes: id, trace, amount, maybe_booked."""
        ...

    def moved_out(self, batch_no: int) -> dict[str, Any] | None:
        """What moved out of a batch when it began settling: to, count, amount, txns."""
        ...

    def record_settlement_result(self, batch_no: int, *, domestic: str, foreign: str, response: Mapping[str, Any]) -> Batch:
        """Store the host's settlement verdict."""
        ...

    def upload_pending(self, batch_no: int, *, ic_only: bool) -> list[Txn]:
        """Records of a batch not yet uploaded."""
        ...

    def mark_uploaded(self, txn_id: int) -> None:
        """Flag one record as uploaded."""
        ...

    def uploaded_count(self, batch_no: int) -> int:
        """How many records of a batch are uploaded."""
        ...

    def finish_settlement(self, batch_no: int, *, operator: str = "system", role: str = "system") -> Batch:
        """settling → settled, and the next batch opens."""
        ...

    # -- pre-auth holds, advices and correction fixes (agent/journal/holds.py, fixes.py)
    def advice_failed(self, txn_id: int, error: str, *, not_booked: bool = False) -> None:
        """An advice try got no valid answer: it stays pending (the event keeps why)."""
        ...

    def advice_tries(self, txn_id: int) -> int:
        """How many times an advice was sent (journaled before each try)."""
        ...

    def advice_needs_manual(self, txn_id: int, reason: str) -> Txn:
        """A stored sale whose advice cannot be built (its sealed card does not open): needs manual handling."""
        ...

    def advices_needing_manual_handling(self) -> list[dict[str, Any]]:
        """Stored sales whose advice cannot be built, oldest first, each with `reason` and `since`."""
        ...

    def advice_attempt(self, txn_id: int, request: Mapping[str, Any]) -> int:
        """Before sending an advice: the message stored as sent; returns how many tries came before this one."""
        ...

    # -- chip parameter sets and their staged downloads (agent/journal/params.py)
    def params_in_force(self) -> ParamRecord | None:
        """The downloaded parameter set in force, or None (the local files are)."""
        ...

    def params_download_open(self) -> ParamDownload | None:
        """The parameter download still staging (to resume), if any."""
        ...

    def params_download_begin(self, *, trigger: str, params_version: str | None, keys_version: str | None,
                              key_list: list[str], aid_list: list[str]) -> ParamDownload:
        """Stage a download of what the acquirer listed (a download still staging is abandoned)."""
        ...

    def params_item(self, download_id: int, kind: str, name: str, data: bytes) -> None:
        """Keep one downloaded entry (raw TLV) in the staging area."""
        ...

    def params_items(self, download_id: int) -> dict[str, bytes]:
        """The entries staged so far: "kind name" → TLV."""
        ...

    def params_install(self, download_id: int, *, content: Mapping[str, Any], digest: str) -> ParamRecord:
        """Make a verified set the one in force, in one commit."""
        ...

    def params_download_end(self, download_id: int, state: str, error: str) -> ParamDownload:
        """Close a download without installing it (refused or abandoned)."""
        ...

    # -- IC card TC uploads (agent/journal/tcuploads.py)
    def tc_uploads_owed(self) -> list[TcUpload]:
        """TC uploads not yet answered whose tries have not run out, oldest first."""
        ...

    def tc_upload_attempt(self, upload_id: int) -> TcUpload:
        """Before sending a TC upload: one more try."""
        ...

    def tc_upload_answered(self, upload_id: int, *, response_code: str) -> TcUpload:
        """The acquirer took the TC."""
        ...

    def tc_upload_failed(self, upload_id: int, error: str, *, max_tries: int,
                         response_code: str | None = None) -> TcUpload:
        """A try got no answer or a refusal: still owed, or undelivered once its tries are spent."""
        ...

    def fix_txns(self, fix_id: int) -> list[Txn]:
        """The transactions the fix's steps journaled (linked to its original, after it was planned)."""
        ...

    def end_fix(self, fix_id: int, state: FixState, *, reason: str | None = None, steps: list[FixStep] | None = None, operator: str = "system", role: str = "system") -> Fix:
        """Finish a fix: ``done`` (every step approved) or ``closed`` (a supervisor's decision, with why)."""
        ...

    def get_fix(self, fix_id: int) -> Fix:
        """One fix by id."""
        ...

    def hold(self, preauth_id: int, *, validity_seconds: float) -> Hold:
        """Where one pre-auth stands (age by the journal's clock, completion, expiry)."""
        ...

    def open_fix_of(self, original_id: int) -> Fix | None:
        """"""
        ...

    def open_fixes(self) -> list[Fix]:
        """Every fix still open, oldest first."""
        ...

    def open_holds(self, *, validity_seconds: float, include_expired: bool = True) -> list[Hold]:
        """Approved pre-auths neither completed nor voided, oldest first."""
        ...

    def offline_refusal(self, amount: int, limits: Any) -> str | None:
        """Why a sale of `amount` may not be stored offline under `limits` (`OfflineLimits`): "max_amount",
        "max_total", "max_count" or "max_age"; None when it fits."""
        ...

    def offline_stored(self) -> dict[str, Any]:
        """Sales stored offline and not yet forwarded: count, amount, oldest (a journal time or None)."""
        ...

    def offline_declined(self) -> list[Txn]:
        """Sales stored offline that the bank declined when they were forwarded, newest first."""
        ...

    def pending_advices(self) -> list[Txn]:
        """Offline completions and offline-approved sales whose advice is not yet acknowledged, oldest first."""
        ...

    def advice_record(self, txn_id: int) -> dict[str, Any]:
        """What an offline-approved sale journaled for its advice: the masked message and the sealed card."""
        ...

    def plan_fix(self, kind: str, original_id: int, *, steps: list[FixStep], target: int | None, operator: str, role: str) -> Fix:
        """Journal the whole plan of a fix before its first step; refused while the original has an open one."""
        ...

    def suspected_duplicate_holds(self, *, window_seconds: float) -> list[list[Txn]]:
        """Open pre-auths of the same card and amount close in time (a stay held twice)."""
        ...

    def update_fix(self, fix_id: int, steps: list[FixStep]) -> Fix:
        """Record each step's progress (same plan: op and amount may not change)."""
        ...


if TYPE_CHECKING:
    def _the_journal_answers_the_port(journal: Journal) -> JournalPort:
        """The type checker's proof that the facade answers every question of the port with the port's
        parameters and types (mypy checks the protocol member by member; `check_port` checks the names and
        kinds again where a journal is bound)."""
        return journal
