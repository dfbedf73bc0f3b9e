"""Evidence bundles for a dispute desk: one purchase or a date range, with the hash-chain proof.

The bundle is plain JSON: the transactions (each with `card`, the masked card it was made with: a void's
or refund's is its original's), their masked messages and reversals, the events that
recorded them, and `proof.links` — ``[event id, content hash, hash]`` for every event from the first
one exported to the journal's head — so anyone can recompute the chain (`verify_bundle`) without
access to the terminal.  `render_text` prints the same bundle for people.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from agent.journal.errors import JournalError
from agent.journal.hashchain import GENESIS, verify_bundle_proof
from agent.journal.queries import Queries
from agent.journal.records import txn_from_row
from agent.journal.store import Core, Store
from agent.journal.transactions import TXN_SELECT
from agent.localtime import SECONDS, stamp

BUNDLE_FORMAT = "posagent-evidence/2"
#: formats `verify_bundle` checks: /1 is the same proof, written before a bundle named the purchase link
#: `purchase_id` / `purchase_of` (it said `chain_id` / `chain_of`)
READABLE_FORMATS = (BUNDLE_FORMAT, "posagent-evidence/1")
#: the most transactions one bundle holds (a date range larger than this is refused)
MAX_BUNDLE_TRANSACTIONS = 10_000


class Evidence(Store):
    """`export()`: transactions, messages, reversals and events with the chain's proof."""

    def __init__(self, core: Core, queries: Queries):
        super().__init__(core)
        self._queries = queries

    def export(self, *, purchase_of: int | None = None, since: float | str | None = None,
               until: float | str | None = None) -> dict[str, Any]:
        """A JSON-able evidence bundle for one purchase (`purchase_of`: any of its transactions) or a time range (`since`/`until`)."""
        if purchase_of is not None:
            txns = self._queries.purchase(purchase_of)
            scope: dict[str, Any] = {"purchase_of": purchase_of}
        else:
            lo = _when(since, 0.0)
            hi = _when(until, float("inf"), end_of_day=True)
            rows = self._conn.execute(
                TXN_SELECT + " "
                "WHERE t.created_at >= ? AND t.created_at < ? ORDER BY t.id LIMIT ?",
                (lo, hi if hi != float("inf") else 1e18, MAX_BUNDLE_TRANSACTIONS + 1)).fetchall()
            if len(rows) > MAX_BUNDLE_TRANSACTIONS:
                raise JournalError(f"more than {MAX_BUNDLE_TRANSACTIONS} transactions in that range: "
                                   "export a shorter period")
            txns = [txn_from_row(r) for r in rows]
            scope = {"since": since, "until": until}
        ids = [t.id for t in txns]
        messages, reversals, events = [], [], []
        for txn_id in ids:
            messages += self._queries.messages(txn_id)
            reversals += [dict(r) for r in self._conn.execute("SELECT * FROM reversals WHERE txn_id = ? ORDER BY id",
                                                               (txn_id,))]
            for r in self._conn.execute("SELECT * FROM events WHERE txn_id = ? ORDER BY id", (txn_id,)):
                events.append({"id": r["id"], "at": r["at"], "txn_id": r["txn_id"], "kind": r["kind"],
                               "operator": r["operator"], "role": r["role"], "details": json.loads(r["details"]),
                               "content_hash": r["content_hash"], "hash": r["hash"]})
        events.sort(key=lambda e: e["id"])
        first = events[0]["id"] if events else None
        links = []
        start_previous = GENESIS
        if first is not None:
            prev = self._conn.execute("SELECT hash FROM events WHERE id < ? ORDER BY id DESC LIMIT 1", (first,)).fetchone()
            start_previous = prev[0] if prev else GENESIS
            links = [list(r) for r in self._conn.execute(
                "SELECT id, content_hash, hash FROM events WHERE id >= ? ORDER BY id", (first,))]
        head = self._conn.execute("SELECT id, hash FROM events ORDER BY id DESC LIMIT 1").fetchone()
        cards = self._queries.cards_shown(txns)  # a void or refund shows its original's card
        return {
            "format": BUNDLE_FORMAT,
            "exported_at": self._clock(),
            "scope": scope,
            "transactions": [{**t.as_dict(), "card": cards[t.id]} for t in txns],
            "messages": messages,
            "reversals": reversals,
            "events": events,
            "proof": {"algorithm": "sha256(previous hash + sha256(canonical JSON of the event))",
                      "start_previous_hash": start_previous, "links": links,
                      "head_id": head[0] if head else None, "head_hash": head[1] if head else GENESIS},
        }


