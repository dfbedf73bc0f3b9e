"""Retention: a terminal's oldest events removed once nothing needs them — `posoffice retention --days N`.

An event may go when it was made more than N days ago and, if it belongs to a financial transaction (one a
statement lists: `report.SETTLED_KINDS`), that transaction's batch was settled and a reconciliation run (not a
refused one) of the terminal's merchant for that settlement date lists the terminal.  Events of other
transactions (pre-authorizations, balance inquiries) and events of no transaction go by age alone.

Only a prefix of a terminal's chain is removed: the walk stops at the first event that must stay, so a chain
never gets a hole.  The last event removed stays as the chain's anchor (`chain_anchors`: its seq, content hash
and chain hash); `verify` walks from it and the collector acknowledges an event before it as one it held,
when its content still matches its content hash.  A terminal with an open chain problem is left alone (the
evidence stays), and the prefix is re-walked before it is removed, so an anchor is never taken from a chain
that does not verify.  Nothing is removed without `apply`; each run that removed something is kept in
`retention_runs`.  With an archive directory the events removed are first written there, one private JSON
Lines file per terminal and run, as the terminal shipped them (no card data: they are the journal's events).
"""

from __future__ import annotations

from dataclasses import dataclass
import json
from datetime import date, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import psycopg

from agent.atomicfile import PrivateDirectory
from agent.errors import PosagentError
from posoffice import report, rewalk, store
from posoffice.errors import OfficeError

#: the longest retention asked for, in days (ten years)
MAX_DAYS = 3650


@dataclass(frozen=True)
class Plan:
    """What retention removes of one terminal's chain: events `first`..`through` (none when through < first),
    and why the walk stopped at `kept_from` (None: it reached the end of what the office holds)."""

    terminal: str
    first: int
    through: int
    kept_from: int | None
    why: str

    @property
    def count(self) -> int:
        return max(0, self.through - self.first + 1)

    def as_dict(self) -> dict[str, Any]:
        return {"terminal": self.terminal, "first": self.first, "through": self.through, "events": self.count,
                "kept_from": self.kept_from, "why": self.why}


def plan_chain(terminal: str, events: Iterable[tuple[int, float, int | None]], batches: Mapping[int, tuple[int, str | None]],
               reconciled: set[str], cutoff: float, *, first: int, days: int) -> Plan:
    """`events`: (seq, at, txn_id) from `first` on, in chain order; `batches`: txn id → (batch, the local day it was
    settled, None while open) of the terminal's financial transactions; `reconciled`: the settlement days
    (YYYYMMDD) a reconciliation run covered for this terminal.  Pure."""
    through = first - 1
    for seq, at, txn_id in events:
        why = None
        if at >= cutoff:
            why = f"event {seq} was made less than {days} days ago"
        elif txn_id is not None and txn_id in batches:
            batch, settled_on = batches[txn_id]
            if settled_on is None:
                why = f"event {seq} belongs to batch {batch:06d}, which is not settled"
            elif settled_on not in reconciled:
                why = (f"event {seq} belongs to batch {batch:06d}, settled on {settled_on}, which no "
                       "reconciliation run covers")
        if why is not None:
            return Plan(terminal, first, through, seq, why)
        through = seq
    return Plan(terminal, first, through, None, "every event the office holds may go")


def cutoff_of(days: int, now: datetime | None = None) -> datetime:
    if not 0 <= days <= MAX_DAYS:
        raise OfficeError(f"--days {days}: expected 0 to {MAX_DAYS}")
    return (now or datetime.now(timezone.utc)) - timedelta(days=days)


def plan(conn: psycopg.Connection, days: int, zone: tzinfo | None, *, cutoff: datetime) -> list[Plan]:
    """Each registered terminal's plan (read only)."""
    plans = []
    for terminal, merchant in sorted(store.merchants_of_terminals(conn).items()):
        anchor = conn.execute("SELECT seq FROM chain_anchors WHERE terminal = %s", (terminal,)).fetchone()
        first = (anchor[0] if anchor else 0) + 1
        problem = conn.execute("SELECT seq, what FROM chain_problems WHERE terminal = %s AND resolved_at IS NULL "
                               "ORDER BY seq LIMIT 1", (terminal,)).fetchone()
        if problem is not None:
            plans.append(Plan(terminal, first, first - 1, first, f"an open chain problem ({problem[1]} at event "
                                                                 f"{problem[0]}): nothing goes until it is looked at"))
            continue
        day_of = report.DayOf(zone)
        batches = {t.txn_id: (t.batch, None if t.settled_at is None else day_of(t.settled_at))
                   for t in report.transactions_of_rows(store.transaction_rows(conn, [terminal]))}
        plans.append(plan_chain(terminal, _events(conn, terminal, first), batches,
                                _reconciled_days(conn, terminal, merchant), cutoff.timestamp(), first=first,
                                days=days))
    return plans


