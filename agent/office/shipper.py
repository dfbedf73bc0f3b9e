"""Ships the journal's hash-chained events to the merchant's back office (the `posoffice` collector).

The journal belongs to the daemon: the shipper only reads it, on a read-only connection (WAL lets it
read while the daemon writes), and keeps its own progress in a sidecar file next to it,
``<journal>.office-cursor`` — ``{"acked": <last event id the office acknowledged>, "hash": <its hash>}``,
replaced atomically (agent/atomicfile.py) after each acknowledged batch.  So delivery is at-least-once on
the wire: a shipper killed after the office stored a batch but before its cursor was saved sends that
batch again, and the office acknowledges the repeat without storing it twice.

One batch is at most `MAX_BATCH_EVENTS` events and `MAX_BATCH_BYTES` of JSON, in event order, posted to
the collector's ``/v1/events`` with HTTP Basic (terminal id, secret).  The office answers with the last
event id it holds for this terminal (`acked`): the cursor moves there.  A gap (the office holds less
than the cursor says, e.g. its database was restored) moves the cursor back to what the office holds; a
fork, an altered event or a broken link is the office refusing the chain, and is raised as `ShipError`
for a person to look at.  Events are sent as the journal stored them, already scrubbed of card data.  The
login, the HTTP client and its TLS are the office link's (`agent/office/link.py`).

Beside the events go the masked ISO 8583 messages of the transactions they name (`ship_messages`), posted to
the collector's ``/v1/messages`` once the office holds those events: each as the journal stored it (already
scrubbed), without an offline advice's sealed card and scrubbed again by the journal's rules
(`agent.journal.scrub.scrub_message`) before it leaves.  Their progress is a second sidecar file,
``<journal>.office-messages`` (the last event whose transactions' messages the office acknowledged); the
office stores each message once by terminal, transaction, direction and the journal's message id, so a
repeat costs nothing.

    from agent.office.shipper import ship_once, OfficeShipper
    ship_once("journal.db", "http://office:8740/v1/events", "T0001", secret)   # until caught up
    shipper = OfficeShipper("journal.db", url, "T0001", secret, interval=30); shipper.start() ... shipper.stop()
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.atomicfile import atomic_write
from agent.journal import Journal, JournalError
from agent.journal.hashchain import GENESIS
from agent.journal.scrub import scrub_message
from agent.office.link import OfficeClient, ShipError, office_endpoint, read_secret, reason_of

log = logging.getLogger("posagent.office")

#: the collector's limits are 500 events and 8 MiB a request; stay under both
MAX_BATCH_EVENTS = 500
MAX_BATCH_BYTES = 4 * 1024 * 1024
CURSOR_SUFFIX = ".office-cursor"
MESSAGES_SUFFIX = ".office-messages"
#: the collector takes at most this many messages a request
MAX_BATCH_MESSAGES = 200
_EVENT_COLUMNS = ("seq", "at", "txn_id", "kind", "operator", "role", "details", "content_hash", "hash")


@dataclass(frozen=True)
class ShipResult:
    sent: int      # events posted (repeats included)
    batches: int
    acked: int     # the last event id the office holds
    head: int      # the journal's newest event id
    messages: int = 0  # masked messages posted (repeats included)


@dataclass(frozen=True)
class Cursor:
    acked: int
    hash: str


def cursor_path(journal_path: str | Path, suffix: str = CURSOR_SUFFIX) -> Path:
    journal_path = Path(journal_path)
    return journal_path.with_name(journal_path.name + suffix)


def read_cursor(journal_path: str | Path, suffix: str = CURSOR_SUFFIX) -> Cursor:
    path = cursor_path(journal_path, suffix)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        acked, chash = doc["acked"], doc["hash"]
        if not isinstance(acked, int) or acked < 0 or not isinstance(chash, str):
            raise ValueError("bad values")
        return Cursor(acked, chash)
    except FileNotFoundError:
        return Cursor(0, GENESIS)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        # the office says again what it holds: starting over costs repeats, never a loss
        log.warning("office cursor %s unreadable (%s): shipping from the first event", path, exc)
        return Cursor(0, GENESIS)


def write_cursor(journal_path: str | Path, cursor: Cursor, suffix: str = CURSOR_SUFFIX) -> None:
    path = cursor_path(journal_path, suffix)
    try:
        atomic_write(path, json.dumps({"acked": cursor.acked, "hash": cursor.hash}).encode())
    except OSError as exc:
        raise ShipError(f"cannot save the office cursor {path}: {exc.strerror or exc}", retry=True) from None


def backlog(journal_path: str | Path) -> dict[str, int]:
    """What the office holds of this journal (the cursor) and what it does not yet (the journal's newer events)."""
    acked = read_cursor(journal_path).acked
    try:
        journal = Journal.open(journal_path, fingerprint_key=None, read_only=True)
    except JournalError:
        return {"acked": acked, "head": acked, "backlog": 0}
    try:
        head = journal.core.conn.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0]
    finally:
        journal.core.close()
    return {"acked": acked, "head": head, "backlog": max(0, head - acked)}


