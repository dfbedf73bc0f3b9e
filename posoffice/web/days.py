"""What the Days page shows, kept between requests: each settled batch's net, count and fees (a settled batch
never changes: a later refund is a transaction of its own day), read once per batch from its transactions;
the page adds up the last `DAYS_SHOWN` days' batches per day and terminal.  Charts and tables show the
`TOP` terminals by net, the rest as one line."""

from __future__ import annotations

import threading
import time
from datetime import tzinfo
from typing import Any

import psycopg

from agent.reconcile.fees import FeeContract
from posoffice import lookups, overview, report

DAYS_SHOWN = 31
TOP = 8
OTHERS = "…"


class DaysView:
    def __init__(self, zone: tzinfo | None, contract: FeeContract, credit_bins: tuple[str, ...]):
        self.zone, self.contract, self.credit_bins = zone, contract, credit_bins
        self._lock = threading.Lock()
        self._batches: dict[tuple[str, Any], dict[str, dict[str, overview.TerminalDayTotals]]] = {}

    def page(self, conn: psycopg.Connection) -> dict[str, Any]:
        settled = lookups.settlements(conn, time.time() - DAYS_SHOWN * 86_400)
        with self._lock:
            missing = [(t, b) for t, b in settled if (t, b) not in self._batches]
            if missing:
                keys = lookups.batch_keys(conn, missing)
                groups: dict[tuple[str, Any], list[report.Transaction]] = {k: [] for k in missing}
                for txn in report.transactions(lookups.transaction_events_of(conn, keys)):
                    groups.setdefault((txn.terminal, txn.batch), []).append(txn)
                for key, txns in groups.items():
                    self._batches[key] = overview.settled_days(txns, self.zone, self.contract, self.credit_bins)
            days: dict[str, dict[str, overview.TerminalDayTotals]] = {}
            for key in settled:
                for day, per in self._batches.get(key, {}).items():
                    for terminal, cell in per.items():
                        total = days.setdefault(day, {}).setdefault(terminal, overview.TerminalDayTotals())
                        total.net += cell.net
                        total.fees += cell.fees
                        total.count += cell.count
        return {"days": {d: days[d] for d in sorted(days)}}


def top_terminals(days: dict[str, dict[str, overview.TerminalDayTotals]]) -> list[str]:
    """The `TOP` terminals by net over `days`, and `OTHERS` when there are more."""
    net: dict[str, int] = {}
    for per in days.values():
        for terminal, cell in per.items():
            net[terminal] = net.get(terminal, 0) + cell.net
    ranked = sorted(net, key=lambda t: (-net[t], t))
    return sorted(ranked[:TOP]) + ([OTHERS] if len(ranked) > TOP else [])


def folded(per: dict[str, overview.TerminalDayTotals], shown: list[str]) -> dict[str, overview.TerminalDayTotals]:
    """One day's cells for the `shown` terminals, the others added into `OTHERS`."""
    out: dict[str, overview.TerminalDayTotals] = {}
    for terminal, cell in sorted(per.items()):
        name = terminal if terminal in shown else OTHERS
        total = out.setdefault(name, overview.TerminalDayTotals())
        total.net += cell.net
        total.fees += cell.fees
        total.count += cell.count
    return out
