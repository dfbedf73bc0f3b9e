"""The card reader over PC/SC (pyscard → libpcsclite → pcscd): discovery, card events, APDU transport.

`CardReader` is what the engine uses: it finds readers by a name pattern, waits for a card (with a
timeout and a cancel), reports insertion and removal, and runs the EMV flow (`agent.emv.flow`)
on a `PcscSession`.  Each inserted card gets its own PC/SC context, handle and one worker thread
that makes every PC/SC call of that context; the caller waits for each answer with a deadline, so a
mute card becomes `CardMute` instead of a hung till (vpcd, unlike real readers, has no timeout of
its own).  A session abandoned that way cleans itself up as soon as the stuck call returns.
"""

from __future__ import annotations

import queue
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

from smartcard import scard

from agent.emv import apdu
from agent.emv.apdu import Response
from agent.emv.card_errors import (CardCancelled, CardError, CardMute, CardRemoved, CardTimeout,
                                       ReaderNotFound)
from agent.emv.chip import ChipRead
from agent.emv.flow import SUPPORTED_AIDS, AppChooser, EmvReader
from agent.emv.data import TerminalData

__all__ = ["CardReader", "CardEvent", "PcscSession", "TerminalData", "ChipRead", "CardError"]

_REMOVED = {scard.SCARD_W_REMOVED_CARD, scard.SCARD_E_NO_SMARTCARD, scard.SCARD_W_RESET_CARD}
_MUTE = {scard.SCARD_W_UNRESPONSIVE_CARD, scard.SCARD_E_TIMEOUT, scard.SCARD_W_UNPOWERED_CARD}
_NO_READER = {scard.SCARD_E_NO_SERVICE, scard.SCARD_E_READER_UNAVAILABLE, scard.SCARD_E_UNKNOWN_READER,
              scard.SCARD_E_NO_READERS_AVAILABLE, scard.SCARD_E_SERVICE_STOPPED}


def _code(rc: int) -> int:
    return rc & 0xFFFFFFFF


def pcsc_error(rc: int, what: str) -> CardError:
    """The cashier-facing error for a PC/SC return code; the detail names the code for the log."""
    code = _code(rc)
    detail = f"{what}: PC/SC {code:08X} ({scard.SCardGetErrorMessage(rc)})"
    if code in {_code(c) for c in _REMOVED}:
        return CardRemoved(detail)
    if code in {_code(c) for c in _MUTE}:
        return CardMute(detail)
    if code in {_code(c) for c in _NO_READER}:
        return ReaderNotFound(detail)
    return CardError(detail)


@contextmanager
def pcsc_context() -> Iterator[Any]:
    """A PC/SC context, always released (each holds a socket to pcscd)."""
    rc, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if rc != scard.SCARD_S_SUCCESS:
        raise pcsc_error(rc, "cannot reach pcscd")
    try:
        yield context
    finally:
        scard.SCardReleaseContext(context)


@dataclass(frozen=True)
class CardEvent:
    kind: str  # "present", "empty" (initial state), "inserted", "removed", "mute"
    reader: str
    atr: bytes = b""


class _Job:
    __slots__ = ("command", "done", "result", "error")

    def __init__(self, command: bytes | None):
        self.command = command
        self.done = threading.Event()
        self.result: bytes = b""
        self.error: CardError | None = None


