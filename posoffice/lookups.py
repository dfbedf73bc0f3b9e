"""The SQL the web pages read with: finding transactions, a purchase's events and their hash-chain proof, the alert
events, reconciliation runs and their claim documents, and the number the Today page polls.  (The collector's
and the CLI's SQL is `posoffice.store`'s.)"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, TypedDict

import psycopg

from agent.journal.offline import NEEDS_MANUAL
from posoffice.offline import MANUAL_KINDS, ManualEvent
from posoffice.overview import ALERT_KINDS
from posoffice.report import SETTLED_KINDS, TRANSACTION_FIELDS, TRANSACTION_KINDS, Event

#: the most transactions one search lists
SEARCH_LIMIT = 100
#: the most links a purchase's proof carries to the office's head (a longer chain is proved up to this many)
MAX_PROOF_LINKS = 200_000


@dataclass(frozen=True)
class Search:
    """What a person searches by; None: any.  `since`/`until`: epoch seconds (a day in the office's zone)."""

    rrn: str | None = None
    trace: int | None = None
    terminal: str | None = None
    amount: int | None = None
    last4: str | None = None
    since: float | None = None
    until: float | None = None

    @property
    def empty(self) -> bool:
        return all(v is None for v in (self.rrn, self.trace, self.terminal, self.amount, self.last4, self.since))


def search(conn: psycopg.Connection, s: Search, limit: int = SEARCH_LIMIT) -> list[tuple[str, int]]:
    """(terminal, txn id) of the financial transactions that match every given criterion, newest first.  Only the
    given criteria are in the query, so the planner can start from an index (the RRN's, the terminal's)."""
    where = ["b.kind = 'txn.begin'", "b.txn_id IS NOT NULL", "b.details->>'kind' = ANY(%(kinds)s)"]
    if s.terminal is not None:
        where.append("b.terminal = %(terminal)s")
    if s.trace is not None:
        where.append("b.details->'trace' = to_jsonb(%(trace)s::bigint)")
    if s.amount is not None:
        where.append("b.details->'amount' = to_jsonb(%(amount)s::bigint)")
    if s.last4 is not None:
        where.append("right(b.details->>'card', 4) = %(last4)s")
    if s.since is not None:
        where.append("b.at >= %(since)s AND b.at < %(until)s")
    source = "events b"
    if s.rrn is not None:  # from the RRN's index to the transaction's txn.begin
        source = ("(SELECT DISTINCT terminal, txn_id FROM events WHERE kind = 'txn.complete' "
                  "AND details->>'rrn' = %(rrn)s) r JOIN events b ON b.terminal = r.terminal AND b.txn_id = r.txn_id")
    rows = conn.execute(f"SELECT b.terminal, b.txn_id FROM {source} WHERE {' AND '.join(where)} "
                        "ORDER BY b.at DESC LIMIT %(limit)s",
                        {"kinds": list(SETTLED_KINDS), "terminal": s.terminal, "trace": s.trace, "amount": s.amount,
                         "last4": s.last4, "since": s.since, "until": s.until, "rrn": s.rrn, "limit": limit}).fetchall()
    return [(r[0], r[1]) for r in rows]


def transaction_events_of(conn: psycopg.Connection, keys: list[tuple[str, int]]) -> list[Event]:
    """The events `posoffice.report.transactions` reads, for the transactions `keys` (with their batches'
    settlements), each terminal's in chain order."""
    if not keys:
        return []
    fields = ", ".join(f"'{name}', e.details->'{name}'" for name in TRANSACTION_FIELDS)
    terminals = [k[0] for k in keys]
    ids = [k[1] for k in keys]
    return conn.execute(f"""
        WITH wanted AS (SELECT * FROM unnest(%(terminals)s::text[], %(ids)s::bigint[]) AS w(terminal, txn_id)),
        batches AS (SELECT DISTINCT e.terminal, e.details->'batch' AS batch FROM events e JOIN wanted w
                    ON w.terminal = e.terminal AND w.txn_id = e.txn_id WHERE e.kind = 'txn.begin')
        SELECT e.terminal, e.seq, e.txn_id, e.kind, e.at, jsonb_strip_nulls(jsonb_build_object({fields}))
        FROM events e JOIN wanted w ON w.terminal = e.terminal AND w.txn_id = e.txn_id
        WHERE e.kind = ANY(%(kinds)s)
        UNION ALL
        SELECT e.terminal, e.seq, e.txn_id, e.kind, e.at, jsonb_strip_nulls(jsonb_build_object({fields}))
        FROM events e JOIN batches b ON b.terminal = e.terminal AND e.details->'batch' = b.batch
        WHERE e.kind = 'settlement.finish'
        ORDER BY 1, 2""", {"terminals": terminals, "ids": ids, "kinds": list(TRANSACTION_KINDS)}).fetchall()


def purchase_keys(conn: psycopg.Connection, terminal: str, txn_id: int) -> list[tuple[str, int]]:
    """The transaction, the one it names (on its own till) and every void, refund or correction naming either,
    on its own till by journal id or on any till of the merchant by RRN."""
    row = conn.execute("SELECT details->'original' FROM events WHERE terminal = %s AND txn_id = %s "
                       "AND kind = 'txn.begin'", (terminal, txn_id)).fetchone()
    if row is None:
        return []
    root = row[0] if isinstance(row[0], int) else txn_id
    rrn = conn.execute("SELECT details->>'rrn' FROM events WHERE terminal = %s AND txn_id = %s AND kind = 'txn.complete' "
                       "AND details->>'rrn' IS NOT NULL LIMIT 1", (terminal, root)).fetchone()
    found = conn.execute("""
        SELECT terminal, txn_id, at FROM events WHERE kind = 'txn.begin' AND terminal = %(t)s AND txn_id = %(root)s
        UNION
        SELECT terminal, txn_id, at FROM events WHERE kind = 'txn.begin' AND terminal = %(t)s
          AND details ? 'original' AND details->>'original' = %(root_text)s
        UNION
        SELECT terminal, txn_id, at FROM events WHERE kind = 'txn.begin' AND details ? 'original_rrn'
          AND details->>'original_rrn' = %(rrn)s
          AND terminal IN (SELECT id FROM terminals WHERE merchant_id = (SELECT merchant_id FROM terminals WHERE id = %(t)s))
        ORDER BY at""", {"t": terminal, "root": root, "root_text": str(root), "rrn": rrn[0] if rrn else None}).fetchall()
    return [(r[0], r[1]) for r in found]


def full_events(conn: psycopg.Connection, terminal: str, txn_ids: list[int]) -> list[dict[str, Any]]:
    """Every event of these transactions of one terminal (a fix's too: they name its original), as the
    journal's evidence bundle lists events."""
    rows = conn.execute("SELECT seq, at, txn_id, kind, operator, role, details_text, content_hash, hash FROM events "
                        "WHERE terminal = %s AND txn_id = ANY(%s) ORDER BY seq", (terminal, txn_ids)).fetchall()
    return [{"id": r[0], "at": r[1], "txn_id": r[2], "kind": r[3], "operator": r[4], "role": r[5],
             "details": json.loads(r[6]), "content_hash": r[7], "hash": r[8]} for r in rows]


def messages_of(conn: psycopg.Connection, keys: list[tuple[str, int]]) -> dict[tuple[str, int], list[dict[str, Any]]]:
    """The masked ISO 8583 messages the terminals shipped of these transactions, by (terminal, txn id), in the
    order the journal stored them, as the journal's evidence bundle lists messages."""
    found: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for till in sorted({k[0] for k in keys}):
        rows = conn.execute(
            "SELECT txn_id, message_id, direction, at, reversal_id, body FROM messages WHERE terminal = %s "
            "AND txn_id = ANY(%s) ORDER BY txn_id, message_id, direction DESC",
            (till, [k[1] for k in keys if k[0] == till])).fetchall()
        for r in rows:
            found.setdefault((till, r[0]), []).append({"txn_id": r[0], "message_id": r[1], "direction": r[2],
                                                       "at": r[3], "reversal_id": r[4], "body": r[5]})
    return found


def proof(conn: psycopg.Connection, terminal: str, first_seq: int) -> dict[str, Any]:
    """The hash chain from `first_seq` to the last event the office verified for the terminal, as the journal's
    bundle carries it (`agent.journal.hashchain.verify_bundle_proof` checks it)."""
    from agent.journal.hashchain import GENESIS
    prev = conn.execute("SELECT hash FROM events WHERE terminal = %s AND seq = %s", (terminal, first_seq - 1)).fetchone()
    links = [list(r) for r in conn.execute(
        "SELECT seq, content_hash, hash FROM events WHERE terminal = %s AND seq >= %s ORDER BY seq LIMIT %s",
        (terminal, first_seq, MAX_PROOF_LINKS))]
    head = links[-1] if links else [first_seq - 1, None, prev[0] if prev else GENESIS]
    return {"algorithm": "sha256(previous hash + sha256(canonical JSON of the event))",
            "start_previous_hash": prev[0] if prev else GENESIS, "links": links,
            "head_id": head[0], "head_hash": head[2]}


def today_keys(conn: psycopg.Connection, since: float,
               terminals: list[str]) -> tuple[list[tuple[str, int]], dict[str, float]]:
    """(terminal, txn id) of every transaction of `terminals` in a batch not settled yet or begun since `since`; and
    each one's last settlement time.  A terminal's open batches are those from the `next` its last
    `settlement.finish` names."""
    last = conn.execute("""
        SELECT t.id, s.at, coalesce(s.details->'next', '0'::jsonb) FROM terminals t
        LEFT JOIN LATERAL (SELECT at, details FROM events e WHERE e.terminal = t.id AND e.kind = 'settlement.finish'
                           ORDER BY e.seq DESC LIMIT 1) s ON true WHERE t.id = ANY(%s)""", (terminals,)).fetchall()
    keys = conn.execute("""
        SELECT b.terminal, b.txn_id FROM unnest(%(ids)s::text[], %(open)s::jsonb[]) AS o(terminal, open_from)
        JOIN events b ON b.terminal = o.terminal AND b.kind = 'txn.begin' AND b.details->'batch' >= o.open_from
        WHERE b.txn_id IS NOT NULL
        UNION
        SELECT b.terminal, b.txn_id FROM events b WHERE b.kind = 'txn.begin' AND b.at >= %(since)s
          AND b.txn_id IS NOT NULL AND b.terminal = ANY(%(ids)s)""",
                        {"ids": [r[0] for r in last], "open": [json.dumps(r[2]) for r in last],
                         "since": since}).fetchall()
    return [(k[0], k[1]) for k in keys], {r[0]: r[1] for r in last if r[1] is not None}


def settlements(conn: psycopg.Connection, since: float) -> list[tuple[str, Any]]:
    """(terminal, batch) of every batch whose settlement finished since `since` (the batch as its events say it)."""
    return [(r[0], r[1]) for r in conn.execute(
        "SELECT terminal, details->'batch' FROM events WHERE kind = 'settlement.finish' AND at >= %s "
        "ORDER BY terminal, seq", (since,))]


def batch_keys(conn: psycopg.Connection, batches: list[tuple[str, Any]]) -> list[tuple[str, int]]:
    """(terminal, txn id) of the transactions begun in these (terminal, batch) batches."""
    rows = conn.execute("""
        SELECT b.terminal, b.txn_id FROM unnest(%s::text[], %s::jsonb[]) AS w(terminal, batch)
        JOIN events b ON b.terminal = w.terminal AND b.kind = 'txn.begin' AND b.details->'batch' = w.batch
        WHERE b.txn_id IS NOT NULL""", ([t for t, _ in batches], [json.dumps(b) for _, b in batches])).fetchall()
    return [(r[0], r[1]) for r in rows]


def contact(conn: psycopg.Connection) -> str:
    """Changes whenever a terminal is heard from (a batch, even one the office already held)."""
    row = conn.execute("SELECT coalesce(max(last_contact)::text, '') FROM terminals").fetchone()
    assert row is not None  # an aggregate without GROUP BY returns one row
    contacted: str = row[0]
    return contacted


#: the events of `ALERT_KINDS`, spelled out so that the planner matches their partial index (migration 0011)
ALERT_EVENTS_SQL = ("SELECT terminal, seq, txn_id, kind, at, details FROM events WHERE kind IN ("
                    + ", ".join(f"'{k}'" for k in ALERT_KINDS) + ") AND (%(t)s::text IS NULL OR terminal = %(t)s) "
                    "ORDER BY terminal, seq")


def alert_events(conn: psycopg.Connection, terminal: str | None = None) -> list[Event]:
    """(terminal, seq, txn_id, kind, at, details) of the events `posoffice.overview` reads alerts from (of one
    terminal, or all), on their partial index."""
    return conn.execute(ALERT_EVENTS_SQL, {"t": terminal}).fetchall()


def switched_offline(conn: psycopg.Connection) -> list[tuple[str, float, str | None, str | None]]:
    """(terminal, since, operator, role) of each terminal a supervisor switched offline by hand and has not
    switched back: its last `offline.switched` event says `offline` true (migration 0009's partial index)."""
    rows = conn.execute("SELECT DISTINCT ON (terminal) terminal, at, operator, role, details->'offline' FROM events "
                        "WHERE kind = 'offline.switched' ORDER BY terminal, seq DESC").fetchall()
    return [(r[0], r[1], r[2], r[3]) for r in rows if r[4] is True]


class OfflineDeclined(TypedDict):
    """What `posoffice.offline.declined` reads (`offline_declined`)."""

    events: list[Event]  # the declined sales' events, as `transaction_events_of` gives them
    declined_at: dict[tuple[str, int], float]  # (terminal, txn id) → when the bank's decline came
    seen: list[tuple[str, int, float, str | None, str | None]]  # acknowledgements: terminal, txn id, at, operator, role


def offline_declined(conn: psycopg.Connection, terminals: list[str] | None = None) -> OfflineDeclined:
    """What `posoffice.offline.declined` reads, of every terminal or of `terminals`: the events of the sales stored
    offline that the bank declined when they were forwarded (`events`, as `transaction_events_of` gives them),
    when each decline came (`declined_at`) and their acknowledgements (`seen`: terminal, txn id, at, operator,
    role) — from the forwarding tries on their partial index (migration 0008), few however many events there are."""
    rows = conn.execute("""
        WITH forwarded AS (SELECT DISTINCT terminal, txn_id FROM events WHERE kind = 'advice.attempt'
                           AND txn_id IS NOT NULL AND (%(t)s::text[] IS NULL OR terminal = ANY(%(t)s)))
        SELECT c.terminal, c.txn_id, max(c.at) FROM forwarded f
        JOIN events c ON c.terminal = f.terminal AND c.txn_id = f.txn_id AND c.kind = 'txn.complete'
        WHERE c.details->>'state' = 'declined' GROUP BY 1, 2""", {"t": terminals}).fetchall()
    keys = [(r[0], r[1]) for r in rows]
    seen = conn.execute("""
        SELECT terminal, txn_id, at, operator, role FROM events WHERE kind = 'offline.declined_seen'
        AND txn_id IS NOT NULL AND (terminal, txn_id) IN (SELECT * FROM unnest(%s::text[], %s::bigint[]))""",
                        ([k[0] for k in keys], [k[1] for k in keys])).fetchall() if keys else []
    return {"events": transaction_events_of(conn, keys), "declined_at": {(r[0], r[1]): r[2] for r in rows},
            "seen": [tuple(r) for r in seen]}


#: the needs-manual and handled events of every terminal (%(t)s NULL) or of some, on migration 0010's partial index
NEVER_SENT_SQL = f"""
    SELECT terminal, txn_id, kind, at, operator, role, details FROM events
    WHERE kind IN ({", ".join(f"'{k}'" for k in MANUAL_KINDS)}) AND txn_id IS NOT NULL
    AND (%(t)s::text[] IS NULL OR terminal = ANY(%(t)s)) ORDER BY terminal, seq"""


class OfflineNeverSent(TypedDict):
    """What `posoffice.offline.never_sent` reads (`offline_never_sent`)."""

    events: list[Event]  # the sales' events, as `transaction_events_of` gives them
    manual: list[ManualEvent]  # their needs-manual and handled events, each terminal's in chain order


def offline_never_sent(conn: psycopg.Connection, terminals: list[str] | None = None) -> OfflineNeverSent:
    """What `posoffice.offline.never_sent` reads, of every terminal or of `terminals`: the `advice.needs_manual` and
    `advice.handled` events (`manual`: terminal, txn id, kind, at, operator, role, details) on their partial index
    (migration 0010), and the events of the sales they name (`events`)."""
    rows = conn.execute(NEVER_SENT_SQL, {"t": terminals}).fetchall()
    manual: list[ManualEvent] = [(r[0], r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows]
    keys = sorted({(m[0], m[1]) for m in manual if m[2] == NEEDS_MANUAL})
    return {"events": transaction_events_of(conn, keys), "manual": manual}


def version(conn: psycopg.Connection) -> str:
    """Changes whenever a terminal ships an event, a chain problem is found or a run is kept: what Today derives
    from the events is computed again only then (its last contacts are read on every request)."""
    row = conn.execute("SELECT (SELECT coalesce(sum(last_seq), 0) FROM cursors), "
                       "(SELECT count(*) FROM chain_problems WHERE resolved_at IS NULL), "
                       "(SELECT coalesce(max(id), 0) FROM reconciliations), "
                       "(SELECT count(*) FROM terminals)").fetchone()
    assert row is not None  # a SELECT without FROM returns one row
    return "-".join(str(v) for v in row)


# ----------------------------------------------------------------------------- reconciliation runs
RUN_COLUMNS = ("id", "run_at", "statement", "statement_sha256", "format", "status", "merchant_id", "settlement_date",
               "owed", "credited", "difference", "unexplained", "findings", "error")


def runs(conn: psycopg.Connection, limit: int = 50) -> list[dict[str, Any]]:
    rows = conn.execute(f"SELECT {', '.join(RUN_COLUMNS)} FROM reconciliations ORDER BY id DESC LIMIT %s",
                        (limit,)).fetchall()
    return [dict(zip(RUN_COLUMNS, r)) for r in rows]


def run(conn: psycopg.Connection, run_id: int) -> dict[str, Any] | None:
    row = conn.execute(f"SELECT {', '.join(RUN_COLUMNS)}, report FROM reconciliations WHERE id = %s",
                       (run_id,)).fetchone()
    if row is None:
        return None
    found = dict(zip(RUN_COLUMNS, row[:-1]))
    found["report"] = row[-1]
    found["documents"] = [r[0] for r in conn.execute("SELECT name FROM claim_documents WHERE run_id = %s ORDER BY name",
                                                     (run_id,))]
    return found


def newest_runs_per_day(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """The newest run that read its statement, per merchant and settlement date."""
    rows = conn.execute(f"""SELECT DISTINCT ON (merchant_id, settlement_date) {', '.join(RUN_COLUMNS)}
                            FROM reconciliations WHERE status <> 'refused' AND settlement_date IS NOT NULL
                            ORDER BY merchant_id, settlement_date, id DESC""").fetchall()
    return [dict(zip(RUN_COLUMNS, r)) for r in rows]


def keep_documents(conn: psycopg.Connection, run_id: int, documents: dict[str, bytes]) -> None:
    with conn.transaction():
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO claim_documents (run_id, name, content) VALUES (%s, %s, %s)",
                            [(run_id, name, data) for name, data in documents.items()])


def document(conn: psycopg.Connection, run_id: int, name: str) -> bytes | None:
    row = conn.execute("SELECT content FROM claim_documents WHERE run_id = %s AND name = %s", (run_id, name)).fetchone()
    return None if row is None else bytes(row[0])
