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

from types import MappingProxyType

from agent.journal.errors import IllegalTransition

_T = {
    "sending": {"approved", "declined", "in_doubt"},
    "advice_pending": {"approved", "declined", "advice_pending"},
    # approved -> in_doubt: the card declined after the host approved (reversal reason 06)
    "approved": {"voided", "refunded_partially", "refunded", "in_doubt", "reversed"},
    "declined": set(),
    "in_doubt": {"reversed", "approved", "declined", "resolved_manually", "in_doubt"},
    "reversed": set(),
    "voided": set(),
    "refunded_partially": {"refunded_partially", "refunded"},
    "refunded": set(),
    "resolved_manually": set(),
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

#: transaction states that still wait for an outcome (reported by recovery)
UNRESOLVED_TXN_STATES = ("sending", "in_doubt")
#: reversal states that are still the terminal's business
OPEN_REVERSAL_STATES = ("armed", "pending", "needs_manual")
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


def check_transition(machine: str, record_id: int | str, from_state: str, to_state: str) -> None:
    """Raise `IllegalTransition` unless `machine` may go from `from_state` to `to_state`."""
    allowed = TRANSITIONS[machine].get(from_state, frozenset())
    if to_state not in allowed:
        raise IllegalTransition(machine, record_id, from_state, to_state)
