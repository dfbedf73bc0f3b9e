"""The daemon: owns the journal (one daemon per journal, by file lock), recovers at start, then serves
operations one at a time to the control API."""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, TypeVar

from agent import atomicfile
from agent.auth import SOURCES, PasswordGate, clock_time
from agent.config import Config, load as load_config
from agent import registry
from agent.consolefiles import FileStateStore, auth_state_path
from agent.daemon import apispec
from agent.daemon import offswitch
from agent.daemon.cards import CardSource
from agent.drivers.cardseal import CardSealer
from agent.daemon.interpreter import BackOffice, Interpreter
from agent.drivers.hostlink import HostLink
from agent.tls import make_ssl_context
from agent.engine import chains, common, operations, settlement, store_forward
from agent.daemon.walletfx import WalletEffects
from agent.engine.wallet import resume_after_restart
from agent.engine.walletmsgs import WalletSettings
from agent.engine.effects import EngineError, Outcome, Plan
from agent.engine.requests import Profile
from agent.engine.texts import say
from agent.errors import PosagentError
from agent.iso8583 import get_dialect
from agent.journal import Journal, Totals, Txn, VerifyResult, integrity
from agent.journal.errors import StorageError
from agent.journal.states import FixState
from agent.keys.store import SoftwareKeyStore
from agent.engine.receipts import render_receipt, render_settlement_report

if TYPE_CHECKING:  # the office's modules load only while [office] url is set
    from agent.office.shipper import OfficeShipper

log = logging.getLogger("posagent.daemon")

T = TypeVar("T")


#: store-and-forward's background sender: the first delay between tries and the longest (it doubles between)
FORWARD_FIRST_DELAY_S = 2.0
FORWARD_LONGEST_DELAY_S = 60.0

class DaemonError(PosagentError):
    exit_status = 2


