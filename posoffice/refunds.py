"""What a sale still owes its customer, across every till of its merchant — sans-IO.

A void or refund names its original on `txn.begin`: by journal id (`original`) when the original is in the
same journal, or by the acquirer's reference and the sale's date (`original_rrn`, `original_date` MMDD) when
it was keyed at another till.  A sale's refundable amount is its amount minus the refunds naming it that
were approved or whose answer is not known yet (a refund under way may have been paid: the terminal's own
journal counts it the same way), and nothing once a void naming it was approved or is under way.  A sale
whose own outcome is not known (no answer, in doubt) has nothing refundable until it is resolved.

The office finds a sale by RRN and date, the two things a customer's slip shows: `find_sales`.  Events
written before the journal carried the RRN and the original cannot be found or linked this way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, Iterable

from posoffice.report import Transaction

#: the charges a refund may name
REFUNDABLE_KINDS = ("sale", "correction", "completion")
#: the kinds that take money back from a charge
UNDO_KINDS = ("void", "refund")
#: an undo in these states may have reached the customer's card (None: sent, no answer yet)
UNDER_WAY = (None, "sending", "in_doubt")


def mmdd(at: float, zone: tzinfo | None) -> str:
    """A transaction's date as a slip and field 61 show it."""
    return datetime.fromtimestamp(at, zone).strftime("%m%d")


def names(undo: Transaction, sale: Transaction, zone: tzinfo | None) -> bool:
    """Whether the void or refund `undo` names `sale` (by journal id on its own till, else by RRN and date)."""
    if undo.original is not None:
        return undo.terminal == sale.terminal and undo.original == sale.txn_id
    return (undo.original_rrn is not None and undo.original_rrn == sale.rrn
            and undo.original_date == mmdd(sale.made_at, zone))


def names_nothing(undo: Transaction) -> bool:
    """An undo from an older journal, whose events do not say which transaction it undoes."""
    return undo.original is None and undo.original_rrn is None


@dataclass(frozen=True)
class Refundable:
    sale: Transaction
    refunds: tuple[Transaction, ...]  # approved or under way, naming the sale
    void: Transaction | None  # the void naming it, approved or under way
    zone: tzinfo | None = None

    @property
    def refunded(self) -> int:
        return sum(r.amount for r in self.refunds if r.state == "approved")

    @property
    def under_way(self) -> int:
        return sum(r.amount for r in self.refunds if r.state in UNDER_WAY)

    @property
    def why_none(self) -> str | None:
        """Why nothing is refundable however much is left, or None."""
        if self.sale.state != "approved":
            return f"the sale is {self.sale.state or 'still waiting for its answer'}"
        if self.void is not None:
            where = f"terminal {self.void.terminal} trace {self.void.trace:06d}"
            return f"the sale was voided ({where})" if self.void.state == "approved" else \
                f"a void of the sale is under way ({where})"
        return None

    @property
    def refundable(self) -> int:
        if self.why_none is not None:
            return 0
        return max(0, self.sale.amount - self.refunded - self.under_way)

    @property
    def undone(self) -> bool:
        """The charge is off the customer's card: voided, or refunded in full."""
        return (self.void is not None and self.void.state == "approved") or self.refunded >= self.sale.amount

    def as_dict(self) -> dict[str, Any]:
        s = self.sale
        return {"rrn": s.rrn, "date": mmdd(s.made_at, self.zone),
                "sale": {"terminal": s.terminal, "txn_id": s.txn_id, "kind": s.kind, "trace": s.trace, "batch": s.batch,
                         "amount": s.amount, "card": s.card, "state": s.state, "at": s.made_at},
                "refunded": self.refunded, "under_way": self.under_way, "refundable": self.refundable,
                "voided": self.void is not None and self.void.state == "approved", "why_none": self.why_none,
                "refunds": [{"terminal": r.terminal, "trace": r.trace, "amount": r.amount, "state": r.state}
                            for r in self.refunds]}


def refundable_of(sale: Transaction, transactions: Iterable[Transaction], zone: tzinfo | None) -> Refundable:
    undos = [t for t in transactions if t.kind in UNDO_KINDS and (t.state == "approved" or t.state in UNDER_WAY)
             and names(t, sale, zone)]
    refunds = tuple(t for t in undos if t.kind == "refund")
    voids = sorted((t for t in undos if t.kind == "void"), key=lambda t: t.state != "approved")
    return Refundable(sale, refunds, voids[0] if voids else None, zone)


def find_sales(transactions: Iterable[Transaction], rrn: str, date: str, zone: tzinfo | None) -> list[Transaction]:
    """The charges with this RRN made on `date` (MMDD, in `zone`), oldest first."""
    return sorted((t for t in transactions if t.kind in REFUNDABLE_KINDS and t.rrn == rrn
                   and mmdd(t.made_at, zone) == date), key=lambda t: (t.made_at, t.terminal, t.txn_id))
