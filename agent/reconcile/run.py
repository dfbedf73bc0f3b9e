"""The I/O around the reconciler: the statements directory, the journal's facts, and the run's one event.

A statement is reconciled by name: the file of that name in the statements directory (`[reconcile]
statements_dir`, default `statements/` beside the journal), opened relative to the directory without
following a link, a regular file of bounded size, read with a bound.  The run is journaled by whoever
owns the journal — the daemon (control operation `reconcile`), or, when no daemon runs, the command
line holding the journal's lock — with a record of fixed fields that the reconciler produced
(`run_details`), under the role that ran it.  A statement that cannot be read is journaled as a refused
run; a name with no file behind it is refused and journaled as nothing.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import re
import stat
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from agent.atomicfile import PrivateDirectory, PrivateFileError
from agent import cardtypes
from agent.config import Config
from agent.errors import PosagentError, UsageError
from agent.masking import mask_digit_runs
from agent.registry import STATEMENT_NAME
from agent.reconcile.fees import contract_from_config
from agent.reconcile.formats import check_encoding, get_format
from agent.reconcile.reconciler import JournalFact, Reconciliation, reconcile
from agent.reconcile.statement import MAX_STATEMENT_BYTES, Statement, StatementError, parse_statement

if TYPE_CHECKING:
    from agent.journal.facade import Journal

#: the most findings listed one by one in the journal event (all are in the report, its hash and the claim)
MAX_EVENT_ITEMS = 100
#: the most bytes of details one run's event carries (the journal's bound for `reconcile.run`)
MAX_EVENT_DETAILS_BYTES = 16 * 1024
#: the most characters of a refusal's error kept in its event
MAX_EVENT_ERROR_CHARS = 400
_NAME = re.compile(STATEMENT_NAME)


@dataclass(frozen=True)
class Request:
    """What to reconcile: a statement of the statements directory, its format and encoding, the day asked."""

    name: str
    format: str
    encoding: str
    date: str | None = None

    @classmethod
    def checked(cls, name: str, *, fmt_name: str | None = None, encoding: str | None = None,
                date: str | None = None) -> "Request":
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise UsageError(f"statement {name!r}: expected the name of a file in the statements directory "
                             f"(letters, digits, '.', '_' or '-'; no path)")
        fmt = get_format(fmt_name)
        return cls(name, fmt.name, check_encoding(encoding, fmt), date)


@dataclass(frozen=True)
class Run:
    """A reconciliation run as the report and the claim letters need it (the daemon's answer, read back)."""

    report: Reconciliation
    name: str
    format: str
    encoding: str
    sha256: str
    event: dict[str, Any] | None  # the run's journal event: {"event_id", "hash"}
    raw: bytes | None = None  # the statement's bytes, where the caller has them (the command line does)

    def answer(self) -> dict[str, Any]:
        """The control API's answer to `reconcile`."""
        return {"report": self.report.as_dict(), "statement": self.name, "format": self.format,
                "encoding": self.encoding, "sha256": self.sha256, "journal_event": self.event}

    @classmethod
    def from_answer(cls, answer: dict[str, Any], raw: bytes | None = None) -> "Run":
        return cls(Reconciliation.from_dict(answer["report"]), answer["statement"], answer["format"],
                   answer["encoding"], answer["sha256"], answer.get("journal_event"), raw)


@dataclass(frozen=True)
class Examined:
    """A statement read and parsed, or refused: `error` is set when it was refused."""

    request: Request
    digest: str | None = None
    statement: Statement | None = None
    error: StatementError | None = None


class StatementRefused(StatementError):
    """A statement file refused before its content is read (a link, not a regular file, too large)."""

    def __init__(self, message: str):
        PosagentError.__init__(self, message)
        self.line = self.column = None
        self.expected = message


class NoStatement(UsageError):
    """No statement of that name (nothing was read: nothing is journaled)."""


# ------------------------------------------------------------------------------------------- the files
def statements_directory(cfg: Config, journal_path: Path) -> Path:
    """`[reconcile] statements_dir`, else `statements/` beside the journal."""
    configured = cfg["reconcile"]["statements_dir"]
    return Path(os.path.expanduser(configured)) if configured else Path(journal_path).parent / "statements"


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
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise UsageError(f"{path} is a directory, not a statement file")
        return _read_bounded(fd, str(path), limit)
    finally:
        os.close(fd)


def read_named_statement(directory: Path, name: str, limit: int = MAX_STATEMENT_BYTES) -> bytes:
    """The statement `name` of the statements directory: opened relative to the directory (itself no link,
    this user's, written by no other), never through a link, a regular file of at most `limit` bytes."""
    try:
        folder = PrivateDirectory.open(directory, create=False)
    except PrivateFileError as exc:
        if not os.path.lexists(directory):
            raise NoStatement(f"no statement {name!r}: the statements directory {directory} does not exist") from None
        raise UsageError(f"the statements directory: {exc}") from None
    with folder:
        flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(name, flags, dir_fd=folder.fd)
        except FileNotFoundError:
            raise NoStatement(f"no statement {name!r} in the statements directory {directory}") from None
        except OSError as exc:
            info = folder.existing(name)
            if info is not None and stat.S_ISLNK(info.st_mode):
                raise StatementRefused(f"statement {name}: a symbolic link, not a regular file; expected a "
                                       f"statement file of at most {_size(limit)}") from None
            raise UsageError(f"cannot read the statement {name}: {exc.strerror}") from None
    try:
        return _read_bounded(fd, name, limit)
    finally:
        os.close(fd)


def _read_bounded(fd: int, shown: str, limit: int) -> bytes:
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise StatementRefused(f"statement {shown}: {_file_type(info.st_mode)}, not a regular file; expected a "
                                   f"statement file of at most {_size(limit)}")
        if info.st_size > limit:
            raise StatementRefused(f"statement {shown}: {info.st_size} bytes; expected a statement file of at most "
                                   f"{_size(limit)}")
        chunks, total = [], 0
        while True:  # bounded even if the file grows while it is read
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise StatementRefused(f"statement {shown}: more than {limit} bytes (it grew while being read); "
                                       f"expected a statement file of at most {_size(limit)}")
        return b"".join(chunks)
    except OSError as exc:
        raise UsageError(f"cannot read the statement {shown}: {exc.strerror}") from None


def place_statement(path: str | Path, directory: Path) -> tuple[str, bytes]:
    """Copy the statement at `path` into the statements directory as a private file (0600, no link followed,
    the directory created 0700); returns the name it has there and its bytes."""
    raw = read_statement_file(path)
    name = statement_name_for(Path(path).name)
    with PrivateDirectory.open(directory, create=True) as folder:
        folder.write(name, raw, force=True)
    return name, raw


def statement_name_for(file_name: str) -> str:
    """A file's name as the statements directory keeps it: letters, digits, '.', '_' and '-' only."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", file_name).lstrip(".-")
    name = re.sub(r"\.{2,}", ".", name)[:100]
    return name if _NAME.fullmatch(name) else "statement"


def _file_type(mode: int) -> str:
    for test, name in ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISFIFO, "a pipe"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory")):
        if test(mode):
            return name
    return "not a regular file"


def _size(limit: int) -> str:
    return f"{limit // (1 << 20)} MiB ({limit} bytes)" if limit % (1 << 20) == 0 else f"{limit} bytes"


# ------------------------------------------------------------------------------------------- the run
def examine(cfg: Config, directory: Path, request: Request) -> Examined:
    """Read and parse the statement (no journal: the daemon runs this beside its event loop).
    `NoStatement` (or another `UsageError`) when there is nothing to read."""
    try:
        raw = read_named_statement(directory, request.name)
    except StatementRefused as exc:
        return Examined(request, error=exc)
    digest = hashlib.sha256(raw).hexdigest()
    try:
        statement = parse_statement(raw, get_format(request.format), encoding=request.encoding,
                                    expect_date=request.date, expect_merchant=cfg.terminal.merchant_id,
                                    path=request.name)
    except StatementError as exc:
        return Examined(request, digest, error=exc)
    return Examined(request, digest, statement)


def conclude(journal: Journal, cfg: Config, examined: Examined, *, role: str) -> Run:
    """Compare with the journal and journal the run under `role`; a refused statement is journaled as
    refused and its error raised."""
    from agent.journal.reconciliation import record_reconciliation

    request = examined.request
    if examined.error is not None or examined.statement is None:
        error = examined.error or StatementError("not read", path=request.name)
        details = {"statement": request.name, "sha256_b64": _b64(examined.digest) if examined.digest else None,
                   "format": request.format, "encoding": request.encoding,
                   "error": mask_digit_runs(str(error))[:MAX_EVENT_ERROR_CHARS]}
        record_reconciliation(journal, "reconcile.refused", details, operator=role, role=role)
        raise error
    report = reconcile(load_facts(journal), examined.statement, contract_from_config(cfg["settlement_fees"]),
                       terminal_id=cfg.terminal.terminal_id, credit_bins=credit_bins(cfg))
    details = bounded(run_details(report, request, examined.digest or ""))
    event = record_reconciliation(journal, "reconcile.run", details, operator=role, role=role)
    return Run(report, request.name, request.format, request.encoding, examined.digest or "", event)


def reconcile_named(journal: Journal, cfg: Config, directory: Path, request: Request, *, role: str) -> Run:
    return conclude(journal, cfg, examine(cfg, directory, request), role=role)


def load_facts(journal: Journal) -> list[JournalFact]:
    from agent.journal.reconciliation import reconciliation_facts

    return [JournalFact(id=r[0], kind=r[1], state=r[2], amount=r[3], trace=r[4], batch=r[5], rrn=r[6],
                        pan_masked=r[7], date=r[8], settled_on=r[9]) for r in reconciliation_facts(journal)]


def credit_bins(cfg: Config) -> tuple[str, ...]:
    return cardtypes.credit_bins(cfg.settlement_fees.credit_bins)


def bounded(details: dict[str, Any]) -> dict[str, Any]:
    """`details` within `MAX_EVENT_DETAILS_BYTES` once encoded: fewer items listed if need be."""
    out = dict(details)
    while len(json.dumps(out, ensure_ascii=False).encode()) > MAX_EVENT_DETAILS_BYTES and out.get("items"):
        out["items"] = out["items"][:len(out["items"]) // 2]
    return out


def run_details(report: Reconciliation, request: Request, digest: str) -> dict[str, Any]:
    """The run's event: fixed fields, each a number, a flag or a short text the reconciler produced."""
    by_kind: Counter[str] = Counter()
    effect_by_kind: Counter[str] = Counter()
    for d in report.discrepancies:
        by_kind[d.kind] += 1
        effect_by_kind[d.kind] += d.effect
    report_digest = hashlib.sha256(json.dumps(report.as_dict(), sort_keys=True).encode()).hexdigest()
    return {"statement": request.name, "sha256_b64": _b64(digest), "format": request.format,
            "encoding": request.encoding, "date": report.settlement_date, "lines": report.lines,
            "owed": report.owed, "credited": report.credited, "difference": report.difference,
            "unexplained": report.unexplained, "balanced": report.balanced,
            "by_kind": {k: [by_kind[k], effect_by_kind[k]] for k in sorted(by_kind)},
            "findings": len(report.discrepancies),
            "other_terminals": [len(report.other_terminals), report.other_terminals_net],
            "items": [[d.kind, d.effect, d.txn_id, d.line.line if d.line else None]
                      for d in report.discrepancies[:MAX_EVENT_ITEMS]],
            "report_sha256_b64": _b64(report_digest)}


def _b64(hex_digest: str) -> str:
    # base64, not hex: the journal masks any run of 12+ digits as a possible card number
    return base64.urlsafe_b64encode(bytes.fromhex(hex_digest)).decode("ascii").rstrip("=")


# ------------------------------------------------------------------------------------------- without a daemon
@contextmanager
def journal_for_writing(cfg: Config, journal_path: Path) -> Iterator[Journal | None]:
    """The journal opened for this process's writes while it holds the journal's lock; None when another
    process (the daemon) holds it, whose control API is then the way to the journal."""
    from agent.journal import Journal

    if not journal_path.exists():
        raise UsageError(f"no journal at {journal_path} (set journal.path or pass --journal FILE)")
    lock_path = journal_path.with_name(journal_path.name + ".lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise PosagentError(f"cannot record the reconciliation: cannot open {lock_path}: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield None
            return
        with Journal.open(journal_path, fingerprint_key=None, busy_timeout_ms=cfg.journal.busy_timeout_ms) as journal:
            yield journal
    finally:
        os.close(fd)


def reconcile_file(cfg: Config, journal_path: Path, statement_path: str | Path, *, fmt_name: str | None = None,
                   encoding: str | None = None, date: str | None = None) -> Run:
    """A statement file reconciled with no daemon running: copied into the statements directory, then
    reconciled by name under the journal's lock (the command line's role, the cashier's)."""
    request = Request.checked("statement", fmt_name=fmt_name, encoding=encoding, date=date)
    directory = statements_directory(cfg, journal_path)
    name, raw = place_statement(statement_path, directory)
    with journal_for_writing(cfg, journal_path) as journal:
        if journal is None:
            raise PosagentError("the daemon holds the journal: ask it (`posagent reconcile`)")
        run = reconcile_named(journal, cfg, directory, Request(name, request.format, request.encoding, date),
                              role="cashier")
    return Run(run.report, run.name, run.format, run.encoding, run.sha256, run.event, raw)
