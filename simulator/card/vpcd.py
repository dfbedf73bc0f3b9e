"""The virtual card's side of the vpcd protocol: a TCP client of pcscd's virtual reader driver.

Connecting is inserting the card, closing is pulling it out.  Both directions send a 2-byte
big-endian length and a payload; a 1-byte payload from vpcd is a control code (00 power off, 01
power on, 02 reset, 04 get ATR), anything longer a command APDU answered with data + SW1 SW2.
"""

from __future__ import annotations

import socket
import threading
from typing import Sequence

from agent.errors import PosagentError
from simulator.card.applet import CardOptions, EmvApplet, Misbehaviour
from simulator.testcards import TestCard

VPCD_HOST = "127.0.0.1"
VPCD_BASE_PORT = 35963  # reader "Virtual PCD 00 00"; 35964 is "Virtual PCD 00 01"
MAX_PAYLOAD = 65535

POWER_OFF, POWER_ON, RESET, GET_ATR = 0x00, 0x01, 0x02, 0x04


class VirtualCardError(PosagentError):
    """The virtual card could not be inserted (no vpcd listening) or was misused."""


def port_for_reader(index: int) -> int:
    if not 0 <= index <= 1:
        raise VirtualCardError(f"reader slot must be 0 or 1, got {index}")
    return VPCD_BASE_PORT + index


def _quickack(sock: socket.socket) -> None:
    # vpcd writes length and APDU separately with Nagle on; Linux clears QUICKACK after each recv
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)


def _recv_exact(sock: socket.socket, count: int, quickack: bool = True) -> bytes | None:
    buffer = bytearray()
    while len(buffer) < count:
        if quickack:
            _quickack(sock)
        chunk = sock.recv(count - len(buffer))
        if not chunk:
            return None
        buffer += chunk
    return bytes(buffer)


class VirtualCard:
    """A test card in a virtual reader slot: `start()` inserts it, `remove()` pulls it out."""

    def __init__(self, card: TestCard | Sequence[TestCard], port: int = VPCD_BASE_PORT, *, host: str = VPCD_HOST,
                 t0: bool = False, options: CardOptions | None = None, misbehaviour: Misbehaviour = Misbehaviour(),
                 quickack: bool = True):
        apps = [card] if isinstance(card, TestCard) else list(card)
        options = options or CardOptions(t0=t0)
        self.applet = EmvApplet(apps, options, misbehaviour)
        self.host, self.port = host, port
        self.quickack = quickack  # False only to measure the latency trap in the benchmark
        self.steps_seen: list[str] = []
        self.apdu_count = 0
        self.left = threading.Event()  # set once the card is out, by itself or by remove()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def start(self) -> "VirtualCard":
        if self._sock is not None:
            raise VirtualCardError("card already inserted")
        try:
            sock = socket.create_connection((self.host, self.port), timeout=5)
        except OSError as exc:
            raise VirtualCardError(f"no virtual reader on {self.host}:{self.port} ({exc.strerror or exc}) "
                                   "— is pcscd with vsmartcard-vpcd running?") from None
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        self.left.clear()
        self._stop.clear()
        self._thread = threading.Thread(target=self._serve, name=f"virtual-card-{self.port}", daemon=True)
        self._thread.start()
        return self

    def _serve(self) -> None:
        sock = self._sock
        assert sock is not None
        try:
            while not self._stop.is_set():
                header = _recv_exact(sock, 2, self.quickack)
                if header is None:
                    break
                length = int.from_bytes(header, "big")
                payload = _recv_exact(sock, length, self.quickack) if length else b""
                if payload is None:
                    break
                answer = self._handle(payload)
                if answer == "remove":
                    break
                if answer == "mute":
                    self._stop.wait()
                    break
                if isinstance(answer, bytes):
                    sock.sendall(len(answer).to_bytes(2, "big") + answer)
        except OSError:
            pass  # the socket was shut down by remove() or vpcd went away
        finally:
            self._close_socket()
            self.left.set()

    def _handle(self, payload: bytes) -> bytes | str | None:
        if len(payload) == 1:
            code = payload[0]
            if code == GET_ATR:
                return self.applet.atr
            if code in (POWER_OFF, POWER_ON, RESET):
                self.applet.reset()
            return None
        self.apdu_count += 1
        step = self.applet.step_of(payload)
        if step is not None:
            self.steps_seen.append(step)
        reply = self.applet.process(payload)
        return reply.data if reply.action == "answer" else reply.action

    def _close_socket(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def remove(self, timeout: float = 5.0) -> None:
        """Pull the card out (close the connection) and wait for the serving thread to end."""
        self._stop.set()
        sock = self._sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
        self.left.set()

    @property
    def inserted(self) -> bool:
        return self._thread is not None and not self.left.is_set()

    def wait_until_removed(self, timeout: float | None = None) -> bool:
        """Block until the card leaves (remove-at misbehaviour, vpcd closing, or remove())."""
        return self.left.wait(timeout)

    def __enter__(self) -> "VirtualCard":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.remove()
