"""The host's answers encoded once: the bytes the MAC covers are the bytes that are sent.

The codec keeps a message's encoding once it is known (`Message.keep_wire`, set by the dialect's
`with_mac` and `decode`), so `encoded_answer` only makes sure the answer carries it and `frame` puts
the length, TPDU and header around those bytes.  A message changed after it was built (a fault that
rewrites a field) no longer carries them and is encoded afresh.
"""

from __future__ import annotations

from agent.iso8583 import Dialect, Message


def encoded_answer(dialect: Dialect, mac_key: bytes | None, msg: Message) -> Message:
    """`msg` encoded once — MAC'd under `mac_key` when one is given — carrying its bytes."""
    if mac_key is not None:
        return dialect.with_mac(mac_key, msg)
    if msg.wire(dialect) is None:
        msg.keep_wire(dialect, dialect.encode(msg))
    return msg


def frame(dialect: Dialect, response: Message, tpdu: bytes, header: bytes) -> bytes:
    """2-byte length + TPDU + header + the message, reusing the bytes it carries."""
    return dialect.pack_frame(response, tpdu, header)
