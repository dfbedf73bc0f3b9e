"""The real processes of the simulated world: `posim host` (the acquirer, with its ledger and fault
channel) and `posagent run` (the daemon, started, SIGKILLed and restarted).  The demo, the chaos
campaign, the benchmarks and the tests all start them through here.  Children only; every one is
reaped, and stopped on exit."""

from __future__ import annotations

import os
import re
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

from agent.auth import hash_password
from agent.control_client import ControlClient
from agent.errors import PosagentError
from simulator.emvpki import CA_KEYS_FILE
from simulator.host import control as host_control

if TYPE_CHECKING:
    from simulator.forkserver import ForkServer

ROOT = Path(__file__).resolve().parents[1]
#: the supervisor password of the campaign's throw-away terminal
CAMPAIGN_PASSWORD = "135790"
#: the simulator's test cards (the daemon's `[card_reader] test_cards` points here for `--card NAME`)
TEST_CARDS_FILE = ROOT / "simulator" / "data" / "cards.toml"
START_TIMEOUT = 30.0
#: seconds a daemon start is taken to last until one has been measured
START_WINDOW_GUESS = 0.35


class StackError(PosagentError):
    """A simulator or daemon process that would not start or answer."""


# ---------------------------------------------------------------- the PC/SC stack (only one pcscd per machine)

PCSCD_SOCKET = Path("/run/pcscd/pcscd.comm")


def pcscd_binary() -> str | None:
    return shutil.which("pcscd") or ("/usr/sbin/pcscd" if Path("/usr/sbin/pcscd").exists() else None)


def pcscd_running() -> bool:
    for pid_dir in Path("/proc").iterdir():
        if pid_dir.name.isdigit():
            try:
                if (pid_dir / "comm").read_text().strip() == "pcscd":
                    return True
            except OSError:  # the process ended while we looked
                continue
    return False


def virtual_readers() -> list[str]:
    """The virtual readers pcscd lists now; [] while it does not answer (a stale socket proves nothing)."""
    try:
        from smartcard.System import readers

        return [str(r) for r in readers() if "Virtual PCD" in str(r)]
    except Exception:  # noqa: BLE001 — a probe: pyscard's "no service" / "no readers" errors mean not ready
        return []