# ----------------------------------------------------------------------------- one round
def ship_once(journal_path: str | Path, url: str, terminal_id: str, secret: str, *,
              timeout: float = 30.0, max_batches: int | None = None, ca_file: str | None = None) -> ShipResult:
    """Send every event after the cursor, batch by batch, until the office holds the journal's head."""
    try:
        journal = Journal.open(journal_path, fingerprint_key=None, read_only=True)
    except JournalError as exc:
        raise ShipError(f"cannot read the journal: {exc}", retry=True) from None
    try:
        office = OfficeClient(url, terminal_id, secret, timeout, ca_file)
        result = _ship(journal, Path(journal_path), office, max_batches)
        try:
            sent = ship_messages(journal, Path(journal_path), office, result.acked)
        except ShipError as exc:
            if exc.login_refused:
                raise
            # the events are shipped: an office that does not take the messages (an older collector, a refused
            # message) is logged and asked again next round, from the messages' own cursor
            log.error("office shipping of the masked messages: %s", exc)
            sent = 0
        return ShipResult(result.sent, result.batches, result.acked, result.head, sent)
    finally:
        journal.core.close()


def _ship(journal: Journal, journal_path: Path, office: "OfficeClient", max_batches: int | None) -> ShipResult:
    conn = journal.core.conn
    cursor = _checked_cursor(conn, journal_path)
    head = conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0]
    sent = batches = rewinds = 0
    while cursor.acked < head and (max_batches is None or batches < max_batches):
        events = _next_batch(conn, cursor.acked)
        if not events:
            break
        status, reply = office.post({"terminal": office.terminal, "head": head, "events": events})
        batches += 1
        sent += len(events)
        acked = reply.get("acked")
        if not isinstance(acked, int) or acked < 0:
            raise ShipError(f"the office answered {status} without an acknowledgement: {reason_of(reply)}", retry=True)
        error = reply.get("error") or {}
        if status == 409 and error.get("code") == "gap" and acked < cursor.acked:
            if rewinds >= 3:
                raise ShipError(f"the office keeps asking for events before {cursor.acked + 1}: {reason_of(reply)}",
                                retry=True)
            rewinds += 1
            log.warning("the office holds events up to %d only; sending again from there", acked)
            cursor = _move(conn, journal_path, acked)
            continue
        # forward only over events of this batch the office took or already held as they are here
        vouched = events[-1]["seq"] if status == 200 else _seq(error.get("seq"), events[0]["seq"]) - 1
        if min(acked, vouched) > cursor.acked:
            cursor = _move(conn, journal_path, min(acked, vouched))
        if status != 200:
            raise ShipError(f"the office refused event {error.get('seq')}: {reason_of(reply)}", retry=False)
    return ShipResult(sent, batches, cursor.acked, head)


def _move(conn: Any, journal_path: Path, seq: int, suffix: str = CURSOR_SUFFIX) -> Cursor:
    cursor = _cursor_at(conn, seq)
    write_cursor(journal_path, cursor, suffix)
    return cursor


