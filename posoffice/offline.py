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

A stored sale whose sealed card does not open on its terminal is **never sent to the bank**: `advice.needs_manual`
(`agent.journal.offline.NEEDS_MANUAL`, with the terminal's reason in `error`) makes it advice_needs_manual, and the
money is not collected unless the store acts (the acquirer with the receipt, or the customer pays another way);
a supervisor marking it handled on the terminal (`posagent offline manual --handled ID --note …`) is
`advice.handled` (`HANDLED`: who, when, the note), which makes it resolved_manually.  Today lists each one until
it is handled, and a handled one — marked handled, by whom and when — for `ACKNOWLEDGED_SHOWN_S` after that, as
it lists the declines; `posoffice manual` and the Transactions page keep showing it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Protocol, TypeVar

from agent.engine.responses import describe
from agent.journal.offline import HANDLED, NEEDS_MANUAL, SEEN
from posoffice.report import Transaction

STORED = "stored_offline"  # stored, not forwarded yet
FORWARDED = "forwarded"  # forwarded (tried at least once), no answer yet
DECLINED = "declined_after_forwarding"
APPROVED = "approved_after_forwarding"
#: how long a decline acknowledged on its terminal stays among Today's alerts after the acknowledgement
ACKNOWLEDGED_SHOWN_S = 86_400
#: the event kinds read here besides the transactions' (migration 0008 indexes them)
OFFLINE_KINDS = ("advice.attempt", SEEN)
#: the events of a stored sale never sent to the bank and of its manual handling (migration 0010 indexes them)
MANUAL_KINDS = (NEEDS_MANUAL, HANDLED)
#: the most characters of a terminal's reason or a supervisor's note shown (the terminal keeps 200 and 1,000)
SHOWN_CHARS = 200


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
    """A supervisor's mark on the terminal: a decline seen, or a sale never sent handled (with the note)."""

    operator: str | None
    role: str | None
    at: float
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"operator": self.operator, "role": self.role, "at": self.at,
                **({} if self.note is None else {"note": self.note})}


def _first(marks: Iterable[tuple[str, int, float, str | None, str | None, str | None]]
           ) -> dict[tuple[str, int], Acknowledged]:
    """(terminal, txn id) → the earliest of `marks` (terminal, txn id, at, operator, role, note) for it."""
    first: dict[tuple[str, int], Acknowledged] = {}
    for terminal, txn_id, at, operator, role, note in marks:
        key = (terminal, txn_id)
        if key not in first or at < first[key].at:
            first[key] = Acknowledged(operator, role, at, shown(note))
    return first


def shown(text: Any) -> str | None:
    """A text of an event as the office shows it: a string, stripped, at most `SHOWN_CHARS`; None for anything else."""
    if not isinstance(text, str) or not text.strip():
        return None
    stripped: str = text.strip()
    return stripped if len(stripped) <= SHOWN_CHARS else stripped[:SHOWN_CHARS - 1] + "…"


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
    first = _first((terminal, txn_id, at, operator, role, None) for terminal, txn_id, at, operator, role in seen)
    found = [Declined(t, declined_at.get((t.terminal, t.txn_id)), first.get((t.terminal, t.txn_id)))
             for t in txns if offline_state(t) == DECLINED]
    return sorted(found, key=lambda d: (d.txn.terminal, -d.txn.made_at, -d.txn.txn_id))


@dataclass(frozen=True)
class NeverSent:
    """A stored sale never sent to the bank: the transaction, why (the terminal's reason) and since when, and
    who marked it handled on the terminal (`seen`; None: not yet)."""

    txn: Transaction
    reason: str | None
    since: float
    seen: Acknowledged | None

    @property
    def command(self) -> str:
        """The terminal's command that marks it handled (the supervisor's password)."""
        return f'posagent offline manual --handled {self.txn.txn_id} --note "what was done"'

    def as_dict(self) -> dict[str, Any]:
        t = self.txn
        return {"terminal": t.terminal, "txn_id": t.txn_id, "trace": t.trace, "batch": t.batch, "card": t.card,
                "amount": t.amount, "made_at": t.made_at, "since": self.since, "reason": self.reason,
                "state": t.state, "handled": self.seen.as_dict() if self.seen else None}


#: a needs-manual or handled event as `never_sent` reads it: (terminal, txn id, kind, at, operator, role, details)
ManualEvent = tuple[str, int, str, float, str | None, str | None, Any]


def never_sent(txns: Iterable[Transaction], events: Iterable[ManualEvent]) -> list[NeverSent]:
    """The stored sales among `txns` that their terminal set aside as never sent to the bank (an `advice.needs_manual`
    event in `events`), by terminal, newest sale first; the reason and time are the last such event's, the handling
    the first `advice.handled` after it.  Details that are not an object, a reason or note that is not a text:
    shown as unknown, never an error."""
    why: dict[tuple[str, int], tuple[float, str | None]] = {}
    handled: list[tuple[str, int, float, str | None, str | None, str | None]] = []
    for terminal, txn_id, kind, at, operator, role, details in events:
        fields = details if isinstance(details, Mapping) else {}
        if kind == NEEDS_MANUAL:
            why[(terminal, txn_id)] = (at, shown(fields.get("error")))
        elif kind == HANDLED:
            handled.append((terminal, txn_id, at, shown(operator), shown(role), fields.get("note")))
    first = _first(h for h in handled if h[:2] in why and h[2] >= why[h[:2]][0])
    found = [NeverSent(t, why[key][1], why[key][0], first.get(key)) for t in txns
             if t.kind == "sale" and (key := (t.terminal, t.txn_id)) in why]
    return sorted(found, key=lambda n: (n.txn.terminal, -n.txn.made_at, -n.txn.txn_id))


class _Marked(Protocol):
    @property
    def seen(self) -> Acknowledged | None: ...


Marked = TypeVar("Marked", bound=_Marked)


def on_today(found: Iterable[Marked], now: float) -> list[Marked]:
    """Those Today lists: not acknowledged (or handled), or acknowledged less than `ACKNOWLEDGED_SHOWN_S` ago."""
    return [d for d in found if d.seen is None or now - d.seen.at < ACKNOWLEDGED_SHOWN_S]
