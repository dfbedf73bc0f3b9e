"""A virtual counter barcode scanner: writes what a real one sends (digits + CR, or CR LF) to a serial
device — one end of a socat pty pair in the tests and the demo — plus the bad input real ones produce:
a partial read, two codes in one burst, line noise."""

from __future__ import annotations

import serial


class VirtualScanner:
    def __init__(self, device: str, baudrate: int = 9600):
        self.port = serial.Serial(device, baudrate=baudrate, timeout=1, rtscts=False, dsrdtr=False, xonxoff=False)

    def close(self) -> None:
        self.port.close()

    def send(self, data: bytes) -> None:
        self.port.write(data)
        self.port.flush()

    def scan(self, code: str, *, terminator: bytes = b"\r") -> None:
        self.send(code.encode("ascii") + terminator)

    def partial(self, code: str, keep: int) -> None:
        """Only the first `keep` characters arrive, and no terminator (the read was cut)."""
        self.send(code[:keep].encode("ascii"))

    def burst(self, *codes: str, terminator: bytes = b"\r") -> None:
        self.send(b"".join(c.encode("ascii") + terminator for c in codes))

    def noisy(self, code: str, noise: bytes = b"\x00\xff\x1b", *, terminator: bytes = b"\r") -> None:
        """Line noise before, inside and after the code (non-printable bytes)."""
        middle = len(code) // 2
        self.send(noise + code[:middle].encode() + noise[:1] + code[middle:].encode() + terminator + noise)
