"""Suspected duplicates across a merchant's tills — sans-IO.

A terminal warns about the same card for the same amount within a short window on itself; a customer
charged on two tills is seen only here.  Two approved charges of one merchant on two terminals, of the same
amount, at most the window apart, on the same card:

    both fingerprints present and equal   -> the same card ("fingerprint")
    both masked cards present             -> the same card when they are equal ("masked card")
    either side from an older journal     -> the amount alone ("amount")

The keyed fingerprint alone cannot tell two cards apart across tills: each terminal creates its own
fingerprint key (`[journal] fingerprint_key_file`, 256 random bits made on first start), so the same card
has another fingerprint on every till; equal fingerprints only happen where an installation shares one key.
The masked card (first 6, last 4) is the same on every till, and a masked card that differs rules a pair out.

Each pair is a suspicion to check, listed with its fix: the later charge is voided on its till while its
batch is open, else refunded.  A void or refund naming either charge (`original` on its `txn.begin`) is
what was done about it: voided or refunded in full, the pair is already fixed and leaves the list; partly
refunded, the fix is the rest.  An older journal's void or refund of the same amount on that till since is
noted, since it does not say which charge it undoes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo
from typing import Any, Iterable, Mapping, NotRequired, TypedDict

from posoffice.refunds import Refundable, names_nothing, refundable_of
from posoffice.report import STILL_APPROVED, Transaction

#: the charges a customer pays (a pre-authorization only holds funds)
CHARGE_KINDS = ("sale", "correction", "completion")
DEFAULT_WINDOW_S = 300


class AlreadyDone(TypedDict):
    """A void or refund the later charge's till made since: one naming either charge (`names_it`), or an older
    journal's of the same amount that does not say which charge it undoes."""

    kind: str
    terminal: str
    trace: int
    txn_id: int
    amount: int
    names_it: bool


class Fix(TypedDict):
    """How to undo a pair's later charge (`Duplicate.fix`)."""

    action: str  # "void" while its batch is open, else "refund"; "none": already fixed
    terminal: str
    trace: int
    batch: int
    why: str
    amount: NotRequired[int]  # a refund's: what the charge still has to refund
    already: NotRequired[list[AlreadyDone]]


def same_card(a: Transaction, b: Transaction) -> str | None:
    """How two charges are taken to be on one card ("fingerprint", "masked card", "amount"); None: two cards."""
    if a.fingerprint and a.fingerprint == b.fingerprint:
        return "fingerprint"
    if a.card and b.card:
        return "masked card" if a.card == b.card else None
    return "amount"


@dataclass(frozen=True)
class Duplicate:
    merchant_id: str
    first: Transaction
    second: Transaction  # the later charge: the one to undo
    matched_by: str = "amount"

    @property
    def seconds_apart(self) -> float:
        return self.second.made_at - self.first.made_at

    def undone(self, transactions: Iterable[Transaction], zone: tzinfo | None = None) -> tuple[Refundable, Refundable]:
        txns = list(transactions)
        return refundable_of(self.first, txns, zone), refundable_of(self.second, txns, zone)

    def fixed(self, transactions: Iterable[Transaction], zone: tzinfo | None = None) -> bool:
        """Already fixed: either charge was voided or refunded in full by a void or refund naming it."""
        return any(side.undone for side in self.undone(transactions, zone))

    def fix(self, transactions: Iterable[Transaction], zone: tzinfo | None = None) -> Fix:
        """How to undo the later charge, and what its till already did about it."""
        txns = list(transactions)
        s = self.second
        first, second = self.undone(txns, zone)
        action: Fix
        if any(side.undone for side in (first, second)):
            done = first if first.undone else second
            how = done.void or done.refunds[-1]
            action = {"action": "none", "terminal": done.sale.terminal, "trace": done.sale.trace,
                      "batch": done.sale.batch, "why": f"already fixed: {how.kind} trace {how.trace:06d} on terminal "
                                                       f"{how.terminal} names trace {done.sale.trace:06d}"}
        elif s.settled_at is None and not second.refunds:
            action = {"action": "void", "terminal": s.terminal, "trace": s.trace, "batch": s.batch,
                      "why": f"batch {s.batch:06d} of terminal {s.terminal} is still open"}
        else:
            action = {"action": "refund", "terminal": s.terminal, "trace": s.trace, "batch": s.batch,
                      "amount": second.refundable,
                      "why": f"batch {s.batch:06d} of terminal {s.terminal} is settled" if s.settled_at is not None
                      else f"trace {s.trace:06d} is partly refunded already"}
        named = [*first.refunds, *second.refunds, *(x.void for x in (first, second) if x.void is not None)]
        guessed = [t for t in txns if t.terminal == s.terminal and t.made_at > s.made_at and names_nothing(t)
                   and t.kind in ("void", "refund") and t.amount == s.amount and t.state == "approved"]
        if named or guessed:
            action["already"] = [{"kind": t.kind, "terminal": t.terminal, "trace": t.trace, "txn_id": t.txn_id,
                                  "amount": t.amount, "names_it": t in named} for t in (*named, *guessed)]
        return action

    def as_dict(self, transactions: Iterable[Transaction] = (), zone: tzinfo | None = None) -> dict[str, Any]:
        def side(t: Transaction) -> dict[str, Any]:
            return {"terminal": t.terminal, "txn_id": t.txn_id, "kind": t.kind, "trace": t.trace, "batch": t.batch,
                    "card": t.card, "rrn": t.rrn, "at": t.made_at, "batch_settled": t.settled_at is not None}
        return {"merchant_id": self.merchant_id, "amount": self.first.amount, "matched_by": self.matched_by,
                "seconds_apart": round(self.seconds_apart, 3), "first": side(self.first), "second": side(self.second),
                "fix": self.fix(transactions, zone)}


def find_duplicates(transactions: Iterable[Transaction], merchant_of: Mapping[str, str], *,
                    window_s: float = DEFAULT_WINDOW_S, within_tills: bool = False) -> list[Duplicate]:
    """Each later approved charge with an earlier one of the same amount on the same card (see `same_card`), on
    another terminal of the same merchant (`within_tills`: or on the same one, by its fingerprint or masked card),
    at most `window_s` seconds before it; oldest first.  Fixed ones included: `Duplicate.fixed` tells them
    apart."""
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
                how = same_card(t, charge)
            else:  # on one till the amount alone is not a suspicion: the card must be known and the same
                how = same_card(t, charge) if within_tills and t.card and charge.card else None
                how = None if how == "amount" else how
            if how is not None:
                found.append(Duplicate(key[0], t, charge, how))
                break  # the nearest other till is enough to name this charge
        recent[key] = [*earlier, charge]
    return found
