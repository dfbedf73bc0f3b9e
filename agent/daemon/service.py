"""The daemon: owns the journal (one daemon per journal, by file lock), recovers at start, then serves
operations one at a time to the control API."""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from agent.auth import PasswordGate
from agent.config import Config
from agent.daemon.cards import CardSource
from agent.daemon.interpreter import Interpreter
from agent.drivers.hostlink import HostLink, make_ssl_context
from agent.engine import chains, common, fixes, operations, settlement
from agent.engine.effects import EngineError, Outcome
from agent.engine.requests import Profile
from agent.engine.texts import say
from agent.errors import PosagentError
from agent.iso8583 import get_dialect
from agent.journal import Journal, Totals
from agent.keystore import SoftwareKeyStore
from agent.receipts import render_receipt, render_settlement_report

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
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(secrets.token_bytes(32))
        f.flush()
        os.fsync(f.fileno())
    return path.read_bytes()


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
            raise DaemonError(f"cannot lock the journal {self.path.with_suffix('')}: {exc.strerror.lower()}; "
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


@dataclass(frozen=True)
class OperationSpec:
    build: Callable[..., Any]  # (profile, args, operator) -> plan
    supervisor: bool  # needs the supervisor password
    financial: bool = True


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise EngineError(f"{what} must be a whole number", code="usage")
    return value


OPERATIONS: dict[str, OperationSpec] = {
    "sale": OperationSpec(lambda p, a, o: operations.sale(p, operations.SaleRequest(
        amount=_int(a["amount"], "amount"), test_card=a.get("card"), confirm_duplicate=bool(a.get("confirm_duplicate")),
        confirm_unusual=bool(a.get("confirm_unusual")), client_request_id=a.get("client_request_id")), o), False),
    "void": OperationSpec(lambda p, a, o: operations.void(p, operations.VoidRequest(_int(a["trace"], "trace")), o),
                          True),
    "refund": OperationSpec(lambda p, a, o: operations.refund(p, operations.RefundRequest(
        trace=a.get("trace"), rrn=a.get("rrn"), date=a.get("date"), amount=a.get("amount"),
        client_request_id=a.get("client_request_id"), confirm_repeat=bool(a.get("confirm_repeat"))), o), True),
    "correct": OperationSpec(lambda p, a, o: fixes.correct(p, fixes.CorrectRequest(
        trace=_int(a["trace"], "trace"),
        right_amount=None if a.get("resume") and a.get("amount") is None else _int(a["amount"], "amount"),
        method=a.get("method", "auto"), test_card=a.get("card"), resume=bool(a.get("resume"))), o), True),
    "duplicates_fix": OperationSpec(lambda p, a, o: fixes.fix_duplicate(
        p, fixes.DuplicateFixRequest(_int(a["id"], "id")), o), True),
    "settle": OperationSpec(lambda p, a, o: settlement.settle(p, settlement.SettleRequest(
        bool(a.get("confirm")), bool(a.get("confirm_open_chains"))), o), True),
    "signon": OperationSpec(lambda p, a, o: _signon_plan(p), False, financial=False),
    "echo": OperationSpec(lambda p, a, o: common.echo(p), False, financial=False),
}


def _signon_plan(profile: Profile):
    result = yield from common.sign_on(profile)
    return Outcome("signon", "done", f"signed on: batch {result.batch_number}, keys installed "
                                     f"(check values {', '.join(f'{k} {v}' for k, v in result.key_check_values.items())})",
                   details={"batch": result.batch_number, "key_check_values": result.key_check_values})


class Daemon:
    def __init__(self, cfg: Config, *, test_cards_path: str | None = None):
        self.cfg = cfg
        self.profile = Profile.from_config(cfg)
        self.journal_path = cfg.path("journal", "path")
        self.test_cards_path = test_cards_path
        self._lock = JournalLock(self.journal_path)
        self._op_lock = asyncio.Lock()
        self.journal: Journal | None = None
        self.link: HostLink | None = None
        self.keystore: SoftwareKeyStore | None = None
        self.interpreter: Interpreter | None = None
        self.started_at = time.time()
        self.last_recovery: Outcome | None = None

    # -- life cycle -------------------------------------------------------------------------------
    def open(self) -> None:
        """Take the journal lock and open everything; nothing is sent yet."""
        self._lock.acquire()
        try:
            self.journal_path.parent.mkdir(parents=True, exist_ok=True)
            key = load_fingerprint_key(self.cfg.path("journal", "fingerprint_key_file"))
            self.journal = Journal.open(self.journal_path, fingerprint_key=key,
                                        busy_timeout_ms=self.cfg.journal.busy_timeout_ms)
            self.keystore = SoftwareKeyStore.from_config(self.cfg)
            acq = self.cfg.acquirer
            ssl_context = make_ssl_context(acq.tls_ca_file, acq.tls_cert_file or None,
                                           acq.tls_key_file or None) if acq.tls else None
            self.dialect = get_dialect(acq.dialect)
            self.link = HostLink(acq.host, acq.port, dialect=self.dialect, tpdu=bytes.fromhex(acq.tpdu),
                                 header=bytes.fromhex(acq.header), connect_timeout=acq.connect_timeout,
                                 response_timeout=acq.response_timeout, ssl_context=ssl_context,
                                 max_frame_bytes=acq.max_frame_bytes)
            reader = self.cfg.card_reader
            cards = CardSource(reader_pattern=reader.reader, card_timeout=reader.card_timeout,
                               apdu_timeout=reader.apdu_timeout, terminal_id=self.cfg.terminal.terminal_id,
                               currency=self.cfg.terminal.currency, test_cards_path=self.test_cards_path,
                               language=self.cfg.terminal.language)
            self.interpreter = Interpreter(journal=self.journal, link=self.link, keystore=self.keystore,
                                           dialect=self.dialect, cards=cards,
                                           signon_max_age=self.profile.signon_max_age_seconds)
        except BaseException:
            self.close_sync()
            raise

    async def recover(self) -> Outcome:
        """Resolve what the journal reports in doubt (reversals, an interrupted settlement)."""
        async with self._op_lock:
            self.last_recovery = await self.interpreter.run(settlement.recover(self.profile))
        log.info("recovery: %s", self.last_recovery.message)
        return self.last_recovery

    async def retry_reversals(self) -> Outcome:
        """Send the pending reversals now (the technician's or supervisor's "retry"), and say what happened."""
        def plan():
            yield from common.connect(self.profile)
            acknowledged, exhausted = yield from common.flush_reversals(self.profile)
            if exhausted:
                traces = ", ".join(f"{r.trace:06d}" for r in exhausted)
                return Outcome("reversals", "needs_manual",
                               f"{len(acknowledged)} reversal(s) acknowledged; {len(exhausted)} could not be "
                               f"delivered and now need manual handling (trace {traces}): call the acquirer",
                               details={"acknowledged": len(acknowledged), "needs_manual": len(exhausted)})
            if not acknowledged:
                return Outcome("reversals", "done", "no reversal was pending")
            return Outcome("reversals", "done", f"{len(acknowledged)} reversal(s) sent and acknowledged",
                           details={"acknowledged": len(acknowledged)})

        async with self._op_lock:
            return await self.interpreter.run(plan())

    async def close(self) -> None:
        if self.link is not None:
            await self.link.close()
        self.close_sync()

    def close_sync(self) -> None:
        if self.journal is not None:
            self.journal.close()
            self.journal = None
        self._lock.release()

    # -- operations -------------------------------------------------------------------------------
    def supervisor_gate(self) -> PasswordGate:
        sup = self.cfg.supervisor
        return PasswordGate("supervisor", sup.password_hash, self.journal, clock=time.time,
                            max_attempts=sup.max_attempts, lockout_minutes=sup.lockout_minutes,
                            on_event=lambda kind, details: self.journal.record_event(
                                kind, details, operator="supervisor", role="supervisor"))

    async def perform(self, op: str, args: dict[str, Any], *, password: str | None = None,
                      operator: str | None = None, notify: Callable[[str], None] | None = None) -> Outcome:
        spec = OPERATIONS.get(op)
        if spec is None:
            raise EngineError(f"unknown operation {op!r} (known: {', '.join(sorted(OPERATIONS))})", code="usage")
        needs_password = spec.supervisor and not (op == "settle" and not args.get("confirm"))
        if needs_password:
            self.supervisor_gate().check(password)
        who = operations.Operator(name=operator or ("supervisor" if needs_password else "cashier"),
                                  role="supervisor" if needs_password else "cashier")
        try:
            plan = spec.build(self.profile, args, who)
        except KeyError as exc:
            raise EngineError(f"{op} needs {exc.args[0]}", code="usage") from None
        async with self._op_lock:
            self.interpreter.notify = notify or (lambda text: None)
            started = time.perf_counter()
            outcome = await self.interpreter.run(plan)
            elapsed = time.perf_counter() - started
            if op == "settle" and outcome.status == "done":
                self._prune_old_batches()
        details = dict(outcome.details)
        details["elapsed_ms"] = round(elapsed * 1000, 2)
        return Outcome(outcome.operation, outcome.status, outcome.message, txn=outcome.txn, steps=outcome.steps,
                       details=details)

    def _prune_old_batches(self) -> None:
        """Retention: after each settlement, a few batches past `[journal] retention_days` go (bounded)."""
        try:
            removed = self.journal.prune(retention_days=self.cfg.journal.retention_days, max_batches=10)
        except PosagentError as exc:  # retention must never fail a settlement that is already done
            log.warning("retention: %s", exc)
            return
        if removed:
            log.info("retention: pruned %d transaction(s) of batches settled over %d days ago",
                     removed, self.cfg.journal.retention_days)

    def settlement_report(self, details: dict) -> str:
        t = self.cfg.terminal
        return render_settlement_report(
            batch=details["batch"], totals=Totals(**details["totals"]), result=details["result"],
            uploaded=details["uploaded"], next_batch=details["next_batch"], settled_at=details["settled_at"],
            merchant_name=t.merchant_name, terminal_id=t.terminal_id, merchant_id=t.merchant_id,
            width=t.receipt_width, language=t.language, exponent=t.currency_exponent)

    def receipts(self, txn: Any, *, reprint: bool = False) -> dict[str, str]:
        t = self.cfg.terminal
        original = self.journal.get(txn.original_id) if txn.original_id else None
        common_args = dict(merchant_name=t.merchant_name, terminal_id=t.terminal_id, merchant_id=t.merchant_id,
                           width=t.receipt_width, language=t.language, exponent=t.currency_exponent,
                           original_trace=original.trace if original else None, reprint=reprint,
                           original_card=original.pan_masked if original else None)
        return {copy: render_receipt(txn, copy=copy, **common_args) for copy in ("merchant", "customer")}

    def open_chains(self) -> list[dict[str, Any]]:
        """Every multi-step fix still open, with where its money stands and the action that finishes it."""
        return [chains.summary(self.profile, chain, self.journal.get(chain.original_id),
                               self.journal.chain_txns(chain.id)) for chain in self.journal.open_chains()]

    def close_chain(self, chain_id: Any, reason: Any) -> dict[str, Any]:
        """The supervisor ends an open fix on purpose; the reason is journaled."""
        chain_id = _int(chain_id, "chain id")
        if not isinstance(reason, str) or not reason.strip():
            raise EngineError("closing a chain needs --reason: what was done instead (e.g. \"customer paid cash\")",
                              code="usage")
        chain = self.journal.get_chain(chain_id)
        language = self.profile.language
        if chain.state != "open":
            raise EngineError(say(language, "chain_not_open", id=chain_id, state=chain.state), code="not_open")
        closed = self.journal.end_chain(chain_id, "closed", reason=reason, operator="supervisor", role="supervisor")
        return {"chain": closed.as_dict(), "message": say(language, "chain_closed", id=chain_id, reason=closed.reason)}

    def status(self) -> dict[str, Any]:
        recovery = self.journal.in_doubt()
        batch = self.journal.open_batch()
        age = self.keystore.keys_age() if self.keystore.has_keys else None
        return {
            "link": {"host": self.cfg.acquirer.host, "port": self.cfg.acquirer.port,
                     "connected": self.link.connected, "tls": self.cfg.acquirer.tls},
            "keys": {"installed": self.keystore.has_keys, "check_values": self.keystore.key_check_values(),
                     "age_seconds": round(age) if age is not None else None},
            "batch": {"number": batch.number, "state": batch.state,
                      "transactions": self.journal.batch_size(batch.number)},
            "reversals": {"pending": len(recovery.pending_reversals), "needs_manual": len(recovery.needs_manual)},
            "journal": {"path": str(self.journal_path), "in_doubt": len(recovery.unanswered) + len(recovery.in_doubt),
                        "settling": recovery.settling.number if recovery.settling else None},
            "chains": {"open": self.open_chains()},
            "supervisor_locked_for_s": round(self.supervisor_gate().locked_for()),
            "uptime_s": round(time.time() - self.started_at, 1),
        }
