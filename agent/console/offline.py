"""What the console does itself when the daemon does not answer: read the journal file (read-only) for
`status`, `journal tail` and `journal search`, and start or restart the daemon where the installation
allows it (`[console] may_start_daemon`).

A technician on a serial line has no shell: with the daemon down this is all there is.  Reading never
writes (the journal is opened read-only, so it is never migrated or created); starting runs `posagent run`
in a session of its own, so the daemon outlives the console and a console the old daemon ran (and stops
with it) does not take the new one down.  The restart is done by a small detached process (`python -m
agent.console.offline`), for the same reason.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from agent.config import Config
from agent.errors import PosagentError
from agent.journal import Journal

#: how long a start may take before the console says it did not answer (journal check, recovery)
START_WAIT_SECONDS = 60.0
#: how long a stopping daemon may take to let go of the journal
STOP_WAIT_SECONDS = 30.0


class OfflineError(PosagentError):
    """The journal cannot be read, or the daemon cannot be started; the message says which and why."""


def daemon_answers(cfg: Config) -> bool:
    """True when something listens on the control socket."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(2.0)
        try:
            sock.connect(str(cfg.path("daemon", "control_socket")))
        except OSError:
            return False
    return True


def daemon_pid(cfg: Config) -> int | None:
    """The running daemon's process id, from the lock beside the journal (None: no daemon runs)."""
    lock = cfg.path("journal", "path")
    lock = lock.with_name(lock.name + ".lock")
    try:
        pid = int(lock.read_text(encoding="ascii").strip() or 0)
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    return pid if pid > 0 and b"agent" in b" ".join(command) and b"run" in command else None


# -------------------------------------------------------------------------- the journal, read-only
def _journal(cfg: Config) -> Journal:
    path = cfg.path("journal", "path")
    if not path.exists():
        raise OfflineError(f"no journal at {path}")
    return Journal.open(path, fingerprint_key=None, read_only=True, busy_timeout_ms=cfg.journal.busy_timeout_ms)


def transactions(cfg: Config, query: dict[str, Any]) -> list[dict[str, Any]]:
    """`journal.find` on the file, newest first; each row with the card it shows (a void's: its original's)."""
    with _journal(cfg) as journal:
        found = journal.find(**query)
        cards = journal.queries.cards_shown(found)
        return [{**txn.as_dict(), "pan_masked": cards.get(txn.id)} for txn in found]


def journal_status(cfg: Config) -> dict[str, Any]:
    """What `status` can say from the journal alone: the open batch, the reversal queue, what is in doubt."""
    with _journal(cfg) as journal:
        batch = journal.open_batch()
        recovery = journal.in_doubt()
        last = journal.last_transaction()
        return {"batch": {"number": batch.number, "state": batch.state, "transactions": journal.batch_size(batch.number)},
                "reversals": {"pending": len(recovery.pending_reversals), "needs_manual": len(recovery.needs_manual)},
                "in_doubt": len(recovery.in_doubt) + len(recovery.unanswered),
                "settling": recovery.settling.number if recovery.settling else None,
                "last_transaction_at": last.created_at if last else None}


# -------------------------------------------------------------------------- starting the daemon
def start(cfg: Config, *, restart: bool) -> subprocess.Popen[str]:
    """Start the daemon (after stopping the running one when `restart`), detached; the returned process says
    one line on its standard output when the daemon answers, or why not."""
    source = _config_file(cfg)
    pid = daemon_pid(cfg) if restart else None
    return subprocess.Popen([sys.executable, "-m", "agent.console.offline", source, str(pid or 0)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            start_new_session=True, text=True)


def _config_file(cfg: Config) -> str:
    """The file the daemon is started with: the console's own."""
    if not cfg.source:
        raise OfflineError("this console runs on built-in defaults: the daemon is started with a configuration file")
    return cfg.source


def _stop(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + STOP_WAIT_SECONDS
    while Path(f"/proc/{pid}").exists():
        if time.monotonic() > deadline:
            raise OfflineError(f"the daemon (pid {pid}) did not stop within {STOP_WAIT_SECONDS:.0f} s")
        time.sleep(0.1)


def _start_and_wait(cfg: Config) -> int:
    """`posagent run` in its own session; its pid once the control socket answers.  What `run` would refuse
    is said first (the preflight); its log goes to daemon.log_file, an early failure's last line is shown."""
    from agent.drivers.preflight import problems

    found = problems(cfg)
    if found:
        raise OfflineError(f"the daemon would not start: {found[0]}")
    # standard error holds the daemon's whole log when daemon.log_file is empty: nowhere to keep it then
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as errors:
        proc = subprocess.Popen([sys.executable, "-m", "agent", "--config", _config_file(cfg), "run"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=errors if cfg.daemon.log_file else subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + START_WAIT_SECONDS
        while not daemon_answers(cfg):
            if proc.poll() is not None:
                errors.seek(0)
                lines = [line.strip() for line in errors.read().splitlines() if line.strip()]
                raise OfflineError(f"the daemon did not start: {lines[-1] if lines else f'exit {proc.returncode}'}")
            if time.monotonic() > deadline:
                raise OfflineError(f"the daemon (pid {proc.pid}) did not answer within {START_WAIT_SECONDS:.0f} s")
            time.sleep(0.1)
        return proc.pid


def main(argv: list[str]) -> int:
    """`python -m agent.console.offline CONFIG PID`: stop PID (0: none), start the daemon, say how it went."""
    from agent import config

    try:
        cfg = config.load(argv[0])
        if int(argv[1]):
            _stop(int(argv[1]))
        pid = _start_and_wait(cfg)
    except PosagentError as exc:
        print(f"error {exc}", flush=True)
        return 1
    print(f"started {pid}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
