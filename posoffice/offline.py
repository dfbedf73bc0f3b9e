"""Sales stored offline (store-and-forward) as the office sees them, from the events alone — sans-IO.

A sale the terminal stored while the bank could not be reached is an advice: its `txn.begin` says `state`
advice_pending, each `advice.attempt` is one try to forward it, and the bank's answer is its `txn.complete`
(`response_code`: field 39).  Declined there, it is a sale **declined after forwarding**: the card approved it
offline, the bank refused it, the money was not collected and the merchant bears it — the store contacts the
customer for another payment.  A supervisor seeing it on the terminal (keypad, console, `posagent offline
declined --acknowledge`) is an `offline.declined_seen` event on the transaction (`agent.journal.offline.SEEN`).

Today lists every decline its terminal has not acknowledged, and an acknowledged one — marked acknowledged, by
whom and when — for `ACKNOWLEDGED_SHOWN_S` after the acknowledgement; after that `posoffice declined` and the
Transactions page still show it.  Journals older than the `state` on `txn.begin` say nothing of a stored sale
until its first try to forward it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from agent.engine.responses import describe
from agent.journal.offline import SEEN
from posoffice.report import Transaction

STORED = "stored_offline"  # stored, not forwarded yet
FORWARDED = "forwarded"  # forwarded (tried at least once), no answer yet
DECLINED = "declined_after_forwarding"
APPROVED = "approved_after_forwarding"
#: how long a decline acknowledged on its terminal stays among Today's alerts after the acknowledgement
ACKNOWLEDGED_SHOWN_S = 86_400
#: the event kinds read here besides the transactions' (migration 0008 indexes them)
OFFLINE_KINDS = ("advice.attempt", SEEN)


def offline_state(txn: Transaction) -> str | None:
    """Where a sale stored offline stands (`STORED`, `FORWARDED`, `DECLINED`, `APPROVED`); None for any other."""
    if txn.kind != "sale":
        return None
    if txn.state == "advice_pending" or (txn.state is None and txn.forwarded):
        return FORWARDED if txn.forwarded else STORED
    if txn.forwarded and txn.state == "declined":
        return DECLINED
    if txn.forwarded and txn.state == "approved":
        return APPROVED
    return None


def is_stored(txn: Transaction) -> bool:
    """A sale stored offline the bank has not answered yet (forwarded or not): the terminal still owes it."""
    return offline_state(txn) in (STORED, FORWARDED)


@dataclass(frozen=True)
class Acknowledged:
    operator: str | None
    role: str | None
    at: float

    def as_dict(self) -> dict[str, Any]:
        return {"operator": self.operator, "role": self.role, "at": self.at}


@dataclass(frozen=True)
class Declined:
    """A sale declined after forwarding: the transaction, when the bank's answer came, and who acknowledged it."""

    txn: Transaction
    declined_at: float | None
    seen: Acknowledged | None

    def meaning(self, language: str = "en") -> str:
        return describe(self.txn.response_code, language)

    def as_dict(self) -> dict[str, Any]:
        t = self.txn
        return {"terminal": t.terminal, "txn_id": t.txn_id, "trace": t.trace, "batch": t.batch, "card": t.card,
                "amount": t.amount, "made_at": t.made_at, "declined_at": self.declined_at,
                "response_code": t.response_code, "meaning": self.meaning(), "rrn": t.rrn, "forwarded": t.forwarded,
                "acknowledged": self.seen.as_dict() if self.seen else None}


def declined(txns: Iterable[Transaction], declined_at: Mapping[tuple[str, int], float],
             seen: Iterable[tuple[str, int, float, str | None, str | None]]) -> list[Declined]:
    """The sales declined after forwarding among `txns`, by terminal, newest sale first.  `declined_at`: (terminal,
    txn id) → when the decline came; `seen`: (terminal, txn id, at, operator, role) of the `SEEN` events (the
    first acknowledgement of each counts)."""
    first: dict[tuple[str, int], Acknowledged] = {}
    for terminal, txn_id, at, operator, role in seen:
        key = (terminal, txn_id)
        if key not in first or at < first[key].at:
            first[key] = Acknowledged(operator, role, at)
    found = [Declined(t, declined_at.get((t.terminal, t.txn_id)), first.get((t.terminal, t.txn_id)))
             for t in txns if offline_state(t) == DECLINED]
    return sorted(found, key=lambda d: (d.txn.terminal, -d.txn.made_at, -d.txn.txn_id))


def on_today(found: Iterable[Declined], now: float) -> list[Declined]:
    """Those Today lists: not acknowledged, or acknowledged less than `ACKNOWLEDGED_SHOWN_S` ago."""
    return [d for d in found if d.seen is None or now - d.seen.at < ACKNOWLEDGED_SHOWN_S]
