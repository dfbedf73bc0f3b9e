"""The barcode scanner on a serial line: counter scanners send the digits and CR (some CR LF).

`ScanFramer` is the sans-IO part: bytes and the time in, scanned lines and problems out.  It drops
line noise (NUL, control and non-ASCII bytes), treats CR, LF and CR LF as one end of line, gives up a
line whose terminator never came after `partial_timeout` seconds, and refuses over-long lines before
keeping them.  `Scanner` is the thin pyserial edge that feeds it; `read_code` returns one line — the
caller checks it is a payment code (`agent.paycodes`).  A scanned code is a one-time credential: it is
never logged, only its length.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

from agent.errors import PosagentError

log = logging.getLogger("posagent.scanner")

#: a line longer than this is not a code (the longest payment code has 24 digits)
MAX_LINE = 64
#: one read waits at most this long, so a cancel or a partial timeout is noticed promptly
POLL_SECONDS = 0.05


class ScannerError(PosagentError):
    """No usable code came from the scanner; the message says what happened and what to do."""


class ScanPort(Protocol):
    """What the scanner needs of a pyserial port."""

    in_waiting: int

    def read(self, size: int = 1) -> bytes: ...
    def reset_input_buffer(self) -> None: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class Scanned:
    line: str


@dataclass(frozen=True)
class ScanProblem:
    text: str


class ScanFramer:
    def __init__(self, *, partial_timeout: float = 0.5, max_line: int = MAX_LINE):
        self.partial_timeout = partial_timeout
        self.max_line = max_line
        self._line = bytearray()
        self._overflow = False
        self._last_byte_at: float | None = None
        self.noise_bytes = 0

    @property
    def pending(self) -> bool:
        return bool(self._line) or self._overflow

    def feed(self, data: bytes, now: float) -> list[Scanned | ScanProblem]:
        events: list[Scanned | ScanProblem] = [*self.tick(now)]
        for byte in data:
            if byte in (0x0D, 0x0A):
                events.extend(self._end_of_line())
            elif 0x20 <= byte < 0x7F:
                if len(self._line) >= self.max_line:
                    self._overflow = True
                else:
                    self._line.append(byte)
                self._last_byte_at = now
            else:
                self.noise_bytes += 1  # line noise between or inside scans: not part of any code
        return events

    def tick(self, now: float) -> list[ScanProblem]:
        """A line without its terminator for `partial_timeout` seconds is a partial read: dropped."""
        if self.pending and self._last_byte_at is not None and now - self._last_byte_at >= self.partial_timeout:
            count = len(self._line)
            self._reset()
            return [ScanProblem(f"partial scan: {count} characters without an end of line within "
                                f"{self.partial_timeout:g} s — scan the code again")]
        return []

    def _end_of_line(self) -> list[Scanned | ScanProblem]:
        if self._overflow:
            self._reset()
            return [ScanProblem(f"scan longer than {self.max_line} characters is not a payment code — "
                                f"scan the code on the customer's phone")]
        if not self._line:
            return []  # the LF of CR LF, or an empty line
        line = self._line.decode("ascii")
        self._reset()
        return [Scanned(line.strip())]

    def _reset(self) -> None:
        self._line.clear()
        self._overflow = False
        self._last_byte_at = None


def open_port(device: str, baudrate: int) -> ScanPort:
    """A pyserial port, 8N1, no flow control (a pty and a USB-serial scanner behave the same)."""
    import serial

    try:
        port: ScanPort = serial.Serial(device, baudrate=baudrate, timeout=POLL_SECONDS, rtscts=False,
                                       dsrdtr=False, xonxoff=False)
    except (serial.SerialException, OSError, ValueError) as exc:
        raise ScannerError(f"cannot open the scanner port {device}: {exc}") from None
    return port


class Scanner:
    """One scanner port, opened once; `read_code` waits for one scanned line."""

    def __init__(self, port: ScanPort, *, partial_timeout: float = 0.5, clock: Callable[[], float] = time.monotonic):
        self.port = port
        self.framer = ScanFramer(partial_timeout=partial_timeout)
        self.clock = clock
        self._lock = threading.Lock()

    @classmethod
    def open(cls, device: str, baudrate: int = 9600, *, partial_timeout: float = 0.5) -> "Scanner":
        return cls(open_port(device, baudrate), partial_timeout=partial_timeout)

    def close(self) -> None:
        try:
            self.port.close()
        except Exception:  # noqa: BLE001 — closing a port that went away is not an error
            pass

    def discard_input(self) -> None:
        """Forget what was scanned before the cashier asked for a code (a stale scan is not this sale's)."""
        import serial

        try:
            self.port.reset_input_buffer()
        except (serial.SerialException, OSError):
            pass
        self.framer = ScanFramer(partial_timeout=self.framer.partial_timeout)

    def read_code(self, timeout: float, cancelled: threading.Event | None = None) -> str:
        """The next scanned line; `ScannerError` on timeout, cancel, a partial scan, or two different codes."""
        import serial

        cancelled = cancelled or threading.Event()
        deadline = self.clock() + timeout
        with self._lock:
            while True:
                if cancelled.is_set():
                    raise ScannerError("scan cancelled")
                now = self.clock()
                if now >= deadline:
                    raise ScannerError(f"no code scanned within {timeout:g} s — scan the code on the customer's phone")
                try:
                    data = self.port.read(1)
                    if data and self.port.in_waiting:
                        data += self.port.read(min(self.port.in_waiting, 4 * MAX_LINE))
                except (serial.SerialException, OSError) as exc:
                    raise ScannerError(f"scanner port failed: {exc}") from None
                events = self.framer.feed(data, self.clock()) if data else self.framer.tick(self.clock())
                result = _one_code(events)
                if result is not None:
                    log.info("code scanned (%d characters; %d noise bytes dropped)", len(result),
                             self.framer.noise_bytes)
                    return result


def _one_code(events: Sequence[Scanned | ScanProblem]) -> str | None:
    """One burst's outcome: its code, None for nothing yet, or the problem it shows."""
    problems = [e for e in events if isinstance(e, ScanProblem)]
    lines = [e.line for e in events if isinstance(e, Scanned)]
    if len(set(lines)) > 1:
        raise ScannerError(f"{len(lines)} different codes in one scan — scan only the customer's code")
    if lines:
        return lines[0]  # the same code twice in one burst (a double read) is one code
    if problems:
        raise ScannerError(problems[0].text)
    return None
