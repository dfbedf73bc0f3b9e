"""The thin serial driver: bytes between a pyserial port and a `Session`, plus the idle clock.

It reads with a short timeout so an idle session is still ticked (and logged out) when nobody
types.  Modem lines (DTR, CTS, DSR) are never touched: a USB cable, a null-modem cable and a pseudo-
terminal all behave the same.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Protocol

from agent.console.session import Session
from agent.errors import PosagentError

log = logging.getLogger("posagent.console")

#: how long one read waits before the session is ticked (bounds how late an idle logout can be)
POLL_SECONDS = 0.25
#: the most bytes read in one go (a paste is processed in slices of this size)
MAX_READ_BYTES = 4096


class ConsolePortError(PosagentError):
    """The serial port could not be opened or went away; the message names it."""


class Port(Protocol):
    in_waiting: int

    def read(self, size: int = 1) -> bytes: ...
    def write(self, data: bytes) -> int | None: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...


def open_port(device: str, baudrate: int) -> Port:
    """A pyserial port at `baudrate`, 8N1, no flow control, reads time out after POLL_SECONDS.  Opened
    exclusively: a second console on the same line (a daemon started from this console starts its own)
    is refused instead of stealing half the keystrokes."""
    import serial

    try:
        port: Port = serial.Serial(device, baudrate=baudrate, timeout=POLL_SECONDS, write_timeout=10,
                                   rtscts=False, dsrdtr=False, xonxoff=False, exclusive=True)
    except (serial.SerialException, OSError, ValueError) as exc:
        raise ConsolePortError(f"cannot open the console port {device}: {exc}") from None
    return port


def serve(port: Port, session: Session, *, stop: threading.Event | None = None,
          clock: Callable[[], float] = time.monotonic) -> None:
    """Run the session on the port until `stop` is set; port errors end it with `ConsolePortError`."""
    import serial

    stop = stop or threading.Event()
    try:
        _write(port, session.start(clock()))
        while not stop.is_set():
            data = port.read(1)
            if data and port.in_waiting:
                data += port.read(min(port.in_waiting, MAX_READ_BYTES))
            out = session.receive(data, clock()) if data else session.tick(clock())
            _write(port, out)
    except (serial.SerialException, OSError) as exc:
        raise ConsolePortError(f"the console port stopped working: {exc}") from None


def _write(port: Port, data: bytes) -> None:
    if data:
        port.write(data)
        port.flush()
