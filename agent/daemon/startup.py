"""What the daemon checks and holds before it serves: the journal's lock (one daemon per journal), its files
private, the PAN-fingerprint key, and the journal's integrity — its chain's tail at start, the whole chain
in a worker thread while the first operations are served."""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING

from agent import atomicfile
from agent.errors import PosagentError
from agent.journal import VerifyResult, integrity

if TYPE_CHECKING:  # the daemon's module opens with these
    from agent.daemon.service import Daemon

log = logging.getLogger("posagent.daemon")


class DaemonError(PosagentError):
    exit_status = 2


def load_fingerprint_key(path: Path) -> bytes:
    """The PAN-fingerprint HMAC key (256 bits), created 0600 on first use; kept apart from the journal."""
    if path.exists():
        key = path.read_bytes()
        if len(key) < 16:
            raise DaemonError(f"{path}: fingerprint key is shorter than 128 bits; refusing to use it")
        return key
    try:  # never seen short or missing after a power cut: the name appears once the key is on disk
        atomicfile.create_exclusive(path, secrets.token_bytes(32), mode=0o600)
    except FileExistsError:
        pass  # another process made it first: use theirs
    except OSError as exc:
        raise DaemonError(f"{path}: cannot create the fingerprint key: {exc.strerror or exc}") from None
    return path.read_bytes()


def make_private(*paths: Path) -> None:
    """Existing daemon files made 0600 (older versions created some 0644); a file we do not own is left."""
    for path in paths:
        try:
            mode = path.stat().st_mode & 0o777
        except FileNotFoundError:
            continue
        if mode & 0o077:
            try:
                os.chmod(path, 0o600)
                log.warning("%s was readable by others (mode %o); now 0600", path, mode)
            except OSError as exc:
                log.warning("%s is readable by others (mode %o) and cannot be changed: %s", path, mode, exc.strerror)


class JournalLock:
    """An exclusive lock beside the journal: a second daemon on the same journal is refused."""

    def __init__(self, journal_path: Path):
        self.path = journal_path.with_name(journal_path.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:  # e.g. the journal's filesystem turned read-only: say so, no traceback
            why = (exc.strerror or str(exc)).lower()
            raise DaemonError(f"cannot lock the journal {self.path.with_suffix('')}: {why}; "
                              f"no transactions can be taken until it is writable again") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
            os.close(fd)
            raise DaemonError(f"another posagent daemon (pid {other}) already owns the journal "
                              f"{self.path.with_suffix('')}; stop it first") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def integrity_problem(result: VerifyResult, what: str) -> str | None:
    """What the daemon says while the hash chain is broken (no new money moves then), logged; None (and the
    events verified logged) when `what` of the journal is whole."""
    if result.ok:
        log.info("journal integrity: %s verified (%d events)", what, result.events)
        return None
    where = f" at event {result.first_broken}" if result.first_broken is not None else ""
    problem = (f"the journal is damaged{where}: {result.why}; no new transactions until it is "
               f"inspected with `posagent journal verify` (call the technician)")
    log.error("journal integrity: %s", problem)
    return problem


async def verify_journal(daemon: Daemon) -> None:
    """The whole chain and every row, in a worker thread on a read-only connection, while the daemon serves."""
    started = time.perf_counter()
    result = await asyncio.to_thread(integrity.check_all, daemon.journal_path)
    problem = integrity_problem(result, f"the whole journal (checked in {time.perf_counter() - started:.2f} s)")
    if problem is not None:
        daemon.integrity_problem = problem
