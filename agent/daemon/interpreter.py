"""Performs the effects a plan yields, against the real journal, host link, key store and card source."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from agent.daemon.cards import CardSource
from agent.daemon.walletfx import WalletEffects
from agent.drivers.hostlink import HostLink, LinkClosed, LinkConnectError, LinkError, LinkTimeout
from agent.engine import effects as fx
from agent.journal.errors import DuplicateRequest, JournalError, NotFound
from agent.machine import IllegalTransition
from agent.engine.wallet import plans as wallet_fx
from agent.engine.port import Ask, JournalPort, check_port
from agent.daemon.linkstate import SALE_CONNECT_S, LinkHealth
from agent.engine.netmgmt import apply_signon_response
from agent.iso8583 import Dialect, Message
from agent.keys.store import SoftwareKeyStore

if TYPE_CHECKING:  # the office's modules load only when a refund asks it
    from agent.office.link import OfficeSale

log = logging.getLogger("posagent.engine")

#: how long a refund waits for the back office in all (its newest events shipped, then the question): the
#: cashier is at the till with the customer; each request to the office has `OFFICE_REQUEST_TIMEOUT_S`
OFFICE_DEADLINE_S = 8.0
OFFICE_REQUEST_TIMEOUT_S = 3.0
#: at most this many batches of this till's newest events are shipped before the office is asked
OFFICE_CATCH_UP_BATCHES = 2


class BackOffice:
    """The merchant's back office as a refund asks it (`[office] url`, the terminal's login): what a sale of the
    merchant, made at any till, still has to refund.  Blocking (urllib): the interpreter runs it in a thread."""

    def __init__(self, journal_path: Path, url: str, terminal_id: str, secret: Callable[[], str], *,
                 timeout: float = OFFICE_REQUEST_TIMEOUT_S, ca_file: str | None = None):
        self.journal_path, self.url, self.terminal_id, self._secret = journal_path, url, terminal_id, secret
        self.timeout, self.ca_file = timeout, ca_file

    def __repr__(self) -> str:  # never the secret
        return f"BackOffice({self.url!r}, {self.terminal_id!r})"

    def refundable(self, rrn: str, date: str) -> OfficeSale | None:
        """`agent.office.link.OfficeSale` (what is still refundable, the sale's card, voucher and till), None for
        no such sale; `ShipError` (one line) when it cannot be asked.
        This till's events not yet at the office go first (the shipper's thread may be seconds behind), so
        the office counts the refunds made here a moment ago."""
        from agent.office.link import ShipError, refundable
        from agent.office.shipper import ship_once
        secret = self._secret()
        shipped = ship_once(self.journal_path, self.url, self.terminal_id, secret, timeout=self.timeout,
                            max_batches=OFFICE_CATCH_UP_BATCHES, ca_file=self.ca_file)
        if shipped.acked < shipped.head:
            raise ShipError(f"the office does not hold this till's latest events yet ({shipped.head - shipped.acked} "
                            f"behind)", retry=True)
        return refundable(self.url, self.terminal_id, secret, rrn, date, timeout=self.timeout, ca_file=self.ca_file)


class Interpreter:
    def __init__(self, *, journal: JournalPort, link: HostLink, keystore: SoftwareKeyStore, dialect: Dialect,
                 cards: CardSource, signon_max_age: float, notify: Callable[[str], None] | None = None,
                 wallet: WalletEffects | None = None, office: BackOffice | None = None):
        check_port(journal)
        self.journal: JournalPort = journal
        self.link = link
        self.keystore = keystore
        self.dialect = dialect
        self.cards = cards
        self.signon_max_age = signon_max_age
        self.notify = notify or (lambda text: None)
        self.wallet = wallet  # WalletEffects: scanner and the paying state's waits
        self.office = office  # the back office a refund of another till's sale asks ([office] url), or None
        #: requests handed to the link so far: after one, a failure may leave money at the bank
        self.requests_sent = 0
        self.health = LinkHealth()  # whether the acquirer counts as reachable (store-and-forward, `status`)

    async def run(self, plan: fx.Plan) -> fx.Outcome:
        """Drive `plan` to its end; an exception from an effect is thrown into the plan (it may clean up)."""
        result: Any = None
        error: BaseException | None = None
        while True:
            try:
                effect = plan.throw(error) if error is not None else plan.send(result)
            except StopIteration as stop:
                outcome: fx.Outcome = stop.value
                return outcome
            error = None
            try:
                result = await self.perform(effect)
            except Exception as exc:  # noqa: BLE001 — handed to the plan, which re-raises what it cannot handle
                if isinstance(exc, JournalError) and not isinstance(exc, (IllegalTransition, DuplicateRequest,
                                                                          NotFound)):
                    # e.g. the journal locked or its disk full while an answer waits to be recorded: say so
                    log.error("journal %s failed: %s", getattr(effect, "method", type(effect).__name__), exc)
                error = exc

    async def perform(self, effect: Any) -> Any:
        if isinstance(effect, Ask):
            return effect.on(self.journal)
        switched = self.health.switched
        if isinstance(effect, (fx.Exchange, fx.Connect)) and switched is not None:
            return fx.NoAnswer("refused", False, switched["reason"])  # the supervisor: nothing goes out
        if isinstance(effect, fx.Exchange):
            self.requests_sent += 1
            return await self._exchange(effect.request)
        if isinstance(effect, fx.Connect):
            try:
                await self.link.connect()
            except LinkError as exc:
                self.health.cannot_connect(str(exc))
                return fx.NoAnswer("refused", False, str(exc))
            return True
        if isinstance(effect, fx.HostUnreachable):
            if effect.try_first:
                await self._try_the_bank()
            return self.health.down_reason
        if isinstance(effect, fx.FinishUnableOnline):
            return await asyncio.to_thread(self.cards.finish_unable_online, effect.amount, effect.may_approve)
        if isinstance(effect, fx.AskOffice):
            return await self._ask_office(effect)
        if isinstance(effect, fx.Notify):
            log.info("%s", effect.text)
            self.notify(effect.text)
            return None
        if isinstance(effect, fx.SignOnNeeded):
            if not self.keystore.has_keys:
                return True
            age = self.keystore.keys_age(datetime.now(timezone.utc))
            return age is None or age > self.signon_max_age
        if isinstance(effect, fx.InstallKeys):
            return apply_signon_response(effect.request, effect.response, self.keystore)
        # the chip reader blocks (APDUs through pcscd): it runs in a thread; a named test card does not
        if isinstance(effect, fx.ReadCard):
            if effect.test_card is not None:
                return self.cards.read(effect.amount, effect.test_card, keyed=effect.keyed)
            return await asyncio.to_thread(self.cards.read, effect.amount, None, effect.offline_ok)
        if isinstance(effect, fx.FinishCard):
            if not self.cards.holds_chip:
                return self.cards.finish(effect.approved, effect.issuer_data)
            return await asyncio.to_thread(self.cards.finish, effect.approved, effect.issuer_data)
        if isinstance(effect, fx.OpenSealedCard):
            return self.cards.open_sealed(effect.sealed, effect.amount)
        if isinstance(effect, fx.ReleaseCard):
            if not self.cards.holds_chip:
                return self.cards.release()
            return await asyncio.to_thread(self.cards.release)
        if self.wallet is not None and isinstance(effect, (wallet_fx.Wait, wallet_fx.ScanCode)):
            if isinstance(effect, wallet_fx.Wait) and effect.text:
                log.info("%s", effect.text)
                self.notify(effect.text)
            return await self.wallet.perform(effect)
        raise TypeError(f"unknown effect {effect!r}")

    async def _try_the_bank(self) -> None:
        """A sale while the link counts as down: one connect of at most `SALE_CONNECT_S` after a failed one,
        one request let through after unanswered ones older than the retry interval, else nothing."""
        worth = self.health.next_try()
        if worth == "request":
            log.info("the last unanswered request is %.0f s old: this sale tries the bank",
                     time.time() - (self.health.last_unanswered or 0))
            self.health.let_one_through()
        elif worth == "connect":
            try:
                await self.link.connect(once=SALE_CONNECT_S)
            except LinkError as exc:
                self.health.cannot_connect(str(exc))
                return
            log.info("the acquirer accepts connections again: this sale goes online")
            self.health.connected()

    async def _ask_office(self, effect: fx.AskOffice) -> fx.OfficeAnswer:
        """The office's answer, off the event loop and within `OFFICE_DEADLINE_S`; any failure is its `problem`."""
        from agent.office.link import ShipError
        if self.office is None:
            return fx.OfficeAnswer(problem="no back office is set ([office] url)")
        try:
            sale = await asyncio.wait_for(asyncio.to_thread(self.office.refundable, effect.rrn, effect.date),
                                          OFFICE_DEADLINE_S)
        except asyncio.TimeoutError:
            problem = f"the office did not answer within {OFFICE_DEADLINE_S:g} s"
        except ShipError as exc:
            problem = str(exc)
        except Exception as exc:  # noqa: BLE001 — whatever went wrong asking, the refund's rule decides
            problem = f"{type(exc).__name__}: {exc}".splitlines()[0]
        else:
            log.info("back office: RRN %s on %s has %s refundable", effect.rrn, effect.date,
                     "no sale" if sale is None else sale.refundable)
            if sale is None:
                return fx.OfficeAnswer()
            return fx.OfficeAnswer(refundable=sale.refundable, sale_card=sale.card, sale_trace=sale.trace,
                                   sale_terminal=sale.terminal)
        log.warning("back office not asked about RRN %s on %s: %s", effect.rrn, effect.date, problem)
        return fx.OfficeAnswer(problem=problem)

    async def _exchange(self, request: Message) -> fx.Answer | fx.NoAnswer:
        if self.dialect.mac_required(request) and self.keystore.has_keys:
            request = self.keystore.sign(self.dialect, request)
        try:
            response = await self.link.exchange(request)
        except LinkTimeout as exc:
            self.health.no_answer(str(exc))
            return fx.NoAnswer("timeout", exc.sent, str(exc))
        except LinkConnectError as exc:
            self.health.cannot_connect(str(exc))
            return fx.NoAnswer("refused", exc.sent, str(exc))
        except LinkClosed as exc:
            self.health.no_answer(str(exc))
            return fx.NoAnswer("closed", exc.sent, str(exc))
        except LinkError as exc:
            return fx.NoAnswer("garbage", exc.sent, str(exc))
        self.health.answered()
        mac_valid = None
        if 64 in response:
            mac_valid = self.keystore.has_keys and self.keystore.verify_mac(self.dialect, response)
        elif self.dialect.mac_required(response) and response.get(39) == "00":
            mac_valid = False  # an approval that should carry a MAC and does not
        return fx.Answer(response, mac_valid)