def _seq(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else default


def _checked_cursor(conn: Any, journal_path: Path, suffix: str = CURSOR_SUFFIX) -> Cursor:
    """The saved cursor, unless the journal's event at it has another hash (a new journal): then from 0."""
    cursor = read_cursor(journal_path, suffix)
    if cursor.acked == 0:
        return Cursor(0, GENESIS)
    row = conn.execute("SELECT hash FROM events WHERE id = ?", (cursor.acked,)).fetchone()
    if row is None or row[0] != cursor.hash:
        log.warning("office cursor %s does not match this journal's event %d: shipping from the first event",
                    cursor_path(journal_path, suffix), cursor.acked)
        return Cursor(0, GENESIS)
    return cursor


def _cursor_at(conn: Any, seq: int) -> Cursor:
    if seq == 0:
        return Cursor(0, GENESIS)
    row = conn.execute("SELECT hash FROM events WHERE id = ?", (seq,)).fetchone()
    if row is None:
        raise ShipError(f"the office acknowledged event {seq}, which this journal does not hold", retry=False)
    return Cursor(seq, row[0])


def _next_batch(conn: Any, after: int) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    size = 0
    for row in conn.execute("SELECT id, at, txn_id, kind, operator, role, details, content_hash, hash FROM events "
                            "WHERE id > ? ORDER BY id LIMIT ?", (after, MAX_BATCH_EVENTS)):
        event = dict(zip(_EVENT_COLUMNS, tuple(row)))
        size += len(json.dumps(event)) + 2
        if events and size > MAX_BATCH_BYTES:
            break
        events.append(event)
    return events


# ----------------------------------------------------------------------------- the masked messages
def ship_messages(journal: Journal, journal_path: Path, office: OfficeClient, acked: int) -> int:
    """Post the masked messages of the transactions named by the events after the messages' cursor, up to the
    event `acked` (what the office holds), batch by batch; the cursor moves after each acknowledged batch of
    events' transactions.  Returns how many messages were posted."""
    conn = journal.core.conn
    done = _checked_cursor(conn, journal_path, MESSAGES_SUFFIX)
    url = office_endpoint(office.url, "messages")
    sent = 0
    while done.acked < acked:
        rows = conn.execute("SELECT id, txn_id FROM events WHERE id > ? AND id <= ? ORDER BY id LIMIT ?",
                            (done.acked, acked, MAX_BATCH_EVENTS)).fetchall()
        if not rows:
            break
        messages = [m for txn_id in sorted({r[1] for r in rows if r[1] is not None})
                    for m in _messages_of(journal, txn_id)]
        for chunk in _chunks(messages):
            status, reply = office.post({"terminal": office.terminal, "messages": chunk}, url)
            if status != 200 or not isinstance(reply.get("stored"), int):
                raise ShipError(f"the office did not take the masked messages: {reason_of(reply)}", retry=True)
            sent += len(chunk)
        done = _move(conn, journal_path, rows[-1][0], MESSAGES_SUFFIX)
    return sent


def shippable(message: dict[str, Any]) -> dict[str, Any]:
    """A journal message as it leaves for the office: without an advice's sealed card, scrubbed again."""
    body = message["body"]
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k != "sealed_card"}
    return {"txn_id": message["txn_id"], "message_id": message["message_id"], "direction": message["direction"],
            "at": message["at"], "reversal_id": message["reversal_id"], "body": scrub_message(body)}


def _messages_of(journal: Journal, txn_id: int) -> list[dict[str, Any]]:
    try:
        return [shippable(m) for m in journal.messages(txn_id)]
    except JournalError:  # the transaction is no longer in the journal: nothing of it to ship
        return []


