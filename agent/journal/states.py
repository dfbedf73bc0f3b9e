"""The journal's state machines — a transaction, a reversal, a batch, a multi-step fix — each one
`agent.machine.Machine`: an enum of states whose values are what SQL stores, and one table of
(state, event) → state that every state change goes through (`IllegalTransition` otherwise).

Transactions
    sending      the request is journaled (this row is its armed reversal); the bytes may be on the wire
    approved     host approved (response validated)
    declined     host declined
    in_doubt     no valid answer, MAC failure, or chip declined after approval: a reversal is pending
    reversed     the host acknowledged the reversal
    voided       an approved void of this transaction exists
    refunded_partially / refunded   approved refunds against this transaction (derived from their sum)
    resolved_manually  an operator handled a reversal that could not be delivered
    advice_pending  an offline completion advice journaled, not yet acknowledged (no reversal: it is
                 sent again, the same bytes, until the host answers it)
    advice_needs_manual  a sale stored offline whose advice cannot be built (its sealed card does not open):
                 the bank was never told; it no longer holds back other messages and waits for a person
                 (resolve: resolved_manually)
"""

from __future__ import annotations

from enum import StrEnum
from types import MappingProxyType
from typing import Iterable

from agent.journal.errors import IllegalRecordTransition
from agent.machine import Machine


class TxnState(StrEnum):
    """A transaction's state: each value is what the journal's SQL stores in `transactions.state`."""

    SENDING = "sending"
    ADVICE_PENDING = "advice_pending"
    ADVICE_NEEDS_MANUAL = "advice_needs_manual"
    APPROVED = "approved"
    DECLINED = "declined"
    IN_DOUBT = "in_doubt"
    REVERSED = "reversed"
    VOIDED = "voided"
    REFUNDED_PARTIALLY = "refunded_partially"
    REFUNDED = "refunded"
    RESOLVED_MANUALLY = "resolved_manually"


def sql_in(states: Iterable[str]) -> str:
    """An SQL IN-list of state values, e.g. ``('sending', 'in_doubt')`` — generated, never typed by hand."""
    values = tuple(states)
    if not values or not all(isinstance(v, str) and v.replace("_", "").isalnum() for v in values):
        raise ValueError(f"not a list of state names: {values!r}")
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


class ReversalState(StrEnum):
    """A reversal's state (`reversals.state`)."""

    ARMED = "armed"  # only in journals written before a "sending" transaction itself was the armed reversal
    PENDING = "pending"
    NEEDS_MANUAL = "needs_manual"
    CLEARED = "cleared"
    DONE = "done"
    HANDLED = "handled"
    CANCELLED = "cancelled"


class BatchState(StrEnum):
    """A batch's state (`batches.state`)."""

    OPEN = "open"
    SETTLING = "settling"
    SETTLED = "settled"


class FixState(StrEnum):
    """A multi-step fix's state (`fixes.state`)."""

    OPEN = "open"
    DONE = "done"
    CLOSED = "closed"


S, R, B, F = TxnState, ReversalState, BatchState, FixState

TRANSACTION: Machine[TxnState] = Machine(
    "transaction", TxnState,
    ("approve", "decline", "fail", "void", "refund_part", "refund_all", "reverse", "resolve", "advice_resent",
     "give_up"), {
        (S.SENDING, "approve"): S.APPROVED,
        (S.SENDING, "decline"): S.DECLINED,
        (S.SENDING, "fail"): S.IN_DOUBT,  # no valid answer: its reversal is owed
        (S.ADVICE_PENDING, "approve"): S.APPROVED,
        (S.ADVICE_PENDING, "decline"): S.DECLINED,
        (S.ADVICE_PENDING, "advice_resent"): S.ADVICE_PENDING,
        (S.ADVICE_PENDING, "give_up"): S.ADVICE_NEEDS_MANUAL,  # its sealed card does not open: a person must act
        (S.ADVICE_NEEDS_MANUAL, "resolve"): S.RESOLVED_MANUALLY,  # settled with the acquirer or the customer
        (S.APPROVED, "void"): S.VOIDED,
        (S.APPROVED, "refund_part"): S.REFUNDED_PARTIALLY,
        (S.APPROVED, "refund_all"): S.REFUNDED,
        (S.APPROVED, "fail"): S.IN_DOUBT,  # the card declined after the host approved (reversal reason 06)
        (S.APPROVED, "reverse"): S.REVERSED,
        (S.IN_DOUBT, "reverse"): S.REVERSED,
        (S.IN_DOUBT, "approve"): S.APPROVED,  # the host's status says what became of it
        (S.IN_DOUBT, "decline"): S.DECLINED,
        (S.IN_DOUBT, "resolve"): S.RESOLVED_MANUALLY,
        (S.IN_DOUBT, "fail"): S.IN_DOUBT,
        (S.REFUNDED_PARTIALLY, "refund_part"): S.REFUNDED_PARTIALLY,
        (S.REFUNDED_PARTIALLY, "refund_all"): S.REFUNDED,
    }, initial=S.SENDING, refusal=IllegalRecordTransition)

