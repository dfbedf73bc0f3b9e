"""A day's sales, refunds and voids per terminal, derived from the transaction events alone — no I/O.

The journal's events carry the transaction facts: `txn.begin` holds the kind and the amount (minor
units), `txn.complete` and `txn.confirmed` the state the answer left it in, `txn.fail` makes it in doubt,
`reversal.done` reversed, `reversal.handled` resolved by a person.  So the office needs no other table
from the terminal.  A transaction counts on the day of its approval when its own last outcome still
leaves it approved (a sale later reversed does not count; a sale later voided does, and so does its void).
A void or refund that changes its original is counted as itself: net = sales - refunds - voids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

#: which transaction kinds count on which side (corrections and pre-auth completions charge the card;
#: a pre-authorization itself only holds funds and is not counted)
SIDES = {"sale": "sales", "correction": "sales", "completion": "sales", "refund": "refunds",
         "void": "voids", "completion_void": "voids"}
#: the state each outcome event leaves a transaction in (None: read it from the event's details)
STATE_AFTER = {"txn.complete": None, "txn.confirmed": None, "txn.fail": "in_doubt", "reversal.done": "reversed"}
STILL_APPROVED = ("approved", "voided", "refunded", "refunded_partially")


@dataclass
class Line:
    count: int = 0
    amount: int = 0


@dataclass
class TerminalDay:
    terminal: str
    sales: Line = field(default_factory=Line)
    refunds: Line = field(default_factory=Line)
    voids: Line = field(default_factory=Line)

    @property
    def net(self) -> int:
        return self.sales.amount - self.refunds.amount - self.voids.amount

    def as_json(self) -> dict[str, Any]:
        return {"terminal": self.terminal, "net": self.net,
                **{side: {"count": getattr(self, side).count, "amount": getattr(self, side).amount}
                   for side in ("sales", "refunds", "voids")}}


def day_totals(events: Iterable[tuple[str, int, int, str, float, Any]]) -> list[TerminalDay]:
    """`events`: (terminal, seq, txn_id, kind, at, details) in chain order, for the transactions approved on
    the day (posoffice.store.day_events)."""
    txns: dict[tuple[str, int], dict[str, Any]] = {}
    for terminal, _seq, txn_id, kind, _at, details in events:
        txn = txns.setdefault((terminal, txn_id), {"kind": None, "amount": None, "state": None})
        if kind == "txn.begin":
            txn["kind"], txn["amount"] = details.get("kind"), details.get("amount")
        elif kind == "reversal.handled":
            if txn["state"] == "in_doubt":
                txn["state"] = "resolved_manually"
        elif kind in STATE_AFTER:
            txn["state"] = STATE_AFTER[kind] or details.get("state")
    days: dict[str, TerminalDay] = {}
    for (terminal, _txn_id), txn in sorted(txns.items()):
        day = days.setdefault(terminal, TerminalDay(terminal))
        side = SIDES.get(txn["kind"])
        if side is None or txn["state"] not in STILL_APPROVED or not isinstance(txn["amount"], int):
            continue
        line = getattr(day, side)
        line.count += 1
        line.amount += txn["amount"]
    return [days[t] for t in sorted(days)]
