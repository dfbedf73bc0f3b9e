"""Carry a campaign plan out against the real host and the real daemon, then check.

Each step arms its host fault, sends its operation through the control API (as a cash register
would), and for a kill step SIGKILLs the daemon in flight and restarts it (start-up recovery runs
before "ready").  A plan with power cuts puts the journal (and the files beside it: working keys, console
lock) on the power-cut filesystem; a power-cut step kills the daemon, drops every unsynced write (just
before the operation's N-th fsync, or at a random moment), mounts the disk again and restarts.  At checkpoints and at the end the faults stop, pending reversals and an interrupted
settlement are retried, and the checker compares the bank's ledger with the journal.  What each step
sends, and what the cashier remembers, is `simulator.chaos.cashier`; one terminal is run here, several side
by side in `simulator.chaos.terminals`.
"""

from __future__ import annotations

import sqlite3
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from agent.errors import PosagentError
from simulator.chaos.cashier import SETTLE, SUPERVISOR_OPS, Cashier
from simulator.chaos.checker import CheckResult, check
from simulator.chaos.plan import POWER_MODES, START_WINDOW, Step
from simulator.chaos.violation import Violation
from simulator.chaos.wallet import DAEMON_SETTINGS, CodeIssuer, kill_delay
from simulator.powercut.mount import PowercutMount
from agent.drivers.pcsc import CardReader
from simulator.card import VirtualCard
from simulator.stack import Daemon, Host, daemon_fork_server, start_pcscd, stop_process, write_soak_cards
from simulator.testcards import load_cards

#: how many rounds of "retry reversals / resume settlement" a quiet host gets before it counts as unresolved
QUIESCE_ROUNDS = 20
#: store-and-forward for a plan with outage windows: the chip card read through pcscd (slot 1, the virtual
#: card), the limits small enough that a window reaches them, the link down at the first failure, the
#: stored sales forwarded 2 s after the line is back; `floor_limit` (under [emv]) keeps the card's TVR clean
OFFLINE_READER, OFFLINE_PORT = "Virtual PCD 00 01", 35964
OFFLINE_SETTINGS = """floor_limit = 100000
[offline]
enabled = true
max_amount = "500.00"
max_total = "3000.00"
max_count = 8
retry_seconds = 2
after_unanswered = 1
[card_reader]
reader = "Virtual PCD 00 01"
card_timeout = 10
"""
OUTAGE = "outage:seconds=3600"  # ended by the window's end (`posim host fault clear`), never by itself


@dataclass
class Tally:
    operations: Counter[str] = field(default_factory=Counter)   # op → how many were sent
    outcomes: Counter[str] = field(default_factory=Counter)     # "op status" or "op error:code"
    faults_armed: Counter[str] = field(default_factory=Counter)  # fault kind → rules armed
    faults_injected: dict[str, int] = field(default_factory=dict)    # fault kind → times the host applied one
    kills: Counter[str] = field(default_factory=Counter)         # kill mode → count
    kill_windows: Counter[str] = field(default_factory=Counter)  # where the journal shows a kill landed
    power_cuts: Counter[str] = field(default_factory=Counter)    # "before fsync N" / "after the operation" / "random"
    error_samples: dict[str, str | None] = field(default_factory=dict)  # "op error:code" → the first message seen
    outages: int = 0  # windows with the line to the bank cut
    stored: int = 0  # chip sales approved with the card and stored while the bank could not be reached
    recoveries: int = 0
    checkpoints: int = 0
    elapsed: float = 0.0


@dataclass(frozen=True)
class RunResult:
    steps: int
    tally: Tally
    violations: tuple[Violation, ...]
    last_check: CheckResult | None

    @property
    def ok(self) -> bool:
        return not self.violations


