"""The wallet effects in the daemon: the barcode scanner (a blocking serial read, in a thread) and the
waits of the paying state, which the cashier's CANCEL (control API `wallet_cancel`) cuts short."""

from __future__ import annotations

import asyncio
import threading
import time

from agent.drivers.scanner import Scanner, ScannerError
from agent.engine.wallet import plans as w


class WalletEffects:
    def __init__(self, scanner: Scanner | None = None, *, problem: str | None = None):
        self.scanner = scanner
        self.problem = problem  # why there is no scanner although one is configured
        self._cancel = asyncio.Event()
        self._scan_cancel = threading.Event()

    def arm(self) -> None:
        """A new operation starts: a CANCEL pressed before it does not count."""
        self._cancel.clear()
        self._scan_cancel.clear()

    def cancel(self) -> None:
        """The cashier pressed CANCEL: the current wait or scan ends now."""
        self._cancel.set()
        self._scan_cancel.set()

    def close(self) -> None:
        if self.scanner is not None:
            self.scanner.close()

    async def perform(self, effect: w.Wait | w.ScanCode) -> w.Waited | w.ScanFailure | str:
        """A wait of the paying state (cut short by CANCEL), or the scanned code (`ScanFailure` when none)."""
        if isinstance(effect, w.Wait):
            if effect.seconds > 0 and not self._cancel.is_set():
                try:
                    await asyncio.wait_for(self._cancel.wait(), effect.seconds)
                except asyncio.TimeoutError:
                    pass
            return w.Waited(time.monotonic(), cancelled=self._cancel.is_set())
        if isinstance(effect, w.ScanCode):
            if self.scanner is None:
                return w.ScanFailure(self.problem or "no barcode scanner is configured ([scanner] port): "
                                                     "type the code instead")
            self.scanner.discard_input()
            try:
                return await asyncio.to_thread(self.scanner.read_code, effect.timeout, self._scan_cancel)
            except ScannerError as exc:
                return w.ScanFailure(str(exc))
        raise TypeError(f"unknown effect {effect!r}")
