"""Command APDUs of the EMV contact flow and the transport rule for 61xx / 6Cxx (no I/O here).

`exchange(transmit, command)` sends one logical command through a raw `transmit(bytes) -> bytes`
(response data + SW1 SW2) and resolves the T=0 procedure bytes the reader passes through:
``61xx`` → GET RESPONSE with Le = xx (repeated while the card has more), ``6Cxx`` → the same
command again with Le = xx.  On T=1 cards neither word appears and the rule costs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

from agent.emv.card_errors import BadCardData

#: a card may chain GET RESPONSEs; a longer chain is a broken card, not a long answer
MAX_GET_RESPONSE_CHAIN = 16
MAX_RESPONSE_BYTES = 4096

Transmit = Callable[[bytes], bytes]


@dataclass(frozen=True)
class Response:
    data: bytes
    sw: int

    @property
    def ok(self) -> bool:
        return self.sw == 0x9000


class Session(Protocol):
    """A card's APDU channel (a PC/SC connection, a test's virtual card): one command, one `Response`."""

    def exchange(self, command: bytes) -> Response: ...

    def close(self) -> None: ...


def _case(cla: int, ins: int, p1: int, p2: int, data: bytes = b"", le: bool = True) -> bytes:
    if len(data) > 255:
        raise ValueError(f"command data of {len(data)} bytes exceeds a short APDU")
    out = bytes([cla, ins, p1, p2])
    if data:
        out += bytes([len(data)]) + data
    if le:
        out += b"\x00"
    return out


def select_by_name(name: bytes, *, next_occurrence: bool = False) -> bytes:
    return _case(0x00, 0xA4, 0x04, 0x02 if next_occurrence else 0x00, name)


def read_record(sfi: int, record: int) -> bytes:
    if not 1 <= sfi <= 30 or not 1 <= record <= 255:
        raise ValueError(f"bad SFI {sfi} or record {record}")
    return _case(0x00, 0xB2, record, (sfi << 3) | 0x04)


def get_processing_options(pdol_data: bytes) -> bytes:
    return _case(0x80, 0xA8, 0x00, 0x00, bytes([0x83, len(pdol_data)]) + pdol_data)


#: GENERATE AC reference control parameter (P1): the cryptogram the terminal asks for
AAC, TC, ARQC = 0x00, 0x40, 0x80
#: P1 bit asking for combined DDA/application cryptogram generation (CDA)
CDA = 0x10


def generate_ac(kind: int, cdol_data: bytes) -> bytes:
    return _case(0x80, 0xAE, kind, 0x00, cdol_data)


def internal_authenticate(ddol_data: bytes) -> bytes:
    """INTERNAL AUTHENTICATE for DDA (Book 3 §6.5.9): the DDOL data, Le 00."""
    return _case(0x00, 0x88, 0x00, 0x00, ddol_data)


def get_response(length: int) -> bytes:
    return bytes([0x00, 0xC0, 0x00, 0x00, length])


def with_le(command: bytes, le: int) -> bytes:
    """The same command with its Le byte replaced (a case 1/3 command gets one added)."""
    header = command[:4]
    if len(command) == 4:
        return header + bytes([le])
    if len(command) == 5:  # case 2: CLA INS P1 P2 Le
        return header + bytes([le])
    lc = command[4]
    body = command[5:5 + lc]
    return header + bytes([lc]) + body + bytes([le])


def split(raw: bytes) -> Response:
    if len(raw) < 2:
        raise BadCardData(f"answer of {len(raw)} bytes has no status word")
    return Response(raw[:-2], int.from_bytes(raw[-2:], "big"))


def exchange(transmit: Transmit, command: bytes) -> Response:
    """Send `command`; follow 61xx with GET RESPONSE and 6Cxx with a re-issue; return data + final SW."""
    response = split(transmit(command))
    if response.sw >> 8 == 0x6C:
        response = split(transmit(with_le(command, response.sw & 0xFF)))
    data = bytearray(response.data)
    chained = 0
    while response.sw >> 8 == 0x61:
        chained += 1
        if chained > MAX_GET_RESPONSE_CHAIN:
            raise BadCardData(f"more than {MAX_GET_RESPONSE_CHAIN} GET RESPONSE in a row")
        response = split(transmit(get_response(response.sw & 0xFF)))
        if response.sw >> 8 == 0x6C:
            response = split(transmit(get_response(response.sw & 0xFF)))
        data += response.data
        if len(data) > MAX_RESPONSE_BYTES:
            raise BadCardData(f"answer longer than {MAX_RESPONSE_BYTES} bytes")
    return Response(bytes(data), response.sw)