class PcscSession:
    """One connection to one card; `exchange()` applies the T=0 rule (61xx / 6Cxx) on top of transmit."""

    def __init__(self, reader: str, *, apdu_timeout: float = 5.0, cancel: threading.Event | None = None):
        self.reader = reader
        self.apdu_timeout = apdu_timeout
        self.cancel = cancel
        self.protocol: str | None = None
        self.transmit_seconds = 0.0  # time inside SCardTransmit (benchmark figure)
        self.transmit_count = 0
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._closed = False
        connected = _Job(None)
        self._thread = threading.Thread(target=self._work, args=(connected,), name=f"pcsc-{reader}", daemon=True)
        self._thread.start()
        if not connected.done.wait(apdu_timeout):
            self._abandon()
            raise CardMute("no answer to power-on", step="connect")
        if connected.error is not None:
            self._thread.join()
            raise connected.error

    def _work(self, connected: _Job) -> None:
        rc, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if rc != scard.SCARD_S_SUCCESS:
            connected.error = pcsc_error(rc, "cannot reach pcscd")
            connected.done.set()
            return
        handle = None
        try:
            rc, handle, protocol = scard.SCardConnect(context, self.reader, scard.SCARD_SHARE_SHARED,
                                                      scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1)
            if rc != scard.SCARD_S_SUCCESS:
                handle = None
                connected.error = pcsc_error(rc, f"connect to {self.reader}")
                connected.done.set()
                return
            self.protocol = "T=0" if protocol == scard.SCARD_PROTOCOL_T0 else "T=1"
            connected.done.set()
            while True:
                job = self._jobs.get()
                if job.command is None:
                    job.done.set()
                    return
                started = time.perf_counter()
                rc, answer = scard.SCardTransmit(handle, protocol, list(job.command))
                self.transmit_seconds += time.perf_counter() - started
                self.transmit_count += 1
                if rc != scard.SCARD_S_SUCCESS:
                    job.error = pcsc_error(rc, "transmit")
                elif len(answer) < 2:  # vpcd's sign of a card that left while answering
                    job.error = CardRemoved("empty answer: the card left during the command")
                else:
                    job.result = bytes(answer)
                job.done.set()
        finally:
            if handle is not None:
                scard.SCardDisconnect(handle, scard.SCARD_LEAVE_CARD)
            scard.SCardReleaseContext(context)

    def _abandon(self) -> None:
        """Stop using this session; its worker disconnects and exits when the stuck call returns."""
        if not self._closed:
            self._closed = True
            self._jobs.put(_Job(None))

    def transmit(self, command: bytes) -> bytes:
        if self._closed:
            raise CardRemoved("the card session is closed")
        if self.cancel is not None and self.cancel.is_set():
            raise CardCancelled("cancelled by the cashier")
        job = _Job(command)
        self._jobs.put(job)
        if not job.done.wait(self.apdu_timeout):
            self._abandon()
            raise CardMute(f"no answer within {self.apdu_timeout:g} s")
        if job.error is not None:
            raise job.error
        return job.result

    def exchange(self, command: bytes) -> Response:
        return apdu.exchange(self.transmit, command)

    def close(self) -> None:
        if self._closed:
            return
        self._abandon()
        self._thread.join(self.apdu_timeout)

    @property
    def worker_alive(self) -> bool:
        return self._thread.is_alive()