def _opened(part: T | None, what: str) -> T:
    """A part `Daemon.open` makes (the journal, the link, ...): asked for before it, one line."""
    if part is None:
        raise DaemonError(f"the daemon is not open: it has no {what}")
    return part


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
            self._integrity(integrity.check_tail(self.journal_path), "the chain's tail")
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
            self.shipper = self._start_shipper()
        except BaseException:
            self.close_sync()
            raise

    def _start_shipper(self) -> OfficeShipper | None:
        """Ship the journal's events to the back office beside the operations (`[office] url`; off when empty)."""
        office = self.cfg.office
        if not office.url:
            return None
        from agent.office.link import ShipError, read_secret
        from agent.office.shipper import OfficeShipper
        try:
            secret = read_secret(self.cfg.path("office", "secret_file"))
        except ShipError as exc:
            raise DaemonError(f"office.secret_file: {exc}") from None
        ca_file = str(self.cfg.path("office", "ca_file")) if office.ca_file else None
        shipper = OfficeShipper(self.journal_path, office.url, self.cfg.terminal.terminal_id, secret,
                                interval=float(office.interval), ca_file=ca_file,
                                secret_file=self.cfg.path("office", "secret_file"))
        shipper.start()
        log.info("shipping the journal to the back office at %s every %g s", office.url, office.interval)
        # a refund of a sale made at another till asks the office what is still refundable (with the shipper's
        # secret: a rotated one is read once, by the shipper)
        self.interpreter.office = BackOffice(self.journal_path, office.url, self.cfg.terminal.terminal_id,
                                             lambda: shipper.secret, ca_file=ca_file)
        return shipper

    def office_status(self) -> dict[str, Any] | None:
        """How far the back office holds this journal; None when shipping is off."""
        if self.shipper is None:
            return None
        from agent.office.shipper import backlog
        error = self.shipper.last_error
        return {"url": self.cfg.office.url, **backlog(self.journal_path), "last_error": str(error) if error else None}

    def _integrity(self, result: VerifyResult, what: str) -> None:
        if result.ok:
            log.info("journal integrity: %s verified (%d events)", what, result.events)
            return
        where = f" at event {result.first_broken}" if result.first_broken is not None else ""
        self.integrity_problem = (f"the journal is damaged{where}: {result.why}; no new transactions until it is "
                                  f"inspected with `posagent journal verify` (call the technician)")
        log.error("journal integrity: %s", self.integrity_problem)

    async def verify_journal(self) -> None:
        """The whole chain and every row, in a worker thread on a read-only connection, while the daemon serves."""
        started = time.perf_counter()
        result = await asyncio.to_thread(integrity.check_all, self.journal_path)
        self._integrity(result, f"the whole journal (checked in {time.perf_counter() - started:.2f} s)")

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

    def supervisor_gate(self, source: str = "control") -> PasswordGate:
        """The supervisor's password, its failures counted per source (`agent.auth.SOURCES`)."""
        sup = self.cfg.supervisor
        return PasswordGate("supervisor", sup.password_hash, self.journal, clock=time.time, source=source,
                            max_attempts=sup.max_attempts, lockout_minutes=sup.lockout_minutes,
                            language=self.cfg.terminal.language, on_event=lambda kind, details: self.journal.record_event(
                                kind, details, operator="supervisor", role="supervisor"))

    def technician_gate(self, source: str = "control") -> PasswordGate:
        """The technician's password, its failures kept in the console's state file and counted per source:
        guesses on the control socket never lock the technician out of the serial console."""
        con = self.cfg.console
        return PasswordGate("technician", self._technician_hash(), FileStateStore(auth_state_path(self.journal_path)),
                            clock=time.time, source=source, max_attempts=con.max_attempts,
                            lockout_minutes=con.lockout_minutes, language=self.cfg.terminal.language,
                            on_event=lambda kind, details: self.journal.record_event(
                                kind, details, operator="technician", role="technician"))

    def _technician_hash(self) -> str:
        """The technician sets their own password on the console, which saves it to the file: read it there."""
        if self.cfg.source:
            try:
                saved: str = load_config(self.cfg.source).console.password_hash
                return saved
            except PosagentError as exc:
                log.warning("technician password: %s; using the one read at start", exc)
        at_start: str = self.cfg.console.password_hash
        return at_start

    def authorize(self, op: str, args: dict[str, Any], password: str | None, *, source: str = "control") -> str:
        """Check the password of the role the operation registry names for `op`, counting a failure against
        `source` (where it was typed); return that role."""
        role = registry.role_for(op, args, self.cfg)
        if role is None:
            raise EngineError(f"unknown operation {op!r}", code="usage")
        if role == "supervisor":
            self.supervisor_gate(source).check(password)
        elif role == "technician":
            self.technician_gate(source).check(password)
        return role

    def lockouts(self) -> list[dict[str, Any]]:
        """Every role locked now, with the source it is locked on and when it ends."""
        found = []
        for source in SOURCES:
            for gate in (self.supervisor_gate(source), self.technician_gate(source)):
                try:
                    until = gate.state().locked_until
                except PosagentError as exc:  # a damaged console state file: say so, do not fail `status`
                    log.warning("%s", exc)
                    continue
                if until > time.time():
                    found.append({"role": gate.role, "source": source, "until": clock_time(until),
                                  "seconds": round(until - time.time())})
        return found

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
            authorized = self.authorize(op, args, password)
        if self.integrity_problem and row.journaled:
            raise EngineError(self.integrity_problem, code="journal_damaged")
        down = self.interpreter.health.down_reason
        queues = bool(row.offline_with and args.get(row.offline_with))  # e.g. a completion as an advice
        refused = store_forward.refusal(self.profile, op, row.offline, down) if down and not queues else None
        if refused is not None:  # store-and-forward on and the bank unreachable: nothing is queued for it
            raise refused
        who = operations.Operator(name=operator or authorized, role=authorized)
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

    def _abandoned(self, row: registry.Operation, args: dict[str, Any], who: operations.Operator, *,
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

    def open_chains(self) -> list[dict[str, Any]]:
        """Every multi-step fix still open, with where its money stands and the action that finishes it."""
        return [chains.summary(self.profile, chain, self.journal.get(chain.original_id),
                               self.journal.chain_txns(chain.id)) for chain in self.journal.open_chains()]

    def close_chain(self, chain_id: object, reason: object) -> dict[str, Any]:
        """The supervisor ends an open fix on purpose; the reason is journaled."""
        if isinstance(chain_id, bool) or not isinstance(chain_id, int):
            raise EngineError("the chain id must be a whole number", code="usage")
        if not isinstance(reason, str) or not reason.strip():
            raise EngineError("closing a chain needs --reason: what was done instead (e.g. \"customer paid cash\")",
                              code="usage")
        chain = self.journal.get_chain(chain_id)
        language = self.profile.language
        if chain.state != FixState.OPEN:
            raise EngineError(say(language, "chain_not_open", id=chain_id, state=chain.state), code="not_open")
        closed = self.journal.end_chain(chain_id, FixState.CLOSED, reason=reason, operator="supervisor", role="supervisor")
        return {"chain": closed.as_dict(), "message": say(language, "chain_closed", id=chain_id, reason=closed.reason)}

    def link_state(self) -> dict[str, Any]:
        """"down" (with why and since when, and `switched`: who switched the terminal offline by hand, if
        that is why) while the acquirer counts as unreachable, else "up" or "idle"."""
        health = self.interpreter.health
        if health.down and self.profile.offline is not None:
            return {"state": "down", "down_reason": health.down_reason, "down_since": health.down_since,
                    "switched": offswitch.public(health)}
        return {"state": "up" if self.link.connected else "idle"}

    def offline_status(self) -> dict[str, Any] | None:
        """Store-and-forward (`[offline] enabled`): the sales stored and not yet forwarded, and those the bank
        declined when they were; None while it is off."""
        if self.profile.offline is None:
            return None
        stored = self.journal.offline_stored()
        return {"stored": stored["count"], "amount": stored["amount"], "oldest": stored["oldest"],
                "declined": len(self.journal.offline_declined()),
                "unseen": len(self.journal.offline_declined(unseen_only=True)), "limits": self.profile.offline.as_dict()}

    def offline_declined(self) -> list[dict[str, Any]]:
        """Stored sales the bank declined when they were forwarded (masked card, amount, time, trace), each with
        `seen`: whether a supervisor has acknowledged it."""
        declined = self.journal.offline_declined()
        seen = self.journal.offline_declined_seen([t.id for t in declined])
        return [{**txn.as_dict(), "seen": txn.id in seen} for txn in declined]

    def acknowledge_offline_declined(self, role: str) -> list[int]:
        """The supervisor has seen the declined-after-forwarding sales: the ids newly marked seen."""
        return [t.id for t in self.journal.acknowledge_offline_declined(operator=role, role=role)]

    async def forward_owed(self, *, first_delay: float = FORWARD_FIRST_DELAY_S,
                           longest_delay: float = FORWARD_LONGEST_DELAY_S) -> None:
        """Store-and-forward's background sender: while reversals, advices or TCs are owed, or the link is
        down, an echo goes out between operations — it sends what is owed first, in order — with a delay
        that doubles up to `longest_delay` while the bank does not answer and starts again once it does."""
        delay = first_delay
        while True:
            await asyncio.sleep(delay)
            health = self.interpreter.health
            if self._op_lock.locked() or health.switched is not None or not (health.down or self._owes_the_bank()):
                continue  # the supervisor switched offline: the bank is not to be used until switched back
            async with self._op_lock:
                self.interpreter.notify = lambda text: None  # no caller waits for these words
                try:
                    await self.interpreter.run(common.echo(self.profile))
                except Exception as exc:  # noqa: BLE001 — whatever stopped this try, the next one comes later
                    problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                    log.log(logging.INFO if isinstance(exc, PosagentError) else logging.ERROR,
                            "forwarding what is owed: %s; next try in %.0f s", problem, min(delay * 2, longest_delay))
                    delay = min(delay * 2, longest_delay)
                    continue
            log.info("forwarding what is owed: the bank answered; nothing is owed now")
            delay = first_delay

    async def check_params_on_schedule(self, every: float) -> None:
        """`[emv] params_check_seconds`: every so often, the chip parameter download as the technician's runs
        it (trigger "schedule"): it waits its turn behind any operation, asks for the lists, and downloads
        and installs a newer set; whatever stops one check, the next comes `every` seconds later."""
        while True:
            await asyncio.sleep(every)
            try:
                outcome = await self.perform("params_download", {"trigger": "schedule"}, authorized="technician",
                                             operator="schedule")
            except PosagentError as exc:
                log.warning("scheduled chip parameter check: %s; next in %.0f s", str(exc).splitlines()[0], every)
                continue
            log.info("scheduled chip parameter check: %s", outcome.message)

    def _owes_the_bank(self) -> bool:
        recovery = self.journal.in_doubt()
        return bool(recovery.pending_reversals or self.journal.pending_advices()
                    or self.journal.tc_upload_counts().get("owed"))

    def status(self) -> dict[str, Any]:
        recovery = self.journal.in_doubt()
        batch = self.journal.open_batch()
        age = self.keystore.keys_age() if self.keystore.has_keys else None
        return {
            "link": {"host": self.cfg.acquirer.host, "port": self.cfg.acquirer.port,
                     "connected": self.link.connected, "tls": self.cfg.acquirer.tls,
                     **self.link_state()},
            "offline": self.offline_status(),
            "keys": {"installed": self.keystore.has_keys, "check_values": self.keystore.key_check_values(),
                     "master_check_value": getattr(self.keystore, "master_check_value", None),
                     "master_source": getattr(self.keystore, "master_source", None),
                     "age_seconds": round(age) if age is not None else None},
            "batch": {"number": batch.number, "state": batch.state,
                      "transactions": self.journal.batch_size(batch.number),
                      "totals": self.journal.payment_totals(
                          batch.number, wallet_entry_mode=self.wallet_entry_mode).as_dict()},
            "reversals": {"pending": len(recovery.pending_reversals), "needs_manual": len(recovery.needs_manual)},
            # offline completions and offline-approved sales whose 0220 the bank has not answered yet
            "advices": {"pending": len(self.journal.pending_advices())},
            "tc_uploads": self.journal.tc_upload_counts(),  # IC card TCs owed to the bank / out of tries
            "params": {**self.interpreter.cards.params.identity(),  # the chip parameter set in force
                       "staged": getattr(self.journal.params_download_open(), "as_dict", lambda: None)()},
            "journal": {"path": str(self.journal_path), "damaged": self.integrity_problem, "in_doubt": len(recovery.unanswered) + len(recovery.in_doubt),
                        "settling": recovery.settling.number if recovery.settling else None},
            "chains": {"open": self.open_chains()},
            "supervisor_locked_for_s": round(self.supervisor_gate().locked_for()),
            "lockouts": self.lockouts(),
            "office": self.office_status(),
            "uptime_s": round(time.time() - self.started_at, 1),
        }