class Campaign:
    def __init__(self, directory: Path, *, response_timeout: float = 0.4, reversal_retries: int = 10,
                 checkpoint_every: int = 0, progress: Callable[[str], None] | None = None,
                 tail_check_at_start: bool = False):
        self.directory = directory
        self.response_timeout = response_timeout
        self.reversal_retries = reversal_retries
        self.checkpoint_every = checkpoint_every
        # the restarted daemon checks only the chain's tail before serving, not the whole journal in a
        # worker thread (which a long run's next cut interrupts anyway); the checker checks it all at
        # every checkpoint
        self.tail_check_at_start = tail_check_at_start
        self.progress = progress or (lambda text: None)
        self.tally = Tally()
        self.violations: list[Violation] = []
        self.cashier = Cashier()
        self._last_check: CheckResult | None = None
        self.disk: PowercutMount | None = None  # the power-cut filesystem, when the plan has power cuts
        self._offline = False  # the plan has outage windows: store-and-forward on, sales in them by chip
        self._line_cut = False  # the host's outage fault is on now
        self._stored: list[tuple[int, int]] = []  # (batch, trace) of every sale the daemon said it stored
        self._pcscd: subprocess.Popen[bytes] | None = None  # the pcscd this campaign started (None: one was running, or no outages)

    # ----------------------------------------------------------------------------------- running
    def run(self, steps: tuple[Step, ...]) -> RunResult:
        self.directory.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        journal_path = None
        if any(step.kill in POWER_MODES for step in steps):
            self.disk = disk = PowercutMount.start(self.directory / "powercut")
            journal_path = disk.mountpoint / "journal.db"
            for suffix in ("", "-wal", "-shm"):  # the checker reads the journal beside the ledger
                link = self.directory / f"journal.db{suffix}"
                if not link.is_symlink():
                    link.symlink_to(disk.mountpoint / f"journal.db{suffix}")
        self._offline = any(step.outage for step in steps)
        extra = DAEMON_SETTINGS
        if self._offline:
            self._pcscd = start_pcscd()  # the one running, or ours (stopped at the end)
            extra = OFFLINE_SETTINGS + extra
        self.host = Host.start(self.directory, cards=write_soak_cards(self.directory))
        # every (re)start is a new daemon process that opens and recovers everything; the fork server
        # only spares it the interpreter's start-up and imports (most of a restart's cost)
        self.launcher = daemon_fork_server()
        self.cashier.codes = CodeIssuer(self.host.db)
        self.daemon = Daemon(self.directory, self.host.port, response_timeout=self.response_timeout,
                             reversal_retries=self.reversal_retries, journal_path=journal_path, launcher=self.launcher,
                             check_whole_at_start=not self.tail_check_at_start, extra=extra)
        try:
            self.daemon.start()
            for done, step in enumerate(steps, 1):
                self._step(step)
                if self.checkpoint_every and done % self.checkpoint_every == 0 and done < len(steps):
                    self._checkpoint(f"after {done} operations")
                    self.progress(f"{done}/{len(steps)} operations, {sum(self.tally.kills.values())} kills "
                                  f"({sum(self.tally.power_cuts.values())} power cuts), "
                                  f"{len(self.violations)} violations, {time.perf_counter() - started:.0f} s")
            self.tally.faults_injected = dict(self.host.control(op="stats").get("faults") or {})
            self._checkpoint("at the end")
        finally:
            self.daemon.stop()
            self.launcher.stop()
            if self.cashier.codes is not None:
                self.cashier.codes.close()
            self.host.stop()
            if self.disk is not None:
                self.disk.stop()
            if self._pcscd is not None:
                stop_process(self._pcscd)
            self.tally.elapsed = time.perf_counter() - started
        return RunResult(len(steps), self.tally, tuple(self.violations), self._last_check)

    def _step(self, step: Step) -> None:
        if not self.daemon.alive:
            self.violations.append(Violation("crash", f"the daemon died on its own before step {step.describe()}"))
            self._restart()
        if step.outage != self._line_cut:  # a window begins (the line is cut) or ends (the line is back)
            if step.outage:
                self.host.fault(OUTAGE)
                self.tally.outages += 1
            else:
                self.host.clear_faults()
            self._line_cut = step.outage
        if step.fault:  # aimed at the advice's 0220 where the completion goes as an advice
            fault = step.fault.replace("mti=0200", "mti=0220") if self.cashier.completes_by_advice(step) else step.fault
            self.host.fault(fault)
            self.tally.faults_armed[step.fault.split(":")[0]] += 1
        op, args = self.cashier.request(step, self.daemon)
        self.tally.operations[f"{op} advice" if args.get("advice") else op] += 1
        supervisor = op in SUPERVISOR_OPS
        chip = None
        if step.outage and op == "sale":  # the bank is cut off: the card is read by its chip (a named one is refused)
            args = {k: v for k, v in args.items() if k != "card"}
            chip = VirtualCard(load_cards()[step.card], OFFLINE_PORT).start()
        try:
            self._send(step, op, args, supervisor)
        finally:
            if chip is not None:
                chip.remove()
                CardReader(OFFLINE_READER, card_timeout=10).wait_for_removal(10)  # the next card is a new one
        if self._offline:
            self._check_limits(step)

    def _check_limits(self, step: Step) -> None:
        """What is stored offline never exceeds the merchant's limits (the journal's count, via `status`)."""
        try:
            offline = self.daemon.call("status")["result"]["offline"]
        except (PosagentError, KeyError, TypeError):
            return  # a daemon killed by this step: the next step's check reads the restarted one
        limits = offline["limits"]
        if offline["stored"] > limits["max_count"] or offline["amount"] > limits["max_total"]:
            self.violations.append(Violation("offline_limit", f"after {step.describe()}: {offline['stored']} sales, "
                                                              f"{offline['amount']} stored offline, beyond the limits "
                                                              f"{limits}"))

    def _send(self, step: Step, op: str, args: dict[str, Any], supervisor: bool) -> None:
        if step.kill is not None and step.kill in POWER_MODES:
            self._power_cut(step, step.kill, op, args, supervisor)
            return
        if step.kill is None:
            try:
                reply = self.daemon.call(op, args, supervisor=supervisor)
            except PosagentError as exc:
                self.violations.append(Violation("crash", f"{step.describe()}: no answer from the daemon ({exc})"))
                self.daemon.kill()
                self._restart()
                return
            self._learn(step, op, args, reply)
            return
        self.tally.kills[step.kill] += 1
        answered = self.daemon.call_then_kill(op, args, supervisor=supervisor,
                                              after=kill_delay(op, step.card, step.kill, step.kill_after))
        if answered is not None:
            self._learn(step, op, args, answered)
        self.tally.kill_windows[self._kill_window()] += 1
        if step.kill == "in_recovery":  # and once more while the restarted daemon recovers
            # the moment was drawn over a cold start (START_WINDOW); a start through the fork server is
            # shorter, so it is mapped onto the start this daemon takes, to land before "ready" as often
            after = step.kill_after * min(1.0, self.daemon.started_in / START_WINDOW)
            if self.daemon.kill_during_start(after):
                self.tally.kill_windows["during start-up recovery"] += 1
        self._restart()

    def _power_cut(self, step: Step, kill: str, op: str, args: dict[str, Any], supervisor: bool) -> None:
        """Send the operation; the power fails before its `cut_at`-th fsync (or after a random sleep): the
        daemon dies, unsynced data is gone, the disk is mounted again and the daemon restarted."""
        self.tally.kills[kill] += 1
        disk = self._powercut_disk()
        reply: list[dict[str, Any] | None] = [None]
        over = threading.Event()  # the operation answered, or the armed cut came

        def send() -> None:
            try:
                reply[0] = self.daemon.call(op, args, supervisor=supervisor, timeout=30)
            except (PosagentError, OSError, ValueError):
                reply[0] = None  # the connection died with the daemon
            finally:
                over.set()

        if step.kill == "power_fsync":
            cuts = disk.cut_at("fsync", step.cut_at, tear=step.tear)
            threading.Thread(target=self._await_cut, args=(cuts, over), daemon=True).start()
        thread = threading.Thread(target=send, daemon=True)
        thread.start()
        if step.kill == "power_random":
            thread.join(step.kill_after)
        else:
            over.wait(30)
        self.daemon.kill()
        thread.join(30)
        if reply[0] is not None:
            self._learn(step, op, args, reply[0])
        landed = disk.power_cut(step.tear)
        self.tally.power_cuts[f"{op}: " + (f"before fsync {step.cut_at}" if landed else "after the operation"
                                           if step.kill == "power_fsync" else "at a random moment")] += 1
        self.tally.kill_windows[f"power cut {self._kill_window()}"] += 1
        self._restart()

    def _await_cut(self, cuts: int, over: threading.Event) -> None:
        """Set `over` when the disk's power goes (it always does: `power_cut` cuts it if the fault did not)."""
        try:
            self._powercut_disk().wait_cut(cuts, 30)
        except (PosagentError, OSError, ValueError):
            pass
        finally:
            over.set()

    def _powercut_disk(self) -> PowercutMount:
        """The power-cut filesystem (mounted by `run` for a plan with power cuts: only their steps ask)."""
        if self.disk is None:
            raise PosagentError("a power cut was asked of a campaign run without the power-cut filesystem")
        return self.disk

    def _restart(self) -> None:
        try:
            self.daemon.start()
        except PosagentError as exc:
            self.violations.append(Violation("crash", f"the daemon would not restart: {exc}"))
            raise
        self.tally.recoveries += 1

    def _learn(self, step: Step, op: str, args: dict[str, Any], reply: dict[str, Any]) -> None:
        self.cashier.learn(step, op, args, reply)
        error: dict[str, Any] = reply.get("error") or {}
        code = error.get("code", "?")
        if not reply.get("ok"):
            self.tally.outcomes[f"{op} error:{code}"] += 1
            self.tally.error_samples.setdefault(f"{op} error:{code}", error.get("message"))
            if code == "internal":
                self.violations.append(Violation("crash", f"{step.describe()}: internal error in the daemon: "
                                                          f"{reply['error'].get('message')}"))
            return
        outcome = reply["outcome"]
        self.tally.outcomes[f"{op} {outcome['status']}"] += 1
        txn: dict[str, Any] = outcome.get("txn") or {}
        if outcome["status"] == "approved" and (outcome.get("details") or {}).get("arc") == "Y3":
            self.tally.stored += 1  # approved by the card while the bank could not be reached: must reach it
            self._stored.append((txn["batch"], txn["trace"]))

    def _kill_window(self) -> str:
        """Where the journal says the kill landed (read before the restart resolves it)."""
        conn = sqlite3.connect(f"{(self.directory / 'journal.db').resolve().as_uri()}?mode=ro", uri=True, timeout=10)
        try:
            if conn.execute("SELECT 1 FROM batches WHERE state = 'settling'").fetchone():
                return "inside settlement or batch upload"
            row = conn.execute("SELECT t.trace, b.number, t.id FROM transactions t JOIN batches b ON b.id = t.batch_id "
                               "WHERE t.state = 'sending' ORDER BY t.id DESC LIMIT 1").fetchone()
            if conn.execute("SELECT 1 FROM reversals WHERE state = 'pending' LIMIT 1").fetchone() and row is None:
                return "with a reversal queued"
            if row is not None and conn.execute(  # among the last events only: the kill came just after it
                    "SELECT 1 FROM events WHERE id > (SELECT max(id) - 50 FROM events) AND txn_id = ? "
                    "AND kind = 'wallet.paying'", (row[2],)).fetchone():
                return "while the customer confirms on the phone"
        finally:
            conn.close()
        if row is None:
            return "outside a request"
        host = sqlite3.connect(f"{self.host.db.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
        try:
            seen = host.execute("SELECT 1 FROM txns WHERE stan = ? AND batch = ?",
                                (f"{row[0]:06d}", f"{row[1]:06d}")).fetchone()
        finally:
            host.close()
        return "between send and outcome" if seen else "between journal intent and the host"

    # ----------------------------------------------------------------------------------- checking
    def quiesce(self) -> None:
        """Faults stop (an outage too); reversals are retried, what is stored offline forwarded and an interrupted
        settlement resumed until nothing is owed."""
        self.host.clear_faults()
        self._line_cut = False
        if not self.daemon.alive:
            self._restart()
        for _ in range(QUIESCE_ROUNDS):
            status = self.daemon.call("status")["result"]
            down = status["link"].get("state") == "down"
            if not status["reversals"]["pending"] and status["journal"]["settling"] is None \
                    and not status["journal"]["in_doubt"] and not status["advices"]["pending"] and not down:
                return
            if down or status["advices"]["pending"]:  # an echo sends what is owed first; answered, the link is up
                self.daemon.call("echo")
            self.daemon.call("reversal_retry")
            if status["journal"]["settling"] is not None:
                self.daemon.call("settle", dict(SETTLE), supervisor=True)

    def _checkpoint(self, when: str) -> None:
        self.quiesce()
        result = check(self.directory, codes=self.cashier.codes.codes if self.cashier.codes else (), stored=tuple(self._stored))
        self.tally.checkpoints += 1
        self._last_check = result
        for v in result.violations:
            self.violations.append(Violation(v.rule, f"{when}: {v.detail}", v.journal_rows, v.ledger_rows))
