"""The host's answers encoded once: the bytes the MAC covers are the bytes that are sent.

`encoded_answer(dialect, mac_key, msg)` encodes the response one time (with the MAC field's 8 bytes
zero), computes the MAC over everything before them, and splices the MAC in.  The result is an
`Answer`: a `Message` (equal to `dialect.with_mac(mac_key, msg)`, so handlers and tests see the same
value) that also carries its `wire` bytes, MTI onwards.  `frame(dialect, answer, tpdu, header)` puts
the length, TPDU and header around them; a message changed after it was built (a fault that rewrites a
field) is a plain `Message` again and is encoded as usual.
"""

from __future__ import annotations

from agent.iso8583 import CodecError, Message
from agent.iso8583.dialect import MAC_ALGORITHMS

MAC_LEN = 8


class Answer(Message):
    """A response that carries its own encoding (`wire`: MTI, bitmap and fields, MAC included)."""

    __slots__ = ("wire",)


def encoded_answer(dialect, mac_key: bytes | None, msg: Message) -> Answer:
    """`msg` encoded once — MAC'd under `mac_key` when one is given — as an `Answer`."""
    fields = dict(msg._fields)
    if mac_key is None:
        wire = dialect.encode(msg)
    else:
        number = dialect.mac_field(msg)
        fields[number] = bytes(MAC_LEN)
        zeroed = dialect.encode(Message._trusted(msg.mti, fields))
        mac = MAC_ALGORITHMS[dialect.mac_algorithm](mac_key, zeroed[:-MAC_LEN])
        fields[number] = mac
        wire = zeroed[:-MAC_LEN] + mac
    answer = Answer._trusted(msg.mti, fields)
    object.__setattr__(answer, "wire", wire)
    return answer


def frame(dialect, response: Message, tpdu: bytes, header: bytes) -> bytes:
    """2-byte length + TPDU + header + the message, reusing an `Answer`'s encoding."""
    wire = response.wire if type(response) is Answer else None
    if wire is None:
        return dialect.pack_frame(response, tpdu, header)
    body = tpdu + header + wire
    if len(tpdu) != dialect.frame.tpdu_len or len(header) != dialect.frame.header_len:
        raise CodecError(f"frame needs a {dialect.frame.tpdu_len}-byte TPDU and a {dialect.frame.header_len}-byte "
                         f"header")
    if len(body) > dialect.frame.max_frame:
        raise CodecError(f"frame of {len(body)} bytes exceeds the maximum {dialect.frame.max_frame}")
    return len(body).to_bytes(2, "big") + body
