"""Numeric field types: `n` as packed BCD or ASCII digits, and `z` track data (BCD or ASCII)."""

from __future__ import annotations

from typing import Literal

from agent.iso8583.errors import CodecError, FieldId
from agent.iso8583.fieldbase import Decoder, Encoder, FieldType, LengthPrefix, truncated

class Bcd(FieldType[str]):
    """`n` as packed BCD: lengths in digits; odd lengths padded on `pad` side with `pad_nibble`."""

    kind = "n"
    unit = "digits"

    def __init__(self, length: int, *, prefix: LengthPrefix | None = None, pad: Literal["left", "right"] = "left",
                 pad_nibble: str = "0", field: FieldId | None = None) -> None:
        super().__init__(length, prefix=prefix, field=field)
        if pad not in ("left", "right") or len(pad_nibble) != 1 or pad_nibble not in "0123456789ABCDEF":
            raise ValueError("pad must be left/right and pad_nibble one hex digit")
        self.pad_left = pad == "left"
        self.pad_nibble = pad_nibble.lower()

    def describe(self) -> str:
        return super().describe() + " BCD"

    def body_size(self, length: int) -> int:
        return (length + 1) >> 1

    def _digits(self, text: str) -> bool:
        return not text or text.isdigit()

    kind_label = "BCD digit"

    def decode_body(self, data: bytes, pos: int, length: int, field: FieldId | None) -> tuple[str, int]:
        end = pos + ((length + 1) >> 1)
        if end > len(data):
            raise truncated(field, pos, end - pos, len(data))
        text = data[pos:end].hex()
        skip = 0
        if length & 1:
            pad_at = 0 if self.pad_left else len(text) - 1
            if text[pad_at] != self.pad_nibble:
                raise CodecError(f"pad nibble {text[pad_at].upper()} is not {self.pad_nibble.upper()}",
                                 field=field, offset=pos + pad_at // 2)
            if self.pad_left:
                text, skip = text[1:], 1
            else:
                text = text[:-1]
        if not self._digits(text):
            index = next(i for i, ch in enumerate(text) if not self._digits(ch)) + skip
            raise CodecError(f"nibble {text[index - skip].upper()} is not a {self.kind_label}", field=field,
                             offset=pos + index // 2)
        return self._to_value(text), end

    def _to_value(self, text: str) -> str:
        return text

    def fast_decoder(self) -> Decoder[str]:
        pad_left, pad = self.pad_left, self.pad_nibble
        digits, to_value = self._digits, self._to_value
        if type(self) is Bcd:
            return self._plain_decoder()

        def body_ok(raw: bytes, length: int) -> str | None:
            text = raw.hex()
            if length & 1:
                if pad_left:
                    if text[0] != pad:
                        return None
                    text = text[1:]
                else:
                    if text[-1] != pad:
                        return None
                    text = text[:-1]
            return to_value(text) if digits(text) else None
        return self._tuned_decoder(body_ok)

    def _plain_decoder(self) -> Decoder[str]:
        """`n` BCD: one hex() per field; odd lengths strip and check the pad nibble."""
        slow, pad_left, pad = self.decode_at, self.pad_left, self.pad_nibble
        if self.prefix is None:
            length = self.max_len
            size, odd = (length + 1) >> 1, length & 1

            def decode_bcd(data: bytes, pos: int, field: FieldId | None = None) -> tuple[str, int]:
                end = pos + size
                text = data[pos:end].hex()
                if len(text) == size * 2:
                    if odd:
                        if pad_left and text[0] == pad:
                            text = text[1:]
                        elif not pad_left and text[-1] == pad:
                            text = text[:-1]
                        else:
                            return slow(data, pos, field)
                    if text.isdigit():
                        return text, end
                return slow(data, pos, field)
            return decode_bcd
        lengths, _ = self._prefix_table(self.prefix)
        psize = self.prefix.size

        def decode_var_bcd(data: bytes, pos: int, field: FieldId | None = None) -> tuple[str, int]:
            start = pos + psize
            length = lengths.get(data[pos:start])
            if length:
                end = start + ((length + 1) >> 1)
                text = data[start:end].hex()
                if len(text) == end - start << 1:
                    if length & 1:
                        if pad_left and text[0] == pad:
                            text = text[1:]
                        elif not pad_left and text[-1] == pad:
                            text = text[:-1]
                        else:
                            return slow(data, pos, field)
                    if text.isdigit():
                        return text, end
            return slow(data, pos, field)
        return decode_var_bcd

    def fast_encoder(self) -> Encoder:
        pad_left, pad, fromhex = self.pad_left, self.pad_nibble, bytes.fromhex
        is_plain = type(self)._to_nibbles is Bcd._to_nibbles

        def body_of(value: object) -> tuple[bytes, int] | None:
            if type(value) is not str or not value.isascii():
                return None
            if is_plain:
                if not (value.isdigit() or not value):
                    return None
                nibbles = value
            else:
                nibbles = value.replace("=", "d")
                if not self._digits(nibbles):
                    return None
            length = len(nibbles)
            if length & 1:
                nibbles = pad + nibbles if pad_left else nibbles + pad
            return fromhex(nibbles), length
        return self._tuned_encoder(body_of)

    def _to_nibbles(self, value: object, field: FieldId | None) -> str:
        if type(value) is not str:
            raise CodecError(f"expected digits as str, got {type(value).__name__}", field=field)
        if value and not (value.isascii() and value.isdigit()):
            raise CodecError(f"{value!r} is not all digits", field=field)
        return value

    def encode_body(self, value: object, field: FieldId | None) -> tuple[bytes, int]:
        nibbles = self._to_nibbles(value, field)
        length = len(nibbles)
        if self.prefix is None and length != self.max_len:
            raise CodecError(f"needs exactly {self.max_len} digits, got {length}", field=field)
        if length & 1:
            nibbles = self.pad_nibble + nibbles if self.pad_left else nibbles + self.pad_nibble
        return bytes.fromhex(nibbles), length


class TrackBcd(Bcd):
    """`z` track data as packed BCD: digits, with the separator ``=`` sent as nibble D."""

    kind = "z"
    kind_label = "track digit or separator"

    def _digits(self, text: str) -> bool:
        return text.replace("d", "").isdigit() or not text.strip("d")

    def _to_value(self, text: str) -> str:
        return text.replace("d", "=")

    def _to_nibbles(self, value: object, field: FieldId | None) -> str:
        if type(value) is not str:
            raise CodecError(f"expected track data as str, got {type(value).__name__}", field=field)
        nibbles = value.replace("=", "d")
        if not (nibbles.isascii() and self._digits(nibbles)):
            raise CodecError("track data must be digits and '='", field=field)
        return nibbles


class AsciiDigits(FieldType[str]):
    """`n` (or `z` with ``allow="="``) as ASCII characters, one byte per digit."""

    kind = "n"

    def __init__(self, length: int, *, prefix: LengthPrefix | None = None, track: bool = False,
                 field: FieldId | None = None) -> None:
        super().__init__(length, prefix=prefix, field=field)
        self.track = track
        if track:
            self.kind = "z"

    def _check(self, raw: bytes) -> bool:
        if not self.track:
            return raw.isdigit() or not raw
        return raw.replace(b"=", b"").isdigit() or not raw.strip(b"=")

    def decode_body(self, data: bytes, pos: int, length: int, field: FieldId | None) -> tuple[str, int]:
        end = pos + length
        if end > len(data):
            raise truncated(field, pos, length, len(data))
        raw = data[pos:end]
        if not self._check(raw):
            index = next(i for i in range(length) if not self._check(raw[i:i + 1]))
            raise CodecError(f"byte {raw[index]:02X} is not an ASCII digit", field=field, offset=pos + index)
        return raw.decode("ascii"), end

    def fast_decoder(self) -> Decoder[str]:
        if self.track:
            check = self._check
            return self._tuned_decoder(lambda raw, length: raw.decode("ascii") if check(raw) else None)
        slow, size = self.decode_at, self.max_len
        if self.prefix is None:
            def decode_digits(data: bytes, pos: int, field: FieldId | None = None) -> tuple[str, int]:
                end = pos + size
                raw = data[pos:end]
                if len(raw) == size and raw.isdigit():
                    return raw.decode("ascii"), end
                return slow(data, pos, field)
            return decode_digits
        lengths, _ = self._prefix_table(self.prefix)
        psize = self.prefix.size

        def decode_var_digits(data: bytes, pos: int, field: FieldId | None = None) -> tuple[str, int]:
            start = pos + psize
            length = lengths.get(data[pos:start])
            if length is not None:
                end = start + length
                raw = data[start:end]
                if len(raw) == length and (raw.isdigit() or not length):
                    return raw.decode("ascii"), end
            return slow(data, pos, field)
        return decode_var_digits

    def fast_encoder(self) -> Encoder:
        check = self._check
        if not self.track and self.prefix is None:
            slow, size = self.encode_value, self.max_len

            def encode_digits(value: object, field: FieldId | None = None) -> bytes:
                if type(value) is str and len(value) == size and value.isdigit() and value.isascii():
                    return value.encode("ascii")
                return slow(value, field)
            return encode_digits

        def body_of(value: object) -> tuple[bytes, int] | None:
            if type(value) is not str or not value.isascii():
                return None
            raw = value.encode("ascii")
            return (raw, len(raw)) if check(raw) else None
        return self._tuned_encoder(body_of)

    def encode_body(self, value: object, field: FieldId | None) -> tuple[bytes, int]:
        if type(value) is not str:
            raise CodecError(f"expected digits as str, got {type(value).__name__}", field=field)
        if not value.isascii() or not self._check(value.encode("ascii")):
            raise CodecError(f"{value!r} is not all digits", field=field)
        if self.prefix is None and len(value) != self.max_len:
            raise CodecError(f"needs exactly {self.max_len} digits, got {len(value)}", field=field)
        return value.encode("ascii"), len(value)
