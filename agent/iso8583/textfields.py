"""Text and binary field types: `an`/`ans` (ASCII, or GB18030 where a dialect says so) and `b`."""

from __future__ import annotations

import re
from typing import Literal

from agent.iso8583.errors import CodecError, FieldId
from agent.iso8583.fieldbase import Decoder, Encoder, FieldType, LengthPrefix, truncated

_AN_BYTES = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 "
_ANS_BYTES = bytes(range(0x20, 0x7F))
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


class Text(FieldType[str]):
    """`an` (letters, digits, space) or `ans` (printable) text; `encoding` ascii or gb18030 (ans only).

    Fixed fields are space-padded on encode; decode returns the wire text unchanged.
    """

    def __init__(self, length: int, *, kind: Literal["an", "ans"] = "ans",
                 encoding: Literal["ascii", "gb18030"] = "ascii", prefix: LengthPrefix | None = None,
                 field: FieldId | None = None) -> None:
        super().__init__(length, prefix=prefix, field=field)
        if kind not in ("an", "ans") or encoding not in ("ascii", "gb18030"):
            raise ValueError("text kind is an/ans, encoding ascii/gb18030")
        if kind == "an" and encoding != "ascii":
            raise ValueError("an text is ASCII")
        self.kind = kind
        self.encoding = encoding
        self._allowed = _AN_BYTES if kind == "an" else _ANS_BYTES

    def describe(self) -> str:
        return super().describe() + (" GB18030" if self.encoding == "gb18030" else "")

    def _bad_byte(self, raw: bytes, pos: int, field: FieldId | None) -> CodecError:
        index = next(i for i, b in enumerate(raw) if b not in self._allowed)
        what = "letter, digit or space" if self.kind == "an" else "printable ASCII character"
        return CodecError(f"byte {raw[index]:02X} is not a {what}", field=field, offset=pos + index)

    def decode_body(self, data: bytes, pos: int, length: int, field: FieldId | None) -> tuple[str, int]:
        end = pos + length
        if end > len(data):
            raise truncated(field, pos, length, len(data))
        raw = data[pos:end]
        if self.encoding == "ascii" or raw.isascii():
            if raw.translate(None, self._allowed):
                raise self._bad_byte(raw, pos, field)
            return raw.decode("ascii"), end
        try:
            text = raw.decode("gb18030")
        except UnicodeDecodeError as exc:
            raise CodecError("text is not valid GB18030", field=field, offset=pos + exc.start) from None
        if _CONTROL_CHARS.search(text):
            raise CodecError("text contains a control character", field=field, offset=pos)
        return text, end

    def fast_decoder(self) -> Decoder[str]:
        allowed, slow, size = self._allowed, self.decode_at, self.max_len
        if self.prefix is None:
            def decode_text(data: bytes, pos: int, field: FieldId | None = None) -> tuple[str, int]:
                end = pos + size
                raw = data[pos:end]
                if len(raw) == size and raw.isascii() and not raw.translate(None, allowed):
                    return raw.decode("ascii"), end
                return slow(data, pos, field)
            return decode_text
        lengths, _ = self._prefix_table(self.prefix)
        psize = self.prefix.size

        def decode_var_text(data: bytes, pos: int, field: FieldId | None = None) -> tuple[str, int]:
            start = pos + psize
            length = lengths.get(data[pos:start])
            if length is not None:
                end = start + length
                raw = data[start:end]
                if len(raw) == length and raw.isascii() and not raw.translate(None, allowed):
                    return raw.decode("ascii"), end
            return slow(data, pos, field)
        return decode_var_text

    def fast_encoder(self) -> Encoder:
        allowed = self._allowed
        if self.prefix is None:
            slow, size = self.encode_value, self.max_len

            def encode_text(value: object, field: FieldId | None = None) -> bytes:
                if type(value) is str and len(value) == size and value.isascii():
                    raw = value.encode("ascii")
                    if not raw.translate(None, allowed):
                        return raw
                return slow(value, field)
            return encode_text

        def body_of(value: object) -> tuple[bytes, int] | None:
            if type(value) is not str or not value.isascii():
                return None
            raw = value.encode("ascii")
            return None if raw.translate(None, allowed) else (raw, len(raw))
        return self._tuned_encoder(body_of)

    def encode_body(self, value: object, field: FieldId | None) -> tuple[bytes, int]:
        if type(value) is not str:
            raise CodecError(f"expected text as str, got {type(value).__name__}", field=field)
        try:
            raw = value.encode(self.encoding)
        except UnicodeEncodeError:
            raise CodecError(f"{self.kind} text must be {self.encoding.upper()}", field=field) from None
        if self.encoding == "ascii" or raw.isascii():
            if raw.translate(None, self._allowed):
                bad = self._bad_byte(raw, 0, field)
                raise CodecError(bad.expected, field=field)
        elif _CONTROL_CHARS.search(value):
            raise CodecError("text contains a control character", field=field)
        if self.prefix is None:
            if len(raw) > self.max_len:
                raise CodecError(f"{len(raw)} bytes exceed the field's {self.max_len}", field=field)
            raw = raw.ljust(self.max_len, b" ")
        return raw, len(raw)


class Binary(FieldType[bytes]):
    """`b`: raw bytes, fixed or with a byte-count prefix."""

    kind = "b"

    def decode_body(self, data: bytes, pos: int, length: int, field: FieldId | None) -> tuple[bytes, int]:
        end = pos + length
        if end > len(data):
            raise truncated(field, pos, length, len(data))
        return data[pos:end], end

    def encode_body(self, value: object, field: FieldId | None) -> tuple[bytes, int]:
        if type(value) is not bytes:
            if not isinstance(value, (bytearray, memoryview)):
                raise CodecError(f"expected bytes, got {type(value).__name__}", field=field)
            value = bytes(value)
        if self.prefix is None and len(value) != self.max_len:
            raise CodecError(f"needs exactly {self.max_len} bytes, got {len(value)}", field=field)
        return value, len(value)

    def fast_decoder(self) -> Decoder[bytes]:
        slow, size = self.decode_at, self.max_len
        if self.prefix is None:
            def decode_bytes(data: bytes, pos: int, field: FieldId | None = None) -> tuple[bytes, int]:
                end = pos + size
                raw = data[pos:end]
                if len(raw) == size:
                    return raw, end
                return slow(data, pos, field)
            return decode_bytes
        lengths, _ = self._prefix_table(self.prefix)
        psize = self.prefix.size

        def decode_var_bytes(data: bytes, pos: int, field: FieldId | None = None) -> tuple[bytes, int]:
            start = pos + psize
            length = lengths.get(data[pos:start])
            if length is not None:
                end = start + length
                raw = data[start:end]
                if len(raw) == length:
                    return raw, end
            return slow(data, pos, field)
        return decode_var_bytes

    def fast_encoder(self) -> Encoder:
        slow, size = self.encode_value, self.max_len
        if self.prefix is None:
            def encode_bytes(value: object, field: FieldId | None = None) -> bytes:
                if type(value) is bytes and len(value) == size:
                    return value
                return slow(value, field)
            return encode_bytes
        _, prefixes = self._prefix_table(self.prefix)

        def encode_var_bytes(value: object, field: FieldId | None = None) -> bytes:
            if type(value) is bytes and len(value) <= size:
                return prefixes[len(value)] + value
            return slow(value, field)
        return encode_var_bytes
