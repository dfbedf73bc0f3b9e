"""BER-TLV as EMV uses it (field 55, card responses): multi-byte tags, long-form lengths, templates.

`decode` returns a flat list of `Tlv` values in wire order (constructed tags keep their raw value and
can be opened with `decode(t.value)`); `encode` is its inverse and `decode(encode(x)) == x`.
Strict: a truncated tag, length or value, a length longer than what remains, or an indefinite
length is a `CodecError` naming the tag and the offset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from agent.iso8583.errors import CodecError

MAX_TAG_BYTES = 4


@dataclass(frozen=True, slots=True)
class Tlv:
    tag: int  # the tag's bytes as a big-endian integer: 0x9F26, 0x5F2A, 0x70
    value: bytes

    @property
    def tag_hex(self) -> str:
        return tag_bytes(self.tag).hex().upper()

    @property
    def constructed(self) -> bool:
        return bool(tag_bytes(self.tag)[0] & 0x20)


def tag_bytes(tag: int) -> bytes:
    length = max(1, (tag.bit_length() + 7) // 8)
    return tag.to_bytes(length, "big")


def _read_tag(data: bytes, pos: int, field: str) -> tuple[int, int]:
    start = pos
    if pos >= len(data):
        raise CodecError("expected a TLV tag, found end of data", field=field, offset=pos)
    first = data[pos]
    pos += 1
    if first in (0x00, 0xFF):
        raise CodecError(f"invalid TLV tag byte {first:02X}", field=field, offset=start)
    if first & 0x1F == 0x1F:  # subsequent tag bytes follow while bit 8 is set
        while True:
            if pos >= len(data):
                raise CodecError("TLV tag truncated", field=field, offset=start)
            b = data[pos]
            pos += 1
            if not b & 0x80:
                break
            if pos - start >= MAX_TAG_BYTES:
                raise CodecError(f"TLV tag longer than {MAX_TAG_BYTES} bytes", field=field, offset=start)
    return int.from_bytes(data[start:pos], "big"), pos


def _read_length(data: bytes, pos: int, field: str) -> tuple[int, int]:
    if pos >= len(data):
        raise CodecError("expected a TLV length, found end of data", field=field, offset=pos)
    first = data[pos]
    if first < 0x80:
        return first, pos + 1
    count = first & 0x7F
    if count == 0:
        raise CodecError("indefinite TLV length is not allowed", field=field, offset=pos)
    if count > 3:
        raise CodecError(f"TLV length of {count} bytes exceeds 3", field=field, offset=pos)
    if pos + 1 + count > len(data):
        raise CodecError("TLV length truncated", field=field, offset=pos)
    return int.from_bytes(data[pos + 1:pos + 1 + count], "big"), pos + 1 + count


def decode(data: bytes, *, field: str = "55", base_offset: int = 0) -> list[Tlv]:
    """Decode a sequence of TLVs; offsets in errors are `base_offset` + position in `data`."""
    items: list[Tlv] = []
    pos = 0
    n = len(data)
    while pos < n:
        try:
            tag, after_tag = _read_tag(data, pos, field)
        except CodecError as exc:
            raise CodecError(exc.expected, field=exc.field, offset=base_offset + (exc.offset or 0)) from None
        tag_name = f"{field}.{tag_bytes(tag).hex().upper()}"
        try:
            length, after_len = _read_length(data, after_tag, tag_name)
        except CodecError as exc:
            raise CodecError(exc.expected, field=exc.field, offset=base_offset + (exc.offset or 0)) from None
        if after_len + length > n:
            raise CodecError(f"value of {length} bytes exceeds the {n - after_len} bytes remaining",
                             field=tag_name, offset=base_offset + after_len)
        items.append(Tlv(tag, bytes(data[after_len:after_len + length])))
        pos = after_len + length
    return items


def encode_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    body = length.to_bytes((length.bit_length() + 7) // 8, "big")
    if len(body) > 3:
        raise CodecError(f"TLV value of {length} bytes is too long")
    return bytes([0x80 | len(body)]) + body


def encode(items: Iterable[Tlv]) -> bytes:
    out = bytearray()
    for item in items:
        tb = tag_bytes(item.tag)
        if tb[0] & 0x1F == 0x1F:
            if len(tb) < 2 or any(not b & 0x80 for b in tb[1:-1]) or tb[-1] & 0x80:
                raise CodecError(f"malformed multi-byte tag {tb.hex().upper()}")
        elif len(tb) != 1:
            raise CodecError(f"malformed tag {tb.hex().upper()}: first byte does not announce more bytes")
        out += tb + encode_length(len(item.value)) + item.value
    return bytes(out)


def find(items: Iterable[Tlv], tag: int) -> bytes | None:
    """The value of the first `tag`, searching inside constructed templates too."""
    for item in items:
        if item.tag == tag:
            return item.value
        if item.constructed:
            try:
                inner = find(decode(item.value), tag)
            except CodecError:
                continue
            if inner is not None:
                return inner
    return None


def dol_items(dol: bytes) -> list[tuple[int, int]]:
    """A data object list (DOL): its (tag, length) pairs, tags in BER form without values; a `ValueError`
    naming the offset when a tag has no length after it."""
    items: list[tuple[int, int]] = []
    pos = 0
    while pos < len(dol):
        start = pos
        first = dol[pos]
        pos += 1
        if first & 0x1F == 0x1F:
            while pos < len(dol) and dol[pos] & 0x80:
                pos += 1
            pos += 1
        if pos >= len(dol):
            raise ValueError(f"a tag without its length at offset {start}")
        items.append((int.from_bytes(dol[start:pos], "big"), dol[pos]))
        pos += 1
    return items