class CardReader:
    """PC/SC card reader selected by a name pattern; reads chip cards for the engine."""

    def __init__(self, pattern: str = "Virtual PCD", *, card_timeout: float = 30.0, apdu_timeout: float = 5.0,
                 supported_aids: Sequence[bytes] = SUPPORTED_AIDS, poll_interval: float = 0.1):
        self.pattern = pattern
        self.card_timeout = card_timeout
        self.apdu_timeout = apdu_timeout
        self.supported_aids = tuple(supported_aids)
        self.poll_interval = poll_interval
        self.last_session: PcscSession | None = None
        self.last_card_seen = 0.0

    @classmethod
    def from_config(cls, config: Any) -> "CardReader":
        section = config["card_reader"]
        return cls(section["reader"], card_timeout=section["card_timeout"],
                   apdu_timeout=section.get("apdu_timeout", 5.0))

    def readers(self) -> list[str]:
        """Reader names containing the pattern, in pcscd's order."""
        with pcsc_context() as context:
            return self._matching(context)

    def _matching(self, context: Any) -> list[str]:
        rc, names = scard.SCardListReaders(context, [])
        if _code(rc) == _code(scard.SCARD_E_NO_READERS_AVAILABLE):
            return []
        if rc != scard.SCARD_S_SUCCESS:
            raise pcsc_error(rc, "list readers")
        return [n for n in names if self.pattern in n]

    def _watch(self, context: Any, deadline: float | None, cancel: threading.Event | None
               ) -> Iterator[tuple[str, int, bytes]]:
        """(reader, state, ATR) for the current state of each reader, then every change until the deadline."""
        names = self._matching(context)
        if not names:
            raise ReaderNotFound(f"no reader matches {self.pattern!r}", step="wait")
        states = [(name, scard.SCARD_STATE_UNAWARE) for name in names]
        first = True
        while True:
            if cancel is not None and cancel.is_set():
                raise CardCancelled("cancelled by the cashier", step="wait")
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0 and not first:
                raise CardTimeout("no card in time", step="wait")
            if first:
                wait = 0.0
            else:
                wait = self.poll_interval if remaining is None else min(self.poll_interval, max(remaining, 0.0))
            rc, changed = scard.SCardGetStatusChange(context, int(wait * 1000), states)
            first = False
            if _code(rc) == _code(scard.SCARD_E_TIMEOUT):
                continue
            if rc != scard.SCARD_S_SUCCESS:
                raise pcsc_error(rc, "watch readers")
            states = []
            for name, state, atr in changed:
                if state & scard.SCARD_STATE_CHANGED:
                    yield name, state, bytes(atr)
                states.append((name, state & ~scard.SCARD_STATE_CHANGED))

    def events(self, timeout: float | None = None, cancel: threading.Event | None = None) -> Iterator[CardEvent]:
        """Each reader's state first ("present" or "empty"), then "inserted", "removed" and "mute" events
        until `timeout` (then `CardTimeout`) or `cancel` (then `CardCancelled`)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        present: dict[str, bool] = {}
        with pcsc_context() as context:
            for name, state, atr in self._watch(context, deadline, cancel):
                now = bool(state & scard.SCARD_STATE_PRESENT)
                before = present.get(name)
                present[name] = now
                if now and state & scard.SCARD_STATE_MUTE:
                    yield CardEvent("mute", name, atr)
                elif before is None:
                    yield CardEvent("present" if now else "empty", name, atr)
                elif now != before:
                    yield CardEvent("inserted" if now else "removed", name, atr)

    def wait_for_card(self, timeout: float | None = None, cancel: threading.Event | None = None) -> CardEvent:
        """The first reader with a card in it (already there or inserted before the timeout)."""
        deadline = time.monotonic() + (self.card_timeout if timeout is None else timeout)
        with pcsc_context() as context:
            for name, state, atr in self._watch(context, deadline, cancel):
                if state & scard.SCARD_STATE_PRESENT and not state & scard.SCARD_STATE_MUTE:
                    return CardEvent("inserted", name, atr)
                if state & scard.SCARD_STATE_PRESENT:
                    raise CardMute("the card does not answer power-on", step="wait")
        raise CardTimeout("no card in time", step="wait")  # pragma: no cover - _watch raises first

    def wait_for_removal(self, timeout: float, reader: str | None = None) -> bool:
        """True once no matching reader (or `reader`) holds a card; False when `timeout` passes first."""
        deadline = time.monotonic() + timeout
        with pcsc_context() as context:
            inside: dict[str, bool] = {}
            try:
                for name, state, _atr in self._watch(context, deadline, None):
                    inside[name] = bool(state & scard.SCARD_STATE_PRESENT)
                    relevant = [v for n, v in inside.items() if reader is None or n == reader]
                    if relevant and not any(relevant):
                        return True
            except CardTimeout:
                return False
        return False

    def read_chip(self, terminal: TerminalData, cancel: threading.Event | None = None,
                  choose_app: AppChooser | None = None, *, timeout: float | None = None,
                  enter_pin: Callable[[], bool] | None = None) -> ChipRead:
        """Wait for a card, then run the flow up to the ARQC.  Blocking; run it in a worker thread.

        `enter_pin` is the PIN pad, asked when the card's CVM list calls for an online PIN."""
        event = self.wait_for_card(timeout, cancel)
        self.last_card_seen = time.perf_counter()  # for the benchmark: card detected → ARQC ready
        session = PcscSession(event.reader, apdu_timeout=self.apdu_timeout, cancel=cancel)
        self.last_session = session
        try:
            return EmvReader(session, terminal, choose_app=choose_app, supported_aids=self.supported_aids,
                             enter_pin=enter_pin).read()
        except BaseException:
            session.close()
            raise

