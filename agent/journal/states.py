"""The journal's state machines, each one table of legal transitions, enforced by `check_transition`.

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
"""

from __future__ import annotations

from enum import StrEnum
from types import MappingProxyType
from typing import Iterable

from agent.journal.errors import IllegalTransition


class TxnState(StrEnum):
    """A transaction's state: each value is what the journal's SQL stores in `transactions.state`."""

    SENDING = "sending"
    ADVICE_PENDING = "advice_pending"
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


S = TxnState
_T = {
    S.SENDING: {S.APPROVED, S.DECLINED, S.IN_DOUBT},
    S.ADVICE_PENDING: {S.APPROVED, S.DECLINED, S.ADVICE_PENDING},
    # approved -> in_doubt: the card declined after the host approved (reversal reason 06)
    S.APPROVED: {S.VOIDED, S.REFUNDED_PARTIALLY, S.REFUNDED, S.IN_DOUBT, S.REVERSED},
    S.DECLINED: set(),
    S.IN_DOUBT: {S.REVERSED, S.APPROVED, S.DECLINED, S.RESOLVED_MANUALLY, S.IN_DOUBT},
    S.REVERSED: set(),
    S.VOIDED: set(),
    S.REFUNDED_PARTIALLY: {S.REFUNDED_PARTIALLY, S.REFUNDED},
    S.REFUNDED: set(),
    S.RESOLVED_MANUALLY: set(),
}

_R = {
    # armed: only in journals written before a "sending" transaction itself counted as the armed
    # reversal (a row per request); cleared by a valid answer, made pending by a failure
    "armed": {"cleared", "pending"},
    "pending": {"pending", "done", "needs_manual", "cancelled"},
    "needs_manual": {"done", "handled", "cancelled"},
    "cleared": set(),
    "done": set(),
    "handled": set(),
    "cancelled": set(),
}

_B = {
    "open": {"settling"},
    "settling": {"settled"},
    "settled": set(),
}

#: multi-step fixes (journal/chains.py): open -> open records a step's progress
_C = {
    "open": {"open", "done", "closed"},
    "done": set(),
    "closed": set(),
}

TRANSITIONS = MappingProxyType({
    "transaction": MappingProxyType({k: frozenset(v) for k, v in _T.items()}),
    "reversal": MappingProxyType({k: frozenset(v) for k, v in _R.items()}),
    "batch": MappingProxyType({k: frozenset(v) for k, v in _B.items()}),
    "chain": MappingProxyType({k: frozenset(v) for k, v in _C.items()}),
})

#: transaction states that still wait for an outcome (reported by recovery; the partial index's list)
UNRESOLVED_TXN_STATES = (S.SENDING, S.IN_DOUBT)
#: an approved transaction, refunded or not: it charged the card and counts in the batch's totals
CHARGED_STATES = (S.APPROVED, S.REFUNDED_PARTIALLY, S.REFUNDED)
#: what may still charge the card: approved, or not answered yet
LIVE_STATES = (S.APPROVED, S.SENDING, S.IN_DOUBT)
#: reversal states that are still the terminal's business
OPEN_REVERSAL_STATES = ("armed", "pending", "needs_manual")
#: the same lists as SQL, for statements (`... WHERE state IN {UNRESOLVED_SQL}`)
UNRESOLVED_SQL = sql_in(UNRESOLVED_TXN_STATES)
CHARGED_SQL = sql_in(CHARGED_STATES)
LIVE_SQL = sql_in(LIVE_STATES)
OPEN_REVERSALS_SQL = sql_in(OPEN_REVERSAL_STATES)
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


def check_transition(machine: str, record_id: int | str, from_state: str, to_state: str) -> None:
    """Raise `IllegalTransition` unless `machine` may go from `from_state` to `to_state`."""
    allowed = TRANSITIONS[machine].get(from_state, frozenset())
    if to_state not in allowed:
        raise IllegalTransition(machine, record_id, from_state, to_state)
