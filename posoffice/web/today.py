"""What the Today page derives from the events, kept between requests and brought up to date per terminal.

Each terminal's part — the transactions of its open batches and of the last day (`lookups.today_keys`), its
open batch's totals per payment type, when it last settled — is derived again only when that terminal's cursor
moved (it shipped events).  What spans terminals is derived again whenever any terminal moved: open fixes and
reversals needing manual handling from their events (few, on their own index); duplicates within and across
tills per (merchant, amount) — a pair is always of one amount at one merchant (`find_duplicates`) — only in
the amounts the moved terminals' charges have, then each pair checked against the voids and refunds.  The rows
read on every request (last contact, backlog, chain state) come from `store.terminals`.  The sales declined
after forwarding come from their forwarding tries (`lookups.offline_declined`, on their own index), the stored
sales never sent to the bank from their needs-manual and handled events (`lookups.offline_never_sent`, on theirs);
which of them Today lists (`offline.on_today`: an acknowledged or handled one for a day) is decided on every
request.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from datetime import tzinfo
from typing import Any

import psycopg

from posoffice import lookups, offline, overview, report, store
from posoffice.duplicates import CHARGE_KINDS, Duplicate, find_duplicates
from posoffice.refunds import UNDO_KINDS

#: Today reads the open batches' transactions and those begun in the last day (its duplicates and fixes)
HORIZON_S = 86_400
DUPLICATE_WINDOW_S = 300


@dataclasses.dataclass
class _Terminal:
    seq: int
    by_id: dict[int, report.Transaction]
    undos: list[report.Transaction]  # its voids and refunds (what decides whether a duplicate is fixed)
    row: overview.TerminalToday


class TodayView:
    def __init__(self, zone: tzinfo | None):
        self.zone = zone
        self._lock = threading.Lock()
        self._terminals: dict[str, _Terminal] = {}
        self._version: str | None = None
        self._shared: dict[str, Any] = {}
        self._charges: dict[tuple[str, int], dict[str, list[report.Transaction]]] = {}  # (merchant, amount) → till
        self._buckets_of: dict[str, set[tuple[str, int]]] = {}  # till → its buckets
        self._pairs: dict[tuple[str, int], list[Duplicate]] = {}

    def page(self, conn: psycopg.Connection) -> dict[str, Any]:
        """The Today page's data; `version` changes whenever the page would."""
        version = lookups.version(conn)
        rows = store.terminals(conn)
        with self._lock:
            if version != self._version:
                self._refresh(conn, rows)
                self._version = version
            terminals = [dataclasses.replace(self._terminals[r["terminal"]].row, last_contact=r["last_contact"],
                                             backlog=r["backlog"], chain_ok=r["chain"] == "ok")
                         for r in rows if r["terminal"] in self._terminals]
            shared = dict(self._shared)
        now = time.time()
        shared["declined"] = offline.on_today(shared.get("declined", []), now)
        shared["never_sent"] = offline.on_today(shared.get("never_sent", []), now)
        return {"terminals": terminals, **shared, "problems": [r for r in rows if r["chain"] != "ok"],
                "version": f"{version}-{lookups.contact(conn)}", "payment_types": overview.PAYMENT_TYPES}

    def _refresh(self, conn: psycopg.Connection, rows: list[store.TerminalRow]) -> None:
        merchant_of = {r["terminal"]: r["merchant"] for r in rows}
        moved = [r for r in rows if r["terminal"] not in self._terminals
                 or self._terminals[r["terminal"]].seq != r["last_seq"]]
        gone = set(self._terminals) - set(merchant_of)
        touched: set[tuple[str, int]] = set()
        if moved:
            keys, last_settled = lookups.today_keys(conn, time.time() - HORIZON_S, [r["terminal"] for r in moved])
            by_terminal: dict[str, list[report.Transaction]] = {r["terminal"]: [] for r in moved}
            for t in report.transactions(lookups.transaction_events_of(conn, keys)):
                by_terminal[t.terminal].append(t)
            for r in moved:
                mine = by_terminal[r["terminal"]]
                [row] = overview.terminals_today([r], mine, last_settled)
                touched |= self._file_charges(r["terminal"], mine, r["merchant"])
                self._terminals[r["terminal"]] = _Terminal(r["last_seq"], {t.txn_id: t for t in mine},
                                                           [t for t in mine if t.kind in UNDO_KINDS], row)
        for terminal in gone:
            touched |= self._file_charges(terminal, [], None)
            del self._terminals[terminal]
        for bucket in touched:
            charges = [t for part in self._charges.get(bucket, {}).values() for t in part]
            self._pairs[bucket] = find_duplicates(charges, merchant_of, window_s=DUPLICATE_WINDOW_S, within_tills=True)
        alerts = lookups.alert_events(conn)
        wanted = {(e[0], e[2]) for e in alerts if e[2] is not None}  # the fixes' and reversals' transactions
        kept = {k: self._terminals[k[0]].by_id.get(k[1]) for k in wanted if k[0] in self._terminals}
        originals = [t for t in kept.values() if t is not None]
        missing = sorted(k for k in wanted if kept.get(k) is None)  # older than the day: read them
        if missing:
            originals += report.transactions(lookups.transaction_events_of(conn, missing))
        undos = [t for part in self._terminals.values() for t in part.undos]
        duplicates = overview.open_pairs([d for found in self._pairs.values() for d in found], undos, self.zone)
        forwarded = lookups.offline_declined(conn)
        declined = offline.declined(report.transactions(forwarded["events"]), forwarded["declined_at"],
                                    forwarded["seen"])
        unsent = lookups.offline_never_sent(conn)
        never_sent = offline.never_sent(report.transactions(unsent["events"]), unsent["manual"])
        switched = [{"terminal": t, "since": at, "operator": operator, "role": role}
                    for t, at, operator, role in lookups.switched_offline(conn) if t in merchant_of]
        self._shared = {"declined": declined, "never_sent": never_sent, "switched": switched, "fixes": overview.open_fixes(alerts, originals),
                        "reversals": overview.manual_reversals(alerts, originals), "duplicates": duplicates}

    def _file_charges(self, terminal: str, txns: list[report.Transaction],
                      merchant: str | None) -> set[tuple[str, int]]:
        """Keep the terminal's charges by (merchant, amount); the buckets it left or entered."""
        touched = self._buckets_of.pop(terminal, set())
        for bucket in touched:
            self._charges[bucket].pop(terminal, None)
        if merchant is not None:
            mine: set[tuple[str, int]] = set()
            for t in txns:
                if t.kind in CHARGE_KINDS:
                    bucket = (merchant, t.amount)
                    self._charges.setdefault(bucket, {}).setdefault(terminal, []).append(t)
                    mine.add(bucket)
            self._buckets_of[terminal] = mine
            touched = touched | mine
        return touched
