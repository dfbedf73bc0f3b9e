"""The collector's and the CLI's SQL: terminals and their secrets, taking in a batch, the listings (the re-walk of
the stored chains is `posoffice.rewalk`, the web pages' reads `posoffice.lookups`, users and sessions
`posoffice.access`).

`ingest` runs in one transaction that first locks the terminal's cursor row (`FOR UPDATE`), so two
collectors taking batches for the same terminal take turns and each event is stored exactly once; a
collector that dies mid-batch leaves nothing (PostgreSQL rolls its transaction back) and the terminal
sends the batch again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypedDict

import psycopg

from agent.auth import hash_password, verify_password
from agent.journal.hashchain import GENESIS
from agent.journal.scrub import scrub_message
from posoffice.chain import Cursor, Problem, Verdict, check_batch
from posoffice.errors import OfficeError
from posoffice.report import EventRow
from posoffice.wire import Batch, MessageBatch, is_identifier

SECRET_BYTES = 24


# ----------------------------------------------------------------------------- terminals
def add_terminal(conn: psycopg.Connection, terminal: str, merchant: str) -> str:
    """Register a terminal; returns its new secret (shown once: only its scrypt hash is stored)."""
    for name, value in (("terminal id", terminal), ("merchant id", merchant)):
        if not is_identifier(value):
            raise OfficeError(f"{name} {value!r}: expected 1-32 letters, digits, '.', '_' or '-'")
    secret = secrets.token_urlsafe(SECRET_BYTES)
    try:
        with conn.transaction():
            conn.execute("INSERT INTO terminals (id, merchant_id, credential_hash) VALUES (%s, %s, %s)",
                         (terminal, merchant, hash_password(secret)))
            conn.execute("INSERT INTO cursors (terminal, last_hash) VALUES (%s, %s)", (terminal, GENESIS))
    except psycopg.errors.UniqueViolation:
        raise OfficeError(f"terminal {terminal} is already registered") from None
    return secret


@dataclass(frozen=True)
class Rotated:
    secret: str  # the new secret, shown once
    old_valid_until: datetime | None  # the old secret's last moment (None: refused at once)


def rotate_secret(conn: psycopg.Connection, terminal: str, grace_s: float) -> Rotated:
    """Give `terminal` a new secret.  The one it has now stays accepted until the terminal first logs in with
    the new one, or for `grace_s` seconds at most (0: refused at once); a secret older than that (a rotation
    before this one whose grace has not run out) is refused from now on."""
    if not 0 <= grace_s <= MAX_GRACE_S:
        raise OfficeError(f"grace {grace_s:g} s: expected 0 to {MAX_GRACE_S // 86400} days")
    secret = secrets.token_urlsafe(SECRET_BYTES)
    with conn.transaction():
        row = conn.execute("""
            UPDATE terminals SET
                previous_credential_hash = CASE WHEN %(grace)s > 0 AND credential_hash <> %(revoked)s
                                                THEN credential_hash END,
                previous_valid_until = CASE WHEN %(grace)s > 0 AND credential_hash <> %(revoked)s
                                            THEN now() + make_interval(secs => %(grace)s) END,
                credential_hash = %(hash)s, rotated_at = now()
            WHERE id = %(terminal)s RETURNING previous_valid_until""",
                           {"grace": grace_s, "hash": hash_password(secret), "terminal": terminal,
                            "revoked": REVOKED}).fetchone()
    if row is None:
        raise OfficeError(f"no terminal {terminal} is registered")
    return Rotated(secret, row[0])


#: the longest a rotated secret may stay accepted beside the new one
MAX_GRACE_S = 30 * 86400
#: the credential of a revoked terminal: no secret's hash, so no login matches it (`rotate_secret` ends it)
REVOKED = "revoked"


def revoke(conn: psycopg.Connection, terminal: str) -> None:
    """Refuse every login of `terminal` from now on, its newest secret and the one before alike; its events stay,
    and so do those its journal still holds (shipped again after `rotate_secret` gives it a new secret)."""
    with conn.transaction():
        row = conn.execute("UPDATE terminals SET credential_hash = %s, previous_credential_hash = NULL, "
                           "previous_valid_until = NULL, rotated_at = now() WHERE id = %s RETURNING id",
                           (REVOKED, terminal)).fetchone()
    if row is None:
        raise OfficeError(f"no terminal {terminal} is registered")


class Credentials:
    """Checks a terminal's id and secret: its newest secret, or the one before it while that is still accepted
    (`rotate_secret`).  The first login with the newest retires the one before at once.  scrypt is slow on
    purpose, so a pair that passed is remembered (as a SHA-256 of the secret, next to the stored hash it passed
    against) and checked in microseconds; a hash the database no longer holds is never consulted."""

    MAX_REMEMBERED = 4096

    def __init__(self) -> None:
        self._passed: dict[tuple[str, str], bytes] = {}

    def check(self, conn: psycopg.Connection, terminal: str, secret: str) -> bool:
        """The caller commits (the retiring of the secret before, on the newest's first use)."""
        if not is_identifier(terminal) or not secret or len(secret) > 256:
            return False
        row = conn.execute("SELECT credential_hash, previous_credential_hash, previous_valid_until > now() "
                           "FROM terminals WHERE id = %s", (terminal,)).fetchone()
        if row is None:
            return False
        newest, previous, previous_valid = row
        if self._matches(terminal, newest, secret):
            if previous is not None:
                conn.execute("UPDATE terminals SET previous_credential_hash = NULL, previous_valid_until = NULL "
                             "WHERE id = %s AND previous_credential_hash = %s", (terminal, previous))
            return True
        return bool(previous is not None and previous_valid and self._matches(terminal, previous, secret))

    def _matches(self, terminal: str, stored_hash: str, secret: str) -> bool:
        key, digest = (terminal, stored_hash), hashlib.sha256(secret.encode("utf-8")).digest()
        remembered = self._passed.get(key)
        if remembered is not None:
            return hmac.compare_digest(remembered, digest)
        if not verify_password(secret, stored_hash):
            return False
        if len(self._passed) >= self.MAX_REMEMBERED:
            self._passed.clear()
        self._passed[key] = digest
        return True


# ----------------------------------------------------------------------------- taking in a batch
@dataclass(frozen=True)
class Ingested:
    acked: int
    stored: int
    repeated: int
    problem: Problem | None


def ingest(conn: psycopg.Connection, terminal: str, batch: Batch) -> Ingested:
    """Check `batch` against the terminal's cursor and store what links, in one transaction."""
    with conn.transaction():
        row = conn.execute("SELECT last_seq, last_hash FROM cursors WHERE terminal = %s FOR UPDATE",
                           (terminal,)).fetchone()
        if row is None:
            raise OfficeError(f"terminal {terminal} has no cursor")
        cursor = Cursor(row[0], row[1])
        seqs = [e.seq for e in batch.events if e.seq <= cursor.seq]
        stored, anchor = {}, None
        if seqs:
            stored = {r[0]: (r[1], r[2]) for r in conn.execute(
                "SELECT seq, content_hash, hash FROM events WHERE terminal = %s AND seq = ANY(%s)", (terminal, seqs))}
            anchor = conn.execute("SELECT seq, content_hash, hash FROM chain_anchors WHERE terminal = %s",
                                  (terminal,)).fetchone()
            if anchor is not None:  # the last event retention removed: what the office still knows of it
                stored[anchor[0]] = (anchor[1], anchor[2])
        verdict = check_batch(cursor, stored, batch.events, retired_before=anchor[0] if anchor else 0)
        _store(conn, terminal, verdict)
        if verdict.problem is not None:
            _record_problem(conn, terminal, verdict.problem)
        # last: a writer killed before this point has stored nothing (its transaction never commits)
        conn.execute("UPDATE terminals SET last_contact = now() WHERE id = %s", (terminal,))
    return Ingested(verdict.cursor.seq, len(verdict.appended), verdict.repeats, verdict.problem)


def _store(conn: psycopg.Connection, terminal: str, verdict: Verdict) -> None:
    if verdict.appended:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO events (terminal, seq, at, kind, txn_id, operator, role, details_text, details, "
                "content_hash, hash) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s)",
                [(terminal, e.seq, e.at, e.kind, e.txn_id, e.operator, e.role, e.details, e.details,
                  e.content_hash, e.hash) for e in verdict.appended])
        # a gap the new events fill is closed: the chain now runs through it
        conn.execute("UPDATE chain_problems SET resolved_at = now() WHERE terminal = %s AND what = 'gap' "
                     "AND resolved_at IS NULL AND seq <= %s", (terminal, verdict.cursor.seq))
    conn.execute("UPDATE cursors SET last_seq = %s, last_hash = %s, updated_at = now() WHERE terminal = %s",
                 (verdict.cursor.seq, verdict.cursor.hash, terminal))


def _record_problem(conn: psycopg.Connection, terminal: str, problem: Problem) -> None:
    conn.execute("INSERT INTO chain_problems (terminal, seq, what, detail) VALUES (%s, %s, %s, %s) "
                 "ON CONFLICT (terminal, seq, what) DO UPDATE SET last_seen = now(), "
                 "times = chain_problems.times + 1, detail = excluded.detail",
                 (terminal, problem.seq, problem.what, problem.detail))


def take_messages(conn: psycopg.Connection, terminal: str, batch: MessageBatch) -> int:
    """Store a terminal's masked messages, each once (by terminal, transaction, direction and the journal's message
    id), scrubbed again by the journal's rules; returns how many were new."""
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO messages (terminal, txn_id, direction, message_id, at, reversal_id, body) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb) ON CONFLICT DO NOTHING",
            [(terminal, m.txn_id, m.direction, m.message_id, m.at, m.reversal_id,
              json.dumps(scrub_message(m.body), ensure_ascii=False)) for m in batch.messages])
        stored = cur.rowcount
        conn.execute("UPDATE terminals SET last_contact = now() WHERE id = %s", (terminal,))
    return max(0, stored)


