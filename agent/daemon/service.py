"""The daemon: owns the journal (one daemon per journal, by file lock), recovers at start, then serves
operations one at a time to the control API.

Here: the daemon's parts (journal, link, key store, card source, interpreter, wallet) opened and closed, the
recovery at start, and `Daemon.perform`, which runs one operation under the operation lock.  Beside it:
`agent.daemon.startup` (what is checked and held before serving: the lock, the key, the journal's integrity),
`agent.daemon.gates` (the passwords), `agent.daemon.background` (what runs with no caller waiting: the sender
of what is owed, the scheduled parameter check, the office shipper) and `agent.daemon.queries` (the
operations answered at once, `status` among them)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any, Callable, Mapping, TypeVar

from agent import registry
from agent.config import Config
from agent.daemon import apispec, background, gates, offswitch
from agent.daemon.cards import CardSource
from agent.daemon.interpreter import Interpreter
from agent.daemon.startup import DaemonError, JournalLock, integrity_problem, load_fingerprint_key, make_private
from agent.daemon.walletfx import WalletEffects
from agent.drivers.cardseal import CardSealer
from agent.drivers.hostlink import HostLink
from agent.engine import common, purchases, settlement
from agent.engine.card import store_forward
from agent.engine.effects import EngineError, Outcome, Plan
from agent.engine.receipts import render_receipt, render_settlement_report
from agent.engine.requests import Profile
from agent.engine.texts import say
from agent.engine.wallet.messages import WalletSettings
from agent.engine.wallet.plans import resume_after_restart
from agent.errors import PosagentError
from agent.iso8583 import get_dialect
from agent.journal import Journal, Totals, Txn, integrity
from agent.journal.errors import StorageError
from agent.keys.store import SoftwareKeyStore
from agent.operation import Operation
from agent.tls import make_ssl_context

if TYPE_CHECKING:  # the office's modules load only while [office] url is set
    from agent.office.shipper import OfficeShipper

log = logging.getLogger("posagent.daemon")

T = TypeVar("T")


def _opened(part: T | None, what: str) -> T:
    """A part `Daemon.open` makes (the journal, the link, ...): asked for before it, one line."""
    if part is None:
        raise DaemonError(f"the daemon is not open: it has no {what}")
    return part


class Daemon:
    def __init__(self, cfg: Config, *, test_cards_path: str | None = None):
        self.cfg = cfg
        self.profile = Profile.from_config(cfg)
        self.journal_path = cfg.path("journal", "path")
        self.test_cards_path = test_cards_path
        self._lock = JournalLock(self.journal_path)
        self._op_lock = asyncio.Lock()
        self._journal: Journal | None = None
        self._link: HostLink | None = None
        self._keystore: SoftwareKeyStore | None = None
        self._interpreter: Interpreter | None = None
        self.started_at = time.time()
        self.last_recovery: Outcome | None = None
        self.integrity_problem: str | None = None  # set when the hash chain is found broken: no new money moves
        self.wallet: WalletEffects | None = None
        self.shipper: OfficeShipper | None = None  # while [office] url is set
        self._wallet_settings: WalletSettings | None = None
        self.scan_timeout = float(cfg.scanner.scan_timeout)

    # -- what `open` makes: asked for before it, a `DaemonError` -----------------------------------------
    @property
    def journal(self) -> Journal:
        return _opened(self._journal, "journal")

    @property
    def link(self) -> HostLink:
        return _opened(self._link, "link to the acquirer")

    @property
    def keystore(self) -> SoftwareKeyStore:
        return _opened(self._keystore, "key store")

    @property
    def interpreter(self) -> Interpreter:
        return _opened(self._interpreter, "interpreter")

    @property
    def wallet_settings(self) -> WalletSettings:
        return _opened(self._wallet_settings, "wallet settings")

    # -- life cycle -------------------------------------------------------------------------------
    def open(self) -> None:
        """Take the journal lock and open everything; nothing is sent yet."""
        self._lock.acquire()
        try:
            self.journal_path.parent.mkdir(parents=True, exist_ok=True)
            make_private(*(self.journal_path.with_name(self.journal_path.name + suffix)
                           for suffix in ("", "-wal", "-shm")), self.cfg.path("journal", "fingerprint_key_file"),
                         *([self.cfg.path("daemon", "log_file")] if self.cfg.daemon.log_file else []))
            key = load_fingerprint_key(self.cfg.path("journal", "fingerprint_key_file"))
            journal = self._journal = Journal.open(self.journal_path, fingerprint_key=key,
                                                   busy_timeout_ms=self.cfg.journal.busy_timeout_ms)
            self.integrity_problem = integrity_problem(integrity.check_tail(self.journal_path), "the chain's tail")
            keystore = self._keystore = SoftwareKeyStore.from_config(self.cfg)
            acq = self.cfg.acquirer
            ssl_context = make_ssl_context(acq.tls_ca_file, acq.tls_cert_file or None,
                                           acq.tls_key_file or None) if acq.tls else None
            self.dialect = get_dialect(acq.dialect)
            link = self._link = HostLink(acq.host, acq.port, dialect=self.dialect, tpdu=bytes.fromhex(acq.tpdu),
                                         header=bytes.fromhex(acq.header), connect_timeout=acq.connect_timeout,
                                         response_timeout=acq.response_timeout, ssl_context=ssl_context,
                                         max_frame_bytes=acq.max_frame_bytes, language=self.cfg.terminal.language)
            reader = self.cfg.card_reader
            cards = CardSource(reader_pattern=reader.reader, card_timeout=reader.card_timeout,
                               apdu_timeout=reader.apdu_timeout, terminal_id=self.cfg.terminal.terminal_id,
                               currency=self.cfg.terminal.currency,
                               test_cards_path=self.test_cards_path or reader.test_cards or None,
                               emv=self.cfg.emv, language=self.cfg.terminal.language,
                               pin_cipher=keystore.pin_block, sealer=CardSealer(key))
            cards.use_params(journal.params_in_force())  # a downloaded chip parameter set beats the files
            self.wallet = self._open_wallet()
            interpreter = self._interpreter = Interpreter(
                journal=journal, link=link, keystore=keystore, dialect=self.dialect, cards=cards,
                signon_max_age=self.profile.signon_max_age_seconds, wallet=self.wallet)
            if self.profile.offline is not None:
                interpreter.health.after_unanswered = self.profile.offline.after_unanswered
                interpreter.health.retry_seconds = float(self.cfg.offline.retry_seconds)
            offswitch.restore(self)  # switched offline by the supervisor before the restart: still so
            self.shipper = background.start_shipper(self)
        except BaseException:
            self.close_sync()
            raise

    def _open_wallet(self) -> WalletEffects:
        scanner_cfg = self.cfg.scanner
        self._wallet_settings = WalletSettings.from_config(self.cfg, self.dialect)
        scanner, problem = None, None
        if scanner_cfg.port:
            from agent.drivers.scanner import Scanner, ScannerError
            try:
                scanner = Scanner.open(scanner_cfg.port, scanner_cfg.baudrate,
                                       partial_timeout=float(scanner_cfg.partial_timeout))
            except ScannerError as exc:  # cards and typed codes still work without the scanner
                problem = f"{exc}: type the code instead (posagent sale AMOUNT --code DIGITS)"
                log.warning("%s", problem)
        return WalletEffects(scanner, problem=problem)

    @property
    def wallet_entry_mode(self) -> str:
        """Field 22 of a payment-code sale: what tells them from card sales in the batch totals."""
        settings = self._wallet_settings
        return settings.entry_mode if settings is not None else WalletSettings.entry_mode

    def wallet_cancel(self) -> bool:
        """The cashier's CANCEL while a payment-code sale waits: cancel it safely (the engine does)."""
        if self.wallet is None:
            return False
        self.wallet.cancel()
        return True

    async def recover(self) -> Outcome:
        """Resolve what the journal reports in doubt (reversals, an interrupted settlement)."""
        async with self._op_lock:
            # a wallet sale killed while the customer confirmed: ask the bank once before cancelling it
            await self.interpreter.run(resume_after_restart(self.profile, self.wallet_settings))
            self.last_recovery = await self.interpreter.run(settlement.recover(self.profile))
        if self.integrity_problem:  # "nothing in doubt" must not read as "the journal is fine"
            log.error("recovery: %s, but %s", self.last_recovery.message, self.integrity_problem)
        else:
            log.info("recovery: %s", self.last_recovery.message)
        return self.last_recovery

    async def retry_reversals(self) -> Outcome:
        """Send the pending reversals now (the technician's or supervisor's "retry"), and say what happened."""
        def plan() -> Plan:
            yield from common.connect(self.profile)
            acknowledged, exhausted = yield from common.flush_reversals(self.profile)
            if exhausted:
                traces = ", ".join(f"{r.trace:06d}" for r in exhausted)
                return Outcome("reversals", "needs_manual",
                               say(self.profile.language, "reversals_manual", acknowledged=len(acknowledged),
                                   count=len(exhausted), traces=traces),
                               details={"acknowledged": len(acknowledged), "needs_manual": len(exhausted)})
            if not acknowledged:
                return Outcome("reversals", "done", say(self.profile.language, "reversals_none"))
            return Outcome("reversals", "done", say(self.profile.language, "reversals_sent", count=len(acknowledged)),
                           details={"acknowledged": len(acknowledged)})

        async with self._op_lock:
            return await self.interpreter.run(plan())

    async def close(self) -> None:
        if self._link is not None:
            await self._link.close()
        self.close_sync()

    def close_sync(self) -> None:
        if self.shipper is not None:
            self.shipper.stop(timeout=5.0)
            self.shipper = None
        if self.wallet is not None:
            self.wallet.close()
            self.wallet = None
        if self._journal is not None:
            self._journal.close()
            self._journal = None
        self._lock.release()

    # -- operations -------------------------------------------------------------------------------
    @property
    def operation_lock(self) -> asyncio.Lock:
        """Held while an operation runs: what must not happen in the middle of one waits for it."""
        return self._op_lock

    async def perform(self, op: str, args: dict[str, Any], *, password: str | None = None,
                      operator: str | None = None, notify: Callable[[str], None] | None = None,
                      authorized: str | None = None, caller_gone: Callable[[], bool] | None = None) -> Outcome:
        """Run one engine operation (a registry row of kind "plan"); `authorized` is the role already
        checked by the caller (else checked here).  `caller_gone` tells whether the caller has left: a
        request still waiting for the operation lock when its caller left is dropped (and journaled), never
        run for nobody; one that has started runs to its end."""
        row = registry.get(op)
        if row is None or row.kind != "plan":
            plans = sorted(name for name, r in registry.OPERATIONS.items() if r.kind == "plan")
            raise EngineError(f"unknown operation {op!r} (known: {', '.join(plans)})", code="usage")
        if authorized is None:
            args = apispec.validate(op, args)
            authorized = gates.authorize(self, op, args, password)
        if self.integrity_problem and row.journaled:
            raise EngineError(self.integrity_problem, code="journal_damaged")
        down = self.interpreter.health.down_reason
        queues = bool(row.offline_with and args.get(row.offline_with))  # e.g. a completion as an advice
        refused = store_forward.refusal(self.profile, op, row.offline, down) if down and not queues else None
        if refused is not None:  # store-and-forward on and the bank unreachable: nothing is queued for it
            raise refused
        who = purchases.Operator(name=operator or authorized, role=authorized)
        args = dict(args)
        pin = args.pop("pin", None)  # for the PIN pad only: plans, the journal and logs never see it
        plan = row.function()(self, args, who)
        queued_at = time.perf_counter()
        async with self._op_lock:
            if caller_gone is not None and caller_gone():
                self._abandoned(row, args, who, waited_s=time.perf_counter() - queued_at)
            self.interpreter.notify = notify or (lambda text: None)
            if self.wallet is not None:
                self.wallet.arm()
            started = time.perf_counter()
            pin_pad = self.interpreter.cards.pin_pad
            sent_before = self.interpreter.requests_sent
            try:
                pin_pad.load(pin)
                outcome = await self.interpreter.run(plan)
            except StorageError as exc:
                if not row.money or self.interpreter.requests_sent == sent_before:
                    raise  # nothing reached the bank: the journal's own words are true
                outcome = self._unrecorded(op, exc)
            finally:
                pin_pad.wipe()
            elapsed = time.perf_counter() - started
            if op == "settle" and outcome.status == "done":
                self._prune_old_batches()
        details = dict(outcome.details)
        details["elapsed_ms"] = round(elapsed * 1000, 2)
        return Outcome(outcome.operation, outcome.status, outcome.message, txn=outcome.txn, steps=outcome.steps,
                       details=details)

    def _unrecorded(self, op: str, exc: StorageError) -> Outcome:
        """A money operation whose journal write failed after a request went to the bank (e.g. the journal
        locked by another process when the answer came): the card may be charged, and the request, journaled
        before it was sent, is reversed by the next operation that finds the journal writable."""
        log.error("%s: outcome unknown, the journal could not record it: %s", op, exc)
        # the journal's text ends "...: cannot WHAT: WHY; no new transactions...": only WHY is true here
        why = str(exc).split("; no new transactions", 1)[0].rsplit(": ", 1)[-1]
        return Outcome(op, "in_doubt", say(self.profile.language, "unrecorded", why=why),
                       details={"journal_error": why})

    def _abandoned(self, row: Operation, args: dict[str, Any], who: purchases.Operator, *,
                   waited_s: float) -> None:
        """Journal a request whose caller left while it waited its turn, and refuse it: nothing was sent."""
        facts = {name: value for name, value in args.items() if name in row.args and not row.args[name].secret}
        log.warning("%s dropped: its caller left after %.1f s waiting for the operation before it", row.name, waited_s)
        self.journal.record_event("request_abandoned", {"op": row.name, "args": facts, "waited_s": round(waited_s, 2)},
                                  operator=who.name, role=who.role)
        raise EngineError(say(self.profile.language, "abandoned", operation=row.name), code="abandoned")

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

    def settlement_report(self, details: Mapping[str, Any]) -> str:
        t = self.cfg.terminal
        return render_settlement_report(
            batch=details["batch"], totals=Totals(**details["totals"]), result=details["result"],
            by_payment=details.get("by_payment"), moved=details.get("moved"),
            uploaded=details["uploaded"], next_batch=details["next_batch"], settled_at=details["settled_at"],
            merchant_name=t.merchant_name, terminal_id=t.terminal_id, merchant_id=t.merchant_id,
            width=t.receipt_width, language=t.language, exponent=t.currency_exponent)

    def receipts(self, txn: Txn, *, reprint: bool = False) -> dict[str, str]:
        t = self.cfg.terminal
        original = self.journal.get(txn.original_id) if txn.original_id else None
        # a refund of another till's sale: its voucher and till as the back office said them
        elsewhere = self.journal.original_reference(txn.id) if txn.kind == "refund" and original is None else {}
        common_args = dict(merchant_name=t.merchant_name, terminal_id=t.terminal_id, merchant_id=t.merchant_id,
                           width=t.receipt_width, language=t.language, exponent=t.currency_exponent,
                           original_trace=original.trace if original else elsewhere.get("original_trace"),
                           reprint=reprint, original_card=original.pan_masked if original else None,
                           original_terminal=elsewhere.get("original_terminal"))
        return {copy: render_receipt(txn, copy=copy, **common_args) for copy in ("merchant", "customer")}