def start_pcscd(timeout: float = 10.0) -> subprocess.Popen[bytes] | None:
    """A pcscd that lists the virtual readers: the one already running (returns None — not ours to stop)
    or a new child (returned, to be stopped by whoever started it)."""
    if pcscd_running():
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if virtual_readers():
                return None
            time.sleep(0.05)
        raise StackError("a pcscd is running but lists no virtual reader (is vsmartcard-vpcd installed?)")
    binary = pcscd_binary()
    if binary is None:
        raise StackError("pcscd is not installed")
    proc = subprocess.Popen([binary, "--foreground"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StackError(f"pcscd exited at start (status {proc.returncode})")
        if virtual_readers():
            return proc
        time.sleep(0.05)
    stop_process(proc)
    raise StackError(f"pcscd did not list the virtual readers within {timeout:g} s")


class Child(Protocol):
    """A child process as `subprocess.Popen` and the fork server's `ForkedProcess` both are."""

    @property
    def pid(self) -> int: ...
    @property
    def stdout(self) -> IO[Any] | None: ...
    @property
    def stderr(self) -> IO[Any] | None: ...
    def poll(self) -> int | None: ...
    def wait(self, timeout: float | None = None) -> int: ...
    def send_signal(self, sig: int) -> None: ...
    def kill(self) -> None: ...


def stop_process(proc: Child, timeout: float = 5.0) -> None:
    """SIGTERM, wait, SIGKILL if needed; always reaped and its pipes closed."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for stream in (proc.stdout, proc.stderr):
        if stream:
            stream.close()


@dataclass
class Host:
    proc: subprocess.Popen[str]
    port: int
    control_port: int
    db: Path

    @classmethod
    def start(cls, directory: Path, *extra: str, cards: Path | None = None) -> "Host":
        """`posim host` on ephemeral ports (`extra`: more `posim host` options, e.g. TLS)."""
        db = directory / "host-ledger.db"
        extra = (*extra, "--cards", str(cards)) if cards else extra
        proc = subprocess.Popen([sys.executable, "-m", "simulator.cli", "host", "--port", "0", "--control-port", "0",
                                 "--db", str(db), *extra], cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
        assert proc.stdout is not None  # a pipe: Popen was given PIPE
        line = proc.stdout.readline()
        if not line.startswith("posim host listening on "):
            stop_process(proc)
            raise StackError(f"posim host did not start: {line.strip()!r}")
        words = line.split()
        return cls(proc, int(words[4].rsplit(":", 1)[1]), int(words[6].rsplit(":", 1)[1]), db)

    def control(self, **request: Any) -> dict[str, Any]:
        return host_control.call(("127.0.0.1", self.control_port), request)

    def fault(self, rule: str) -> None:
        reply = self.control(op="add", rule=rule)
        if not reply.get("ok", True):
            raise StackError(f"the host refused fault {rule!r}: {reply}")

    def clear_faults(self) -> None:
        self.control(op="clear")

    def ledger(self, terminal: str | None = None) -> dict[str, Any]:
        """What the bank believes: net charged per card and per terminal (`posim host ledger --json`)."""
        from simulator.host.ledger import Ledger

        ledger = Ledger(self.db)
        try:
            return ledger.net_report(terminal)
        finally:
            ledger.close()

    def stop(self) -> None:
        stop_process(self.proc)


def write_soak_cards(directory: Path) -> Path:
    """The simulator's test cards with balances a long soak cannot spend (except the low-balance card,
    kept to exercise "insufficient funds"), so sales keep moving money for 100,000 operations."""
    text = TEST_CARDS_FILE.read_text(encoding="utf-8")
    cards = text.split("[[card]]")
    raised = [part if 'name = "low-balance"' in part else re.sub(r"(?m)^balance = \d+$", "balance = 900000000000", part)
              for part in cards]
    path = directory / "campaign-cards.toml"
    path.write_text("[[card]]".join(raised), encoding="utf-8")
    return path


def with_test_cards(extra: str, test_cards: Path) -> str:
    """`extra` configuration text with `[card_reader] test_cards` set (in its own table if `extra` has one)."""
    line = f'test_cards = "{test_cards}"\n'
    if re.search(r"(?m)^test_cards\s*=", extra):
        return extra
    if re.search(r"(?m)^\[card_reader\]\s*$", extra):
        return re.sub(r"(?m)^\[card_reader\]\s*$\n?", lambda m: "[card_reader]\n" + line, extra, count=1)
    return f"{extra}\n[card_reader]\n{line}"


def write_daemon_config(directory: Path, host_port: int, *, response_timeout: float, reversal_retries: int = 3,
                        password_hash: str, journal_path: Path | None = None, extra: str = "",
                        log_level: str = "DEBUG", max_attempts: int = 10, check_whole_at_start: bool = True,
                        test_cards: Path = TEST_CARDS_FILE) -> Path:
    """The daemon's configuration for a simulated terminal; `--card NAME` reads the simulator's card file."""
    path = directory / "posagent.toml"
    extra = with_test_cards(extra, test_cards)
    path.write_text(f"""
[acquirer]
port = {host_port}
response_timeout = {response_timeout}
connect_timeout = 1.0
reversal_retries = {reversal_retries}
[journal]
path = "{journal_path or directory / 'journal.db'}"
fingerprint_key_file = "{directory / 'fingerprint.key'}"
check_whole_at_start = {str(check_whole_at_start).lower()}
[daemon]
control_socket = "{directory / 'control.sock'}"
log_file = "{directory / 'agent.log'}"
log_level = "{log_level}"
[supervisor]
password_hash = "{password_hash}"
max_attempts = {max_attempts}
[emv]
ca_keys = "{CA_KEYS_FILE}"
{extra}
""", encoding="utf-8")
    return path


#: what `posagent run` imports before it opens anything (loaded once by a fork server), besides the
#: command modules its argument parser loads
DAEMON_MODULES = ("asyncio", "agent.daemon.service", "agent.daemon.control", "agent.console.app", "agent.drivers.preflight")


def daemon_fork_server() -> ForkServer:
    """A fork server that starts `posagent` processes with its modules already imported."""
    from agent.cli import COMMAND_MODULES
    from simulator.forkserver import ForkServer
    return ForkServer.start("agent.cli:main", preload=(*DAEMON_MODULES, *COMMAND_MODULES))


class Daemon:
    """`posagent run` as a child: start (waits for "ready"), SIGKILL, start again."""

    launcher: ForkServer | None = None  # a `forkserver.ForkServer` with the daemon's modules loaded: starts without the interpreter's
    started_in = START_WINDOW_GUESS  # how long the last start took, spawn to "ready" (seconds)

    def __init__(self, directory: Path, host_port: int, *, response_timeout: float, reversal_retries: int,
                 password_hash: str | None = None, journal_path: Path | None = None, launcher: ForkServer | None = None,
                 check_whole_at_start: bool = True, extra: str = ""):
        self.directory = directory
        self.launcher = launcher
        self.config = write_daemon_config(directory, host_port, response_timeout=response_timeout,
                                          reversal_retries=reversal_retries, journal_path=journal_path,
                                          password_hash=password_hash or hash_password(CAMPAIGN_PASSWORD),
                                          check_whole_at_start=check_whole_at_start, extra=extra)
        self.proc: Child | None = None
        self.socket = directory / "control.sock"

    def spawn(self) -> Child:
        proc: Child
        if self.launcher is not None:  # a new process all the same, only without the interpreter's start-up
            proc = self.launcher.spawn(["--config", str(self.config), "run"], cwd=ROOT)
        else:
            proc = subprocess.Popen([sys.executable, "-m", "agent", "--config", str(self.config), "run"],
                                    cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
        self.proc = proc
        return proc

    def wait_ready(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None and self.proc.stderr is not None
        line = self.proc.stdout.readline()
        if not line.startswith("posagent ready"):
            try:
                self.proc.wait(START_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
            err = self.proc.stderr.read() if self.proc.poll() is not None else ""
            stop_process(self.proc)
            self.proc = None
            raise StackError(f"the daemon did not start: {line.strip()!r} {err.strip()[-400:]}")

    def start(self) -> None:
        started = time.perf_counter()
        self.spawn()
        self.wait_ready()
        self.started_in = time.perf_counter() - started

    def kill(self) -> None:
        """Power cut as far as the process can tell: SIGKILL, no clean-up."""
        if self.proc is not None:
            if self.proc.poll() is None:
                os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            stop_process(self.proc)
            self.proc = None

    def kill_during_start(self, after: float) -> bool:
        """Start and SIGKILL after `after` seconds; True if it had not said "ready" yet (killed in recovery)."""
        proc = self.spawn()
        assert proc.stdout is not None  # a pipe, from Popen or the fork server
        time.sleep(after)
        readable, _, _ = select.select([proc.stdout], [], [], 0)
        self.kill()
        return not readable

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def call(self, op: str, args: dict[str, Any] | None = None, *, supervisor: bool = False,
             timeout: float = 60) -> dict[str, Any]:
        client = ControlClient(self.socket, timeout=timeout)
        return client.call(op, args or {}, password=CAMPAIGN_PASSWORD if supervisor else None)

    def call_then_kill(self, op: str, args: dict[str, Any], *, supervisor: bool, after: float) -> dict[str, Any] | None:
        """Send one request and SIGKILL the daemon `after` seconds later, whatever it is doing then."""
        reply: list[dict[str, Any] | None] = [None]

        def send() -> None:
            try:
                reply[0] = self.call(op, args, supervisor=supervisor, timeout=30)
            except (PosagentError, OSError, ValueError):
                reply[0] = None  # the connection died with the daemon

        thread = threading.Thread(target=send, daemon=True)
        thread.start()
        time.sleep(after)
        self.kill()
        thread.join(30)
        return reply[0]


def start_terminals(root: Path, host_port: int, terminal_ids: list[str], *, merchant_id: str,
                    password_hash: str, response_timeout: float = 2.0, extra: str = "") -> list[Daemon]:
    """Several daemons (tills) of one merchant against one host, each with its own terminal id and directory
    (`root/<terminal id>`); started in parallel, stopped together if one does not start."""
    from concurrent.futures import ThreadPoolExecutor

    daemons = []
    for tid in terminal_ids:
        directory = root / tid
        directory.mkdir(parents=True, exist_ok=True)
        daemon = Daemon(directory, host_port, response_timeout=response_timeout, reversal_retries=3,
                        password_hash=password_hash,
                        extra=f'[terminal]\nterminal_id = "{tid}"\nmerchant_id = "{merchant_id}"\n{extra}')
        daemons.append(daemon)
    with ThreadPoolExecutor(len(daemons)) as pool:
        results = list(pool.map(_started, daemons))
    failed = [r for r in results if r is not None]
    if failed:
        for d in daemons:
            d.stop()
        raise failed[0]
    return daemons


def _started(daemon: Daemon) -> Exception | None:
    try:
        daemon.start()
    except StackError as exc:
        return exc
    return None