def note_head(conn: psycopg.Connection, terminal: str, head: int | None) -> None:
    if head is not None:
        with conn.transaction():
            conn.execute("UPDATE cursors SET reported_head = %s WHERE terminal = %s", (head, terminal))


# ----------------------------------------------------------------------------- listings
class OpenProblem(TypedDict):
    """A terminal's first open chain problem, as the collector recorded it."""

    seq: int
    what: str
    detail: str | None


class TerminalRow(TypedDict):
    """One terminal of `terminals` (as `posoffice terminals --json` prints it)."""

    terminal: str
    merchant: str
    last_seq: int
    last_contact: str | None  # ISO 8601, seconds
    backlog: int | None  # None: the terminal never said how far its journal goes
    chain: str  # "ok" or "problem"
    problems: int  # open chain problems
    first_problem: OpenProblem | None
    secret: str  # "ok" or "revoked"
    old_secret_until: str | None  # ISO 8601: a rotated secret still accepted until then
    retired_through: int | None  # the last event retention removed (the chain's anchor)


def terminals(conn: psycopg.Connection) -> list[TerminalRow]:
    """Each terminal: merchant, last seq, last contact, backlog (None: unknown) and its first open problem."""
    rows = conn.execute("""
        SELECT t.id, t.merchant_id, c.last_seq, t.last_contact, c.reported_head,
               p.seq, p.what, p.detail,
               (SELECT count(*) FROM chain_problems q WHERE q.terminal = t.id AND q.resolved_at IS NULL),
               t.credential_hash = %s, t.previous_valid_until,
               (SELECT seq FROM chain_anchors a WHERE a.terminal = t.id)
        FROM terminals t JOIN cursors c ON c.terminal = t.id
        LEFT JOIN LATERAL (SELECT seq, what, detail FROM chain_problems q
                           WHERE q.terminal = t.id AND q.resolved_at IS NULL ORDER BY seq, id LIMIT 1) p ON true
        ORDER BY t.id""", (REVOKED,)).fetchall()
    return [{"terminal": r[0], "merchant": r[1], "last_seq": r[2],
             "last_contact": r[3].isoformat(timespec="seconds") if r[3] else None,
             "backlog": None if r[4] is None else max(0, r[4] - r[2]),
             "chain": "ok" if r[5] is None else "problem",
             "problems": r[8],
             "first_problem": None if r[5] is None else {"seq": r[5], "what": r[6], "detail": r[7]},
             "secret": "revoked" if r[9] else "ok",
             "old_secret_until": r[10].isoformat(timespec="seconds") if r[10] and not r[9] else None,
             "retired_through": r[11]}
            for r in rows]


