"""The one definition of a suspected duplicate charge (scenario S2), used by the sale guard, `posagent
duplicates`, the keypad's list and the chaos checker.

The rule: two sales (or correction sales) are suspected duplicates when they are on the same card (PAN
fingerprint), for the same amount, and the later one was made within the window
(`[guards] duplicate_window_seconds`) of the one before it — counting only sales that still charge
the card, or may: **approved**, **partially refunded** (the card still carries part of the charge, so a
second identical sale is a second charge), **outcome unknown** (sending / in doubt: it may have
charged) and **stored offline** (advice pending: approved by the card while the bank could not be
reached, charged when it is forwarded).  A **voided**, **reversed**, **declined**, **fully refunded** or manually resolved sale
charges nothing and never counts.  A run of such sales, each within the window of the previous, is one
group ("charged N times").  Pre-authorizations follow the same rule among themselves (a stay held
twice): pass `kinds=("preauth",)`.
"""

from __future__ import annotations

from typing import Any, Iterable
from agent.journal.states import TxnState

#: the kinds of transaction that charge a card
CHARGING_KINDS = ("sale", "correction")
#: the states in which a charging transaction counts towards a duplicate
COUNTING_STATES = (TxnState.APPROVED, TxnState.REFUNDED_PARTIALLY, TxnState.SENDING, TxnState.IN_DOUBT,
                   TxnState.ADVICE_PENDING)


def counts(txn: Any, kinds: tuple[str, ...] = CHARGING_KINDS) -> bool:
    """Whether `txn` counts towards a suspected duplicate at all."""
    return txn.kind in kinds and txn.state in COUNTING_STATES and txn.pan_fingerprint is not None


def _same(a: Any, b: Any) -> bool:
    return (a.pan_fingerprint, a.amount) == (b.pan_fingerprint, b.amount)


def group_duplicates(txns: Iterable[Any], window_seconds: float,
                     kinds: tuple[str, ...] = CHARGING_KINDS) -> list[list[Any]]:
    """The groups of suspected duplicates among `txns` (any order), oldest group first."""
    ordered = sorted((t for t in txns if counts(t, kinds)), key=lambda t: (t.pan_fingerprint, t.amount, t.created_at, t.id))
    groups: list[list[Any]] = []
    current: list[Any] = []
    for txn in ordered:
        if current and _same(txn, current[-1]) and txn.created_at - current[-1].created_at <= window_seconds:
            current.append(txn)
            continue
        if len(current) > 1:
            groups.append(current)
        current = [txn]
    if len(current) > 1:
        groups.append(current)
    return sorted(groups, key=lambda g: (g[0].created_at, g[0].id))


def earlier_charges(candidates: Iterable[Any], *, fingerprint: str, amount: int, at: float,
                    window_seconds: float, kinds: tuple[str, ...] = CHARGING_KINDS) -> list[Any]:
    """The counting sales a new sale of `amount` on card `fingerprint` at time `at` would be grouped with
    (oldest first): the guard asks for confirmation exactly when this is not empty."""
    return sorted((t for t in candidates if counts(t, kinds) and t.pan_fingerprint == fingerprint and t.amount == amount
                   and 0 <= at - t.created_at <= window_seconds), key=lambda t: (t.created_at, t.id))