def _chunks(messages: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    chunks: list[list[dict[str, Any]]] = []
    chunk: list[dict[str, Any]] = []
    size = 0
    for message in messages:
        length = len(json.dumps(message)) + 2
        if chunk and (len(chunk) >= MAX_BATCH_MESSAGES or size + length > MAX_BATCH_BYTES):
            chunks.append(chunk)
            chunk, size = [], 0
        chunk.append(message)
        size += length
    return chunks + [chunk] if chunk else chunks


# ----------------------------------------------------------------------------- the loop
class OfficeShipper:
    """`ship_once` every `interval` seconds in a thread, backing off (to `max_backoff`) while the office is
    unreachable or refuses the login; a refused chain is logged and retried at the slowest pace (a person has
    to look).  With `secret_file`, the secret is read again before a round whenever the file changed (a
    rotated secret put in place by the installer: `posoffice terminal rotate`), so shipping carries on with the
    new secret without a restart; a file that does not read keeps the secret in use, logged."""

    def __init__(self, journal_path: str | Path, url: str, terminal_id: str, secret: str, *,
                 interval: float = 30.0, max_backoff: float = 300.0, timeout: float = 30.0,
                 ca_file: str | None = None, secret_file: str | Path | None = None):
        self.journal_path = Path(journal_path)
        self.url, self.terminal_id, self._secret = url, terminal_id, secret
        self.interval, self.max_backoff, self.timeout = interval, max_backoff, timeout
        self.ca_file = ca_file
        self.secret_file = None if secret_file is None else Path(secret_file)
        self._secret_stamp = self._stamp()
        self.last_result: ShipResult | None = None
        self.last_error: ShipError | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def secret(self) -> str:
        """The secret in use (read again from `secret_file` when it changed)."""
        stamp = self._stamp()
        if self.secret_file is not None and stamp is not None and stamp != self._secret_stamp:
            try:
                secret = read_secret(self.secret_file)
            except ShipError as exc:
                log.error("office secret not reloaded, the one in use stays: %s", exc)
            else:
                if secret != self._secret:
                    log.info("office secret reloaded from %s", self.secret_file)
                self._secret = secret
            self._secret_stamp = stamp
        return self._secret

    def _stamp(self) -> tuple[int, int, int] | None:
        if self.secret_file is None:
            return None
        try:
            info = os.stat(self.secret_file)
        except OSError:
            return None
        return info.st_ino, info.st_mtime_ns, info.st_size

    def run(self) -> None:
        """Ship until `stop()` (blocking)."""
        delay = self.interval
        while not self._stop.is_set():
            try:
                self.last_result = ship_once(self.journal_path, self.url, self.terminal_id, self.secret,
                                             timeout=self.timeout, ca_file=self.ca_file)
                self.last_error = None
                delay = self.interval
            except ShipError as exc:
                self.last_error = exc
                log.error("office shipping: %s", exc)
                if exc.login_refused:  # a rotated secret may be on its way to the secret file: look again soon
                    delay = self.interval
                else:
                    delay = min(self.max_backoff, delay * 2) if exc.retry else self.max_backoff
            self._stop.wait(delay)

    def start(self) -> threading.Thread:
        self._thread = threading.Thread(target=self.run, name="office-shipper", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, timeout: float | None = None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)


def main(argv: list[str] | None = None) -> int:
    """`python -m agent.office.shipper JOURNAL URL TERMINAL` — one round; the secret from $POSAGENT_OFFICE_SECRET."""
    parser = argparse.ArgumentParser(prog="python -m agent.office.shipper")
    parser.add_argument("journal")
    parser.add_argument("url")
    parser.add_argument("terminal")
    parser.add_argument("--ca-file", help="CA certificate(s) the office's https certificate must verify against")
    args = parser.parse_args(argv)
    secret = os.environ.get("POSAGENT_OFFICE_SECRET")
    if not secret:
        print("office shipper: set POSAGENT_OFFICE_SECRET to the terminal's secret", file=sys.stderr)
        return 2
    try:
        result = ship_once(args.journal, args.url, args.terminal, secret, ca_file=args.ca_file)
    except ShipError as exc:
        print(f"office shipper: {exc}", file=sys.stderr)
        return exc.exit_status
    print(json.dumps({"sent": result.sent, "batches": result.batches, "acked": result.acked, "head": result.head,
                      "messages": result.messages}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