def check_terminal_exists(conn: psycopg.Connection, terminal: str) -> None:
    if conn.execute("SELECT 1 FROM terminals WHERE id = %s", (terminal,)).fetchone() is None:
        raise OfficeError(f"no terminal {terminal} is registered")


# ----------------------------------------------------------------------------- a day's transaction events
#: the events that say what became of a transaction (see posoffice/report.py)
OUTCOME_KINDS = ("txn.begin", "txn.complete", "txn.fail", "txn.confirmed", "reversal.done", "reversal.handled")


def day_events(conn: psycopg.Connection, day: date, tz: str) -> list[tuple[str, int, int, str, float, Any]]:
    """(terminal, seq, txn_id, kind, at, details) of every outcome event of the transactions approved on `day`
    (in time zone `tz`), whenever each event happened, in chain order."""
    try:
        return conn.execute("""
            SELECT e.terminal, e.seq, e.txn_id, e.kind, e.at, e.details FROM events e
            WHERE e.kind = ANY(%(kinds)s) AND e.txn_id IS NOT NULL AND (e.terminal, e.txn_id) IN (
                SELECT a.terminal, a.txn_id FROM events a
                WHERE a.kind IN ('txn.complete', 'txn.confirmed') AND a.txn_id IS NOT NULL
                  AND a.details->>'state' = 'approved'
                  AND (to_timestamp(a.at) AT TIME ZONE %(tz)s)::date = %(day)s)
            ORDER BY e.terminal, e.seq""", {"kinds": list(OUTCOME_KINDS), "tz": tz, "day": day}).fetchall()
    except psycopg.errors.InvalidParameterValue:
        raise OfficeError(f"unknown time zone {tz!r} (e.g. UTC, Asia/Shanghai)") from None


