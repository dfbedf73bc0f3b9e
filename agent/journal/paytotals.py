"""A batch's totals per payment type: card and payment code (扫码), each with sales, refunds and net.

Field 48 of the settlement request counts both together (`Settlement.batch_totals`, what the bank
checks); the split is for people — the settlement slip and message, `posagent status`, `posagent
journal totals`.  A payment-code sale is one whose entry mode is the wallet's (`[wallet] entry_mode`,
given by the caller: the journal holds no configuration); a refund counts where its sale counts.
The same rows and states as the combined totals, so the two parts always add up to them.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from agent.journal.records import Totals

#: the payment types, in the order they are shown
PAYMENT_TYPES = ("card", "wallet")
#: kinds that count in the totals: debits (sales, corrections, completions) and credits (refunds)
_COUNTED_KINDS = ("sale", "correction", "completion", "refund")


@dataclass(frozen=True)
class PaymentTotals:
    card: Totals
    wallet: Totals  # paid with a wallet payment code

    def combined(self) -> Totals:
        """Both together: what field 48 carries (equal to `batch_totals` of the same batch)."""
        return Totals(debit_amount=self.card.debit_amount + self.wallet.debit_amount,
                      debit_count=self.card.debit_count + self.wallet.debit_count,
                      credit_amount=self.card.credit_amount + self.wallet.credit_amount,
                      credit_count=self.card.credit_count + self.wallet.credit_count)

    def as_dict(self) -> dict[str, Any]:
        return {name: side(getattr(self, name)) for name in PAYMENT_TYPES}


def side(totals: Totals) -> dict[str, int]:
    """One payment type for people: sales, refunds and net (minor units)."""
    return {"sales_count": totals.debit_count, "sales_amount": totals.debit_amount,
            "refunds_count": totals.credit_count, "refunds_amount": totals.credit_amount,
            "net_amount": totals.debit_amount - totals.credit_amount}


def payment_totals(conn: sqlite3.Connection, batch_id: int, counted_states: tuple[str, ...],
                   wallet_entry_mode: str) -> PaymentTotals:
    sums = {(p, s): [0, 0] for p in PAYMENT_TYPES for s in ("debit", "credit")}
    kinds = ", ".join("?" * len(_COUNTED_KINDS))
    states = ", ".join("?" * len(counted_states))
    for kind, mode, count, amount in conn.execute(
            "SELECT t.kind, CASE WHEN t.kind = 'refund' AND o.id IS NOT NULL THEN o.entry_mode ELSE t.entry_mode END,"
            " count(*), coalesce(sum(t.amount), 0) FROM transactions t LEFT JOIN transactions o ON o.id = t.original_id"
            f" WHERE t.batch_id = ? AND t.kind IN ({kinds}) AND t.state IN ({states}) GROUP BY 1, 2",
            (batch_id, *_COUNTED_KINDS, *counted_states)):
        cell = sums[("wallet" if mode == wallet_entry_mode else "card", "credit" if kind == "refund" else "debit")]
        cell[0] += amount
        cell[1] += count
    return PaymentTotals(*(Totals(debit_amount=sums[(p, "debit")][0], debit_count=sums[(p, "debit")][1],
                                  credit_amount=sums[(p, "credit")][0], credit_count=sums[(p, "credit")][1])
                           for p in PAYMENT_TYPES))