REVERSAL: Machine[ReversalState] = Machine(
    "reversal", ReversalState, ("answered", "fail", "attempt", "acknowledge", "give_up", "handle", "cancel"), {
        (R.ARMED, "answered"): R.CLEARED,  # a valid answer to the request it would reverse
        (R.ARMED, "fail"): R.PENDING,
        (R.PENDING, "fail"): R.PENDING,  # failed again, or an attempt got no answer with tries left
        (R.PENDING, "attempt"): R.PENDING,  # journaled before it is sent: one try more
        (R.PENDING, "acknowledge"): R.DONE,
        (R.PENDING, "give_up"): R.NEEDS_MANUAL,  # its tries ran out: a person must act
        (R.PENDING, "cancel"): R.CANCELLED,  # the host's status says what became of the transaction
        (R.NEEDS_MANUAL, "acknowledge"): R.DONE,
        (R.NEEDS_MANUAL, "handle"): R.HANDLED,
        (R.NEEDS_MANUAL, "cancel"): R.CANCELLED,
    }, initial=R.PENDING, refusal=IllegalRecordTransition)

BATCH: Machine[BatchState] = Machine(
    "batch", BatchState, ("begin_settlement", "finish_settlement"), {
        (B.OPEN, "begin_settlement"): B.SETTLING,  # totals frozen
        (B.SETTLING, "finish_settlement"): B.SETTLED,  # and the next batch opens
    }, initial=B.OPEN, refusal=IllegalRecordTransition)

#: a multi-step fix (journal/fixes.py): a correction or duplicate repair recorded step by step
FIX: Machine[FixState] = Machine(
    "fix", FixState, ("record_step", "finish", "close"), {
        (F.OPEN, "record_step"): F.OPEN,  # a step's progress
        (F.OPEN, "finish"): F.DONE,  # every step approved
        (F.OPEN, "close"): F.CLOSED,  # a supervisor's decision, with why
    }, initial=F.OPEN, refusal=IllegalRecordTransition)

#: a fix's events (journal/fixes.py): what each says → its kind today and the kind a journal wrote before the
#: rename, `chain.*`, whose details name the fix under "chain" (FIX_ID_KEYS).  Events are hash-chained and never
#: rewritten, so a journal or a back office holds both spellings and every reader takes both
FIX_EVENTS = MappingProxyType({"plan": ("fix.plan", "chain.plan"), "step": ("fix.step", "chain.step"),
                               F.DONE.value: ("fix.done", "chain.done"), F.CLOSED.value: ("fix.closed", "chain.closed")})
#: the key of a fix event's details that holds the fix's id: today's, then the one before the rename
FIX_ID_KEYS = ("fix", "chain")

#: the journal's machines, in the order the docs draw them
MACHINES = (TRANSACTION, REVERSAL, BATCH, FIX)

#: transaction states that still wait for an outcome (reported by recovery; the partial index's list)
UNRESOLVED_TXN_STATES = (S.SENDING, S.IN_DOUBT)
#: an approved transaction, refunded or not: it charged the card and counts in the batch's totals
CHARGED_STATES = (S.APPROVED, S.REFUNDED_PARTIALLY, S.REFUNDED)
#: what may still charge the card: approved, or not answered yet
LIVE_STATES = (S.APPROVED, S.SENDING, S.IN_DOUBT)
#: reversal states that are still the terminal's business
OPEN_REVERSAL_STATES = (R.ARMED, R.PENDING, R.NEEDS_MANUAL)
#: reversals still to be sent (not yet handed to a person)
QUEUED_REVERSAL_STATES = (R.ARMED, R.PENDING)
#: the same lists as SQL, for statements (`... WHERE state IN {UNRESOLVED_SQL}`)
UNRESOLVED_SQL = sql_in(UNRESOLVED_TXN_STATES)
CHARGED_SQL = sql_in(CHARGED_STATES)
LIVE_SQL = sql_in(LIVE_STATES)
OPEN_REVERSALS_SQL = sql_in(OPEN_REVERSAL_STATES)
QUEUED_REVERSALS_SQL = sql_in(QUEUED_REVERSAL_STATES)
#: why a reversal is owed (field 39 of the 0400): 98 no answer, A0 the answer's MAC failed, 06 anything else
REVERSAL_REASONS = ("98", "A0", "06")
#: the financial kinds journaled as transactions and which side of the settlement totals they count on
KINDS = MappingProxyType({"sale": "debit", "correction": "debit", "refund": "credit", "void": None,
                         # pre-authorization: only the completion is settled (domain §10)
                         "preauth": None, "preauth_void": None, "completion": "debit", "completion_void": None})
#: what each void kind may void, and the kinds a refund may refund
VOIDS = MappingProxyType({"void": ("sale", "correction"), "preauth_void": ("preauth",),
                          "completion_void": ("completion",)})
REFUNDABLE_KINDS = ("sale", "correction", "completion")
#: a multi-step fix's step operations and the transaction kind each journals
STEP_KINDS = {"void": "void", "sale": "correction", "refund": "refund",
              "completion_void": "completion_void", "completion": "completion"}