# ----------------------------------------------------------------------------- reconciliation and duplicates
def merchants_of_terminals(conn: psycopg.Connection) -> dict[str, str]:
    """terminal id → merchant id, for every registered terminal."""
    return dict(conn.execute("SELECT id, merchant_id FROM terminals").fetchall())


def _transaction_values() -> str:
    """The SQL of an event row's values (posoffice.report.event_row): each field of `details` the report reads,
    as bigint or text, NULL where absent or of another JSON type.  Typed columns, not a jsonb object: decoding
    a small JSON object per event in Python was the largest part of a reconciliation."""
    from posoffice.report import TRANSACTION_FIELDS, WHOLE_FIELDS, WHOLE_LIMIT

    digits = len(str(WHOLE_LIMIT)) - 1
    values = []
    for name in TRANSACTION_FIELDS:
        if name in WHOLE_FIELDS:
            values.append(f"CASE WHEN jsonb_typeof(details->'{name}') = 'number' AND details->>'{name}' ~ "
                          f"'^-?[0-9]{{1,{digits}}}$' THEN (details->>'{name}')::bigint END")
        else:
            values.append(f"CASE WHEN jsonb_typeof(details->'{name}') = 'string' THEN details->>'{name}' END")
    return ", ".join(values)


def transaction_rows(conn: psycopg.Connection, terminals: list[str]) -> list[EventRow]:
    """The event rows (posoffice.report.event_row) of the events posoffice.report.transactions_of_rows reads, for
    `terminals`, each terminal's in chain order."""
    from posoffice.report import TRANSACTION_KINDS
    return conn.execute(f"SELECT terminal, seq, txn_id, kind, at, {_transaction_values()} FROM events "
                        "WHERE terminal = ANY(%s) AND kind = ANY(%s) ORDER BY terminal, seq",
                        (terminals, list(TRANSACTION_KINDS))).fetchall()