def verify_bundle(bundle: dict[str, Any]) -> str | None:
    """None when the bundle's events are intact and chain up to the recorded head, else why not."""
    if bundle.get("format") not in READABLE_FORMATS:
        return f"not a {' or '.join(READABLE_FORMATS)} bundle"
    return verify_bundle_proof(bundle["proof"], bundle["events"])


def _when(value: float | str | None, default: float, *, end_of_day: bool = False) -> float:
    if value is None:
        return default
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    try:
        day = dt.date.fromisoformat(str(value))
    except ValueError:
        raise JournalError(f"expected a date YYYY-MM-DD, not {value!r}") from None
    if end_of_day:
        day += dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time()).astimezone().timestamp()


def _stamp(epoch: float | None) -> str:
    return stamp(epoch, f"{SECONDS} %z")


def money(amount: int, exponent: int = 2) -> str:
    """Minor units to decimal text, only at the edge: 12000 -> '120.00'."""
    sign = "-" if amount < 0 else ""
    whole, part = divmod(abs(amount), 10 ** exponent)
    return f"{sign}{whole}.{part:0{exponent}d}" if exponent else f"{sign}{whole}"


def render_text(bundle: dict[str, Any]) -> str:
    """A printable rendering of an evidence bundle (same facts as the JSON, for people)."""
    check = verify_bundle(bundle)
    lines = ["POSAGENT TRANSACTION EVIDENCE", f"exported   {_stamp(bundle['exported_at'])}",
             f"scope      {json.dumps(bundle['scope'], sort_keys=True)}",
             f"proof      {'hash chain intact' if check is None else 'BROKEN: ' + check}",
             f"head       event {bundle['proof']['head_id']} {bundle['proof']['head_hash']}", ""]
    for t in bundle["transactions"]:
        lines.append(f"#{t['id']} {t['kind'].upper()} {money(t['amount'])} {t['currency']}  state {t['state']}")
        lines.append(f"    time {_stamp(t['created_at'])}  trace {t['trace']:06d}  batch {t['batch']:06d} "
                     f"({t['batch_state']})")
        lines.append(f"    card {t.get('card') or t['pan_masked'] or '-'}  entry {t['entry_mode'] or '-'}  rrn {t['rrn'] or '-'}  "
                     f"auth {t['auth_code'] or '-'}  response {t['response_code'] or '-'}")
        purchase = t.get("purchase_id", t.get("chain_id"))  # "chain_id": a bundle exported before the rename
        links = [f"original #{t['original_id']}" if t["original_id"] else "",
                 f"purchase #{purchase}" if purchase else ""]
        lines.append(f"    operator {t['operator']} ({t['role']})  {'  '.join(x for x in links if x)}".rstrip())
    lines.append("")
    lines.append("EVENTS")
    for e in bundle["events"]:
        detail = {k: v for k, v in e["details"].items() if k != "rows"}
        lines.append(f"  {e['id']:>8} {_stamp(e['at'])} {e['kind']:<18} txn {e['txn_id']} "
                     f"{e['operator'] or '-'}/{e['role'] or '-'} {json.dumps(detail, sort_keys=True, ensure_ascii=False)}")
        lines.append(f"           hash {e['hash']}")
    lines.append("")
    lines.append("MESSAGES (sensitive fields masked)")
    for m in bundle["messages"]:
        lines.append(f"  {_stamp(m['at'])} {m['direction']:<8} {json.dumps(m['body'], sort_keys=True, ensure_ascii=False)}")
    return "\n".join(lines) + "\n"
