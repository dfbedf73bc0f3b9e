"""Suspected duplicates across a merchant's tills — sans-IO.

A terminal warns about the same card for the same amount within a short window on itself; a customer
charged on two tills is seen only here.  The key would be the card's keyed fingerprint, which the journal
keeps in its transactions table: but the shipped events carry no card data at all (no fingerprint, no
masked card), so the office's key is the amount alone — two approved charges of the same amount on two
terminals of one merchant within the window.  Each pair is a suspicion to check, listed with its fix:
the later charge is voided on its till while its batch is open, else refunded.  A void or refund of the
same amount made on that till afterwards is noted (the events do not say which sale a void names).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from posoffice.report import STILL_APPROVED, Transaction

#: the charges a customer pays (a pre-authorization only holds funds)
CHARGE_KINDS = ("sale", "correction", "completion")
DEFAULT_WINDOW_S = 300


@dataclass(frozen=True)
class Duplicate:
    merchant_id: str
    first: Transaction
    second: Transaction  # the later charge: the one to undo

    @property
    def seconds_apart(self) -> float:
        return self.second.made_at - self.first.made_at

    def fix(self, transactions: Iterable[Transaction]) -> dict[str, Any]:
        """How to undo the later charge, and whether its till already made a void or refund of that amount."""
        s = self.second
        undone = [t for t in transactions if t.terminal == s.terminal and t.made_at > s.made_at
                  and t.kind in ("void", "refund") and t.amount == s.amount and t.state == "approved"]
        if s.settled_at is None:
            action = {"action": "void", "terminal": s.terminal, "trace": s.trace, "batch": s.batch,
                      "why": f"batch {s.batch:06d} of terminal {s.terminal} is still open"}
        else:
            action = {"action": "refund", "terminal": s.terminal, "trace": s.trace, "batch": s.batch,
                      "amount": s.amount, "why": f"batch {s.batch:06d} of terminal {s.terminal} is settled"}
        if undone:
            action["already"] = [{"kind": t.kind, "trace": t.trace, "txn_id": t.txn_id} for t in undone]
        return action

    def as_dict(self, transactions: Iterable[Transaction] = ()) -> dict[str, Any]:
        def side(t: Transaction) -> dict[str, Any]:
            return {"terminal": t.terminal, "txn_id": t.txn_id, "kind": t.kind, "trace": t.trace, "batch": t.batch,
                    "at": t.made_at, "batch_settled": t.settled_at is not None}
        return {"merchant_id": self.merchant_id, "amount": self.first.amount, "seconds_apart": round(self.seconds_apart, 3),
                "first": side(self.first), "second": side(self.second), "fix": self.fix(transactions)}


def find_duplicates(transactions: Iterable[Transaction], merchant_of: Mapping[str, str], *,
                    window_s: float = DEFAULT_WINDOW_S) -> list[Duplicate]:
    """Each later approved charge with an earlier one of the same amount, on another terminal of the same
    merchant, at most `window_s` seconds before it; oldest first."""
    if not window_s >= 0:
        raise ValueError(f"the window must be 0 seconds or more, not {window_s!r}")
    charges = sorted((t for t in transactions if t.kind in CHARGE_KINDS and t.state in STILL_APPROVED
                      and t.terminal in merchant_of), key=lambda t: (t.made_at, t.terminal, t.txn_id))
    found: list[Duplicate] = []
    recent: dict[tuple[str, int], list[Transaction]] = {}
    for charge in charges:
        key = (merchant_of[charge.terminal], charge.amount)
        earlier = [t for t in recent.get(key, []) if charge.made_at - t.made_at <= window_s]
        for t in reversed(earlier):
            if t.terminal != charge.terminal:
                found.append(Duplicate(key[0], t, charge))
                break  # the nearest other till is enough to name this charge
        recent[key] = [*earlier, charge]
    return found