def _events(conn: psycopg.Connection, terminal: str, first: int) -> Iterator[tuple[int, float, int | None]]:
    with conn.cursor(name="office_retention") as cur:  # server-side: a long chain is read in pieces
        cur.itersize = 5000
        cur.execute("SELECT seq, at, txn_id FROM events WHERE terminal = %s AND seq >= %s ORDER BY seq",
                    (terminal, first))
        yield from cur


def _reconciled_days(conn: psycopg.Connection, terminal: str, merchant: str) -> set[str]:
    rows = conn.execute("SELECT DISTINCT settlement_date FROM reconciliations WHERE status <> 'refused' AND "
                        "merchant_id = %s AND settlement_date IS NOT NULL AND report->'terminals' @> "
                        "jsonb_build_array(jsonb_build_object('terminal_id', %s::text))", (merchant, terminal))
    return {d.strftime("%Y%m%d") for (d,) in rows if isinstance(d, date)}


def archive_name(plan: Plan) -> str:
    return f"events-{plan.terminal}-{plan.first:09d}-{plan.through:09d}.jsonl"


def _archive(conn: psycopg.Connection, plan: Plan, directory: PrivateDirectory) -> None:
    """The events about to go, one JSON line each as the terminal shipped them (posoffice/wire.py): the journal's
    hash functions re-walk them from the anchor before them to the anchor they leave."""
    lines = [json.dumps(dict(zip(_WIRE_COLUMNS, row)), ensure_ascii=False) for row in conn.execute(
        f"SELECT {', '.join(_STORED_COLUMNS)} FROM events WHERE terminal = %s AND seq BETWEEN %s AND %s ORDER BY seq",
        (plan.terminal, plan.first, plan.through))]
    try:
        # the same name holds the same events: a run that stopped after writing it (nothing removed) writes it again
        directory.write(archive_name(plan), ("\n".join(lines) + "\n").encode("utf-8"), force=True)
    except PosagentError as exc:
        raise OfficeError(f"archive: {exc}; nothing of terminal {plan.terminal} was removed") from None


_WIRE_COLUMNS = ("seq", "at", "txn_id", "kind", "operator", "role", "details", "content_hash", "hash")
_STORED_COLUMNS = ("seq", "at", "txn_id", "kind", "operator", "role", "details_text", "content_hash", "hash")


def apply(conn: psycopg.Connection, plans: list[Plan], days: int, cutoff: datetime, *,
          archive: Path | None = None) -> list[Plan]:
    """Remove what each plan says, each terminal in one transaction holding its cursor row (so the collectors
    wait for it), after re-walking the terminal's chain; returns the plans carried out (a chain that no longer
    verifies, or changed since the plan, is left alone and said so).  With `archive`, the events go first to a
    private file there (`archive_name`), written and synced before the removal commits."""
    if archive is not None:
        try:
            with PrivateDirectory.open(archive, create=True):
                pass
        except PosagentError as exc:
            raise OfficeError(f"archive: {exc}") from None
    done = []
    for p in plans:
        if p.count == 0:
            done.append(p)
            continue
        with conn.transaction():
            conn.execute("SELECT 1 FROM cursors WHERE terminal = %s FOR UPDATE", (p.terminal,))
            walked = rewalk.verify(conn, p.terminal)
            broken = [x for x in walked["problems"] if x["seq"] <= p.through + 1]
            anchor = conn.execute("SELECT seq FROM chain_anchors WHERE terminal = %s", (p.terminal,)).fetchone()
            if broken or (anchor[0] if anchor else 0) + 1 != p.first:
                why = (f"the chain does not verify (event {broken[0]['seq']}: {broken[0]['what']}): nothing removed"
                       if broken else "another retention run changed this chain meanwhile: nothing removed")
                done.append(Plan(p.terminal, p.first, p.first - 1, p.first, why))
                continue
            if archive is not None:
                with PrivateDirectory.open(archive, create=True) as directory:
                    _archive(conn, p, directory)
            last = conn.execute("SELECT content_hash, hash FROM events WHERE terminal = %s AND seq = %s",
                                (p.terminal, p.through)).fetchone()
            assert last is not None  # the walk just verified the chain through it, under the cursor's lock
            conn.execute("INSERT INTO chain_anchors (terminal, seq, content_hash, hash) VALUES (%s, %s, %s, %s) "
                         "ON CONFLICT (terminal) DO UPDATE SET seq = excluded.seq, content_hash = "
                         "excluded.content_hash, hash = excluded.hash, removed_at = now()",
                         (p.terminal, p.through, last[0], last[1]))
            conn.execute("DELETE FROM events WHERE terminal = %s AND seq BETWEEN %s AND %s",
                         (p.terminal, p.first, p.through))
        done.append(p)
    removed = sum(p.count for p in done)
    if removed:
        with conn.transaction():
            conn.execute("INSERT INTO retention_runs (days, cutoff, removed, detail) VALUES (%s, %s, %s, %s)",
                         (days, cutoff, removed, json.dumps([p.as_dict() for p in done if p.count])))
    return done
