"""What the Today page derives from the events, kept between requests and brought up to date per terminal.

Each terminal's part — the transactions of its open batches and of the last day (`lookups.today_keys`), its
open batch's totals per payment type, when it last settled — is derived again only when that terminal's cursor
moved (it shipped events).  What spans terminals — duplicates within and across tills, open fixes, reversals
needing manual handling — is derived again from the kept transactions whenever any terminal moved.  The rows
read on every request (last contact, backlog, chain state) come from `store.terminals`.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from datetime import tzinfo
from typing import Any

import psycopg

from posoffice import lookups, overview, report, store

#: Today reads the open batches' transactions and those begun in the last day (its duplicates and fixes)
HORIZON_S = 86_400
DUPLICATE_WINDOW_S = 300


@dataclasses.dataclass
class _Terminal:
    seq: int
    txns: list[report.Transaction]
    row: overview.TerminalToday


class TodayView:
    def __init__(self, zone: tzinfo | None):
        self.zone = zone
        self._lock = threading.Lock()
        self._terminals: dict[str, _Terminal] = {}
        self._version: str | None = None
        self._shared: dict[str, Any] = {}

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
        return {"terminals": terminals, **shared, "problems": [r for r in rows if r["chain"] != "ok"],
                "version": f"{version}-{lookups.contact(conn)}", "payment_types": overview.PAYMENT_TYPES}

    def _refresh(self, conn: psycopg.Connection, rows: list[dict[str, Any]]) -> None:
        moved = [r for r in rows if r["terminal"] not in self._terminals
                 or self._terminals[r["terminal"]].seq != r["last_seq"]]
        if moved:
            keys, last_settled = lookups.today_keys(conn, time.time() - HORIZON_S, [r["terminal"] for r in moved])
            txns = report.transactions(lookups.transaction_events_of(conn, keys))
            for r in moved:
                mine = [t for t in txns if t.terminal == r["terminal"]]
                [row] = overview.terminals_today([r], mine, last_settled)
                self._terminals[r["terminal"]] = _Terminal(r["last_seq"], mine, row)
        for gone in set(self._terminals) - {r["terminal"] for r in rows}:
            del self._terminals[gone]
        everything = [t for part in self._terminals.values() for t in part.txns]
        alerts = lookups.alert_events(conn)
        have = {(t.terminal, t.txn_id) for t in everything}
        named = sorted({(e[0], e[2]) for e in alerts if e[2] is not None} - have)  # fixes' originals, however old
        if named:
            everything += report.transactions(lookups.transaction_events_of(conn, named))
        merchant_of = {r["terminal"]: r["merchant"] for r in rows}
        self._shared = {
            "fixes": overview.open_fixes(alerts, everything),
            "reversals": overview.manual_reversals(alerts, everything),
            "duplicates": [(d, d.fix(everything, self.zone)) for d in
                           overview.open_duplicates(everything, merchant_of, window_s=DUPLICATE_WINDOW_S,
                                                    zone=self.zone)]}