def backlogs(conn: psycopg.Connection, terminals: list[str]) -> dict[str, int | None]:
    """terminal → events its journal holds that the office does not (None: the terminal never said)."""
    return {r[0]: None if r[2] is None else max(0, r[2] - r[1]) for r in conn.execute(
        "SELECT terminal, last_seq, reported_head FROM cursors WHERE terminal = ANY(%s)", (terminals,))}


def record_reconciliation(conn: psycopg.Connection, run: dict[str, Any]) -> int:
    """Keep one reconciliation run (see migrations/0002_reconciliations.sql); returns its id."""
    columns = ("statement", "statement_sha256", "format", "status", "merchant_id", "settlement_date", "owed",
               "credited", "difference", "unexplained", "findings", "report", "error")
    values = [run.get(c) for c in columns]
    values[columns.index("report")] = None if run.get("report") is None else json.dumps(run["report"])
    values[columns.index("findings")] = run.get("findings") or 0
    with conn.transaction():
        row = conn.execute(f"INSERT INTO reconciliations ({', '.join(columns)}) VALUES "
                           f"({', '.join(['%s'] * len(columns))}) RETURNING id", values).fetchone()
    assert row is not None  # an INSERT … RETURNING that did not raise returns its row
    run_id: int = row[0]
    return run_id


# ----------------------------------------------------------------------------- a refund at another till
def merchant_of(conn: psycopg.Connection, terminal: str) -> str | None:
    row = conn.execute("SELECT merchant_id FROM terminals WHERE id = %s", (terminal,)).fetchone()
    return None if row is None else row[0]


def sale_rows(conn: psycopg.Connection, merchant: str, rrn: str) -> list[EventRow]:
    """The event rows (as `transaction_rows` gives them) of `merchant`'s charges answered with `rrn`,
    and of every void and refund naming one of them: by journal id on its own terminal, or by RRN on any."""
    from posoffice.report import TRANSACTION_KINDS
    return conn.execute("""
        WITH ours AS (SELECT id FROM terminals WHERE merchant_id = %(merchant)s),
        sales AS (
            SELECT e.terminal, e.txn_id FROM events e
            WHERE e.kind = 'txn.complete' AND e.details->>'rrn' = %(rrn)s AND e.txn_id IS NOT NULL
              AND e.terminal IN (SELECT id FROM ours)),
        undos AS (
            SELECT e.terminal, e.txn_id FROM events e
            WHERE e.kind = 'txn.begin' AND e.txn_id IS NOT NULL AND e.terminal IN (SELECT id FROM ours) AND (
                (e.details ? 'original' AND (e.terminal, e.details->>'original') IN
                    (SELECT terminal, txn_id::text FROM sales))
                OR (e.details ? 'original_rrn' AND e.details->>'original_rrn' = %(rrn)s))),
        wanted AS (SELECT terminal, txn_id FROM sales UNION SELECT terminal, txn_id FROM undos)
        SELECT e.terminal, e.seq, e.txn_id, e.kind, e.at, """ + _transaction_values() + """ FROM events e
        JOIN wanted w ON w.terminal = e.terminal AND w.txn_id = e.txn_id
        WHERE e.kind = ANY(%(kinds)s) ORDER BY e.terminal, e.seq""",
                        {"merchant": merchant, "rrn": rrn, "kinds": list(TRANSACTION_KINDS)}).fetchall()
