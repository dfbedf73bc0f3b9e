"""The I/O around the reconciler: read the statement and the journal, journal the run, write the claim.

The run is journaled by whoever may write the journal: when no daemon holds the journal's lock this
process takes it for the one write; when the daemon owns the journal, the run goes through its
control API (`reconcile_record`), so the journal keeps a single writer.  A statement that cannot be
read is journaled as a refused run and nothing else changes.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import stat
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.errors import PosagentError, UsageError
from agent.masking import mask_digit_runs
from agent.reconcile.fees import contract_from_config
from agent.reconcile.formats import StatementFormat, check_encoding, get_format
from agent.reconcile.reconciler import JournalFact, Reconciliation, reconcile
from agent.reconcile.statement import MAX_STATEMENT_BYTES, Statement, StatementError, parse_statement

#: the most findings listed one by one in the journal event (all are in the claim files and the report hash)
MAX_EVENT_ITEMS = 100
#: the most bytes of details one run's event carries: far below the control API's 64 KiB request limit,
#: whatever the statement holds (its name, its errors and its findings are all cut to fit)
MAX_EVENT_DETAILS_BYTES = 16 * 1024
#: the most characters of a refusal's error kept in its event
MAX_EVENT_ERROR_CHARS = 400


@dataclass(frozen=True)
class Run:
    report: Reconciliation
    statement: Statement
    fmt: StatementFormat
    name: str
    sha256: str
    raw: bytes
    event: dict | None
    encoding: str = "utf-8"


def read_statement_file(path: str | Path, limit: int = MAX_STATEMENT_BYTES) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; anything else is refused before it is read."""
    path = Path(path)
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; it changes nothing for a regular file
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise UsageError(f"no statement file at {path}") from None
    except OSError as exc:
        raise UsageError(f"cannot read the statement {path}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise UsageError(f"{path} is a directory, not a statement file")
        if not stat.S_ISREG(info.st_mode):
            raise StatementRefused(f"statement {path}: {_file_type(info.st_mode)}, not a regular file; expected a "
                                   f"statement file of at most {_size(limit)}")
        if info.st_size > limit:
            raise StatementRefused(f"statement {path}: {info.st_size} bytes; expected a statement file of at most "
                                   f"{_size(limit)}")
        chunks, total = [], 0
        while True:  # bounded even if the file grows while it is read
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise StatementRefused(f"statement {path}: more than {limit} bytes (it grew while being read); "
                                       f"expected a statement file of at most {_size(limit)}")
        return b"".join(chunks)
    except OSError as exc:
        raise UsageError(f"cannot read the statement {path}: {exc.strerror}") from None
    finally:
        os.close(fd)


class StatementRefused(StatementError):
    """A statement file refused before its content is read (not a regular file, too large)."""

    def __init__(self, message: str):
        PosagentError.__init__(self, message)
        self.line = self.column = None
        self.expected = message


def _file_type(mode: int) -> str:
    for test, name in ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISFIFO, "a pipe"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def _size(limit: int) -> str:
    return f"{limit // (1 << 20)} MiB ({limit} bytes)" if limit % (1 << 20) == 0 else f"{limit} bytes"


def load_facts(journal) -> list[JournalFact]:
    from agent.journal.reconciliation import reconciliation_facts

    return [JournalFact(id=r[0], kind=r[1], state=r[2], amount=r[3], trace=r[4], batch=r[5], rrn=r[6],
                        pan_masked=r[7], date=r[8], settled_on=r[9]) for r in reconciliation_facts(journal)]


def credit_bins(cfg) -> tuple[str, ...]:
    return tuple(b.strip() for b in cfg.settlement_fees.credit_bins.split(",") if b.strip())


def reconcile_file(cfg, journal_path: Path, statement_path: str | Path, *, fmt_name: str | None = None,
                   encoding: str | None = None, date: str | None = None, record: bool = True) -> Run:
    """Parse, compare and journal one statement; a malformed statement is journaled as refused, then raised."""
    from agent.journal import Journal

    fmt = get_format(fmt_name)
    encoding = check_encoding(encoding, fmt)
    contract = contract_from_config(cfg["settlement_fees"])
    if not journal_path.exists():
        raise UsageError(f"no journal at {journal_path} (set journal.path or pass --journal FILE)")
    name = Path(statement_path).name
    try:
        raw = read_statement_file(statement_path)
    except StatementRefused as exc:
        if record:
            refused(cfg, journal_path, exc, {"statement": name, "sha256_b64": None, "format": fmt.name,
                                             "encoding": encoding})
        raise
    digest = hashlib.sha256(raw).hexdigest()
    try:
        statement = parse_statement(raw, fmt, encoding=encoding, expect_date=date,
                                    expect_merchant=cfg.terminal.merchant_id, path=name)
    except StatementError as exc:
        if record:
            refused(cfg, journal_path, exc, {"statement": name, "sha256_b64": _b64(digest), "format": fmt.name,
                                             "encoding": encoding})
        raise
    with Journal.open(journal_path, fingerprint_key=None, read_only=True,
                      busy_timeout_ms=cfg.journal.busy_timeout_ms) as journal:
        facts = load_facts(journal)
    report = reconcile(facts, statement, contract, terminal_id=cfg.terminal.terminal_id,
                       credit_bins=credit_bins(cfg))
    event = None
    if record:
        event = journal_run(cfg, journal_path, "reconcile.run", run_details(report, name, digest, fmt, encoding))
    return Run(report, statement, fmt, name, digest, raw, event, encoding)


def refused(cfg, journal_path: Path, error: StatementError, details: dict[str, Any]) -> None:
    """Journal a refused statement; if that fails too, the refusal is still what is reported (exit 2)."""
    details = {**details, "error": mask_digit_runs(str(error))[:MAX_EVENT_ERROR_CHARS]}
    try:
        journal_run(cfg, journal_path, "reconcile.refused", details)
    except PosagentError as exc:
        error.args = (f"{error.args[0]} (and the refusal could not be journaled: {exc})",)


def bounded(details: dict[str, Any]) -> dict[str, Any]:
    """`details` cut to `MAX_EVENT_DETAILS_BYTES` once encoded: long texts shortened, then fewer items."""
    out = {k: (v[:MAX_EVENT_ERROR_CHARS] if isinstance(v, str) else v) for k, v in details.items()}
    items = out.get("items")
    while len(json.dumps(out, ensure_ascii=False).encode()) > MAX_EVENT_DETAILS_BYTES:
        if not items:
            raise PosagentError(f"the reconciliation's event would exceed {MAX_EVENT_DETAILS_BYTES} bytes")
        items = items[:len(items) // 2]
        out["items"] = items
    return out


def run_details(report: Reconciliation, name: str, digest: str, fmt: StatementFormat, encoding: str) -> dict:
    by_kind: Counter = Counter()
    effect_by_kind: Counter = Counter()
    for d in report.discrepancies:
        by_kind[d.kind] += 1
        effect_by_kind[d.kind] += d.effect
    report_digest = hashlib.sha256(json.dumps(report.as_dict(), sort_keys=True).encode()).hexdigest()
    return {"statement": name, "sha256_b64": _b64(digest), "format": fmt.name, "encoding": encoding,
            "date": report.settlement_date, "lines": report.lines, "owed": report.owed, "credited": report.credited,
            "difference": report.difference, "unexplained": report.unexplained, "balanced": report.balanced,
            "by_kind": {k: [by_kind[k], effect_by_kind[k]] for k in sorted(by_kind)},
            "findings": len(report.discrepancies),
            "other_terminals": [len(report.other_terminals), report.other_terminals_net],
            "items": [[d.kind, d.effect, d.txn_id, d.line.line if d.line else None]
                      for d in report.discrepancies[:MAX_EVENT_ITEMS]],
            "report_sha256_b64": _b64(report_digest)}


def _b64(hex_digest: str) -> str:
    # base64, not hex: the journal masks any run of 12+ digits as a possible card number
    return base64.urlsafe_b64encode(bytes.fromhex(hex_digest)).decode("ascii").rstrip("=")


def journal_run(cfg, journal_path: Path, kind: str, details: dict[str, Any]) -> dict:
    """Write the run's event, through the daemon when it owns the journal; returns {event_id, hash}."""
    from agent.journal import Journal
    from agent.journal.reconciliation import record_reconciliation

    details = bounded(details)

    lock_path = journal_path.with_name(journal_path.name + ".lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise PosagentError(f"cannot record the reconciliation: cannot open {lock_path}: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return _through_daemon(cfg, kind, details)
        with Journal.open(journal_path, fingerprint_key=None, busy_timeout_ms=cfg.journal.busy_timeout_ms) as journal:
            return record_reconciliation(journal, kind, details)
    finally:
        os.close(fd)


def _through_daemon(cfg, kind: str, details: dict[str, Any]) -> dict:
    from agent.daemon.control import ControlClient

    reply = ControlClient(cfg.path("daemon", "control_socket"), timeout=30).call(
        "reconcile_record", {"kind": kind, "details": details})
    if not reply.get("ok"):
        raise PosagentError(f"the daemon did not record the reconciliation: {reply.get('error', {}).get('message')}")
    return reply["result"]
