"""ISO 8583 field types as construct constructs: `n`, `z`, `an`/`ans`, `b`, with LL/LLL length prefixes.

Each field type is a `construct.Construct`, so a format can be declared and used with construct's
`Struct`, `.parse`, `.build` and `.compile()`.  Each also has a hand-tuned path on plain bytes
(`decode_at(data, pos, field)` → `(value, new_pos)` and `encode_value(value, field)` → bytes) that the
message codec calls in its loop; construct's `_parse`/`_build` and the compiled form go through the
same checks, so lengths, digits and pad nibbles are verified the same way everywhere and every error
is a `CodecError` naming the field and the byte offset.

Values: `n` and `z` are `str` of ASCII digits (`z` also allows ``=``, the track separator, sent as
the BCD nibble D); `an`/`ans` are `str`; `b` is `bytes`.  Variable lengths count digits for BCD
fields and bytes for everything else.
"""

from __future__ import annotations

import copy
import re

from construct import Construct, SizeofError

from agent.iso8583.errors import CodecError

PREFIX_ENCODINGS = ("bcd", "ascii", "binary")
_AN_BYTES = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 "
_ANS_BYTES = bytes(range(0x20, 0x7F))
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


def _shifted(exc: CodecError, base: int) -> CodecError:
    return CodecError(exc.expected, field=exc.field, offset=None if exc.offset is None else exc.offset + base)


def _truncated(field, pos: int, needed: int, data_len: int, what: str = "bytes") -> CodecError:
    return CodecError(f"needs {needed} {what}, only {max(data_len - pos, 0)} remain", field=field, offset=pos)


class LengthPrefix:
    """The LL or LLL count in front of a variable field: BCD (1 or 2 bytes), ASCII digits, or binary."""

    __slots__ = ("digits", "encoding", "size", "limit")

    def __init__(self, digits: int, encoding: str):
        if digits not in (2, 3) or encoding not in PREFIX_ENCODINGS:
            raise ValueError(f"length prefix must be LL or LLL in {PREFIX_ENCODINGS}")
        self.digits = digits
        self.encoding = encoding
        self.size = {"bcd": (digits + 1) // 2, "ascii": digits, "binary": 1 if digits == 2 else 2}[encoding]
        self.limit = 10 ** digits - 1

    def __repr__(self) -> str:
        return f"{'L' * self.digits}-{self.encoding}"

    def decode_at(self, data: bytes, pos: int, field) -> int:
        end = pos + self.size
        if end > len(data):
            raise _truncated(field, pos, self.size, len(data), "bytes of length prefix")
        raw = data[pos:end]
        if self.encoding == "bcd":
            text = raw.hex()
            if not text.isdigit():
                raise CodecError(f"length prefix {text.upper()} is not BCD digits", field=field, offset=pos)
            return int(text)
        if self.encoding == "ascii":
            if not raw.isdigit():  # bytes.isdigit accepts ASCII digits only (unlike int())
                raise CodecError(f"length prefix {raw!r} is not {self.digits} ASCII digits", field=field, offset=pos)
            return int(raw)
        return int.from_bytes(raw, "big")

    def encode(self, length: int) -> bytes:
        if self.encoding == "bcd":
            return bytes.fromhex(f"{length:0{self.size * 2}d}")
        if self.encoding == "ascii":
            return b"%0*d" % (self.digits, length)
        return length.to_bytes(self.size, "big")


class FieldType(Construct):
    """Common shape: fixed (`length`) or variable (`prefix` + `max_len`); subclasses do the body."""

    kind = "?"

    def __init__(self, length: int, *, prefix: LengthPrefix | None = None, field: int | str | None = None):
        super().__init__()
        if length <= 0:
            raise ValueError("field length must be positive")
        self.max_len = length
        self.prefix = prefix
        self.field = field
        if prefix is not None and length > prefix.limit:
            raise ValueError(f"maximum {length} does not fit a {prefix!r} prefix")

    def for_field(self, number: int | str) -> "FieldType":
        """A copy that names `number` in its errors (dialects give each field its own)."""
        clone = copy.copy(self)
        clone.field = number
        return clone

    @property
    def variable(self) -> bool:
        return self.prefix is not None

    def describe(self) -> str:
        """`n..19 (LL-bcd)`, `an 8`, `b 8`: the field's format for dumps and docs."""
        if self.prefix is None:
            return f"{self.kind} {self.max_len}"
        return f"{self.kind} ..{self.max_len} ({self.prefix!r})"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.describe()}>"

    # --- per-type body, overridden by subclasses -------------------------------------------------
    def body_size(self, length: int) -> int:
        """Wire bytes of a body whose counted length is `length`."""
        return length

    def decode_body(self, data: bytes, pos: int, length: int, field) -> tuple[object, int]:
        raise NotImplementedError

    def encode_body(self, value, field) -> tuple[bytes, int]:
        """(body bytes, counted length) for `value`, after checking it."""
        raise NotImplementedError

    # --- the fast path on bytes ------------------------------------------------------------------
    def decode_at(self, data: bytes, pos: int, field=None) -> tuple[object, int]:
        field = self.field if field is None else field
        prefix = self.prefix
        if prefix is None:
            return self.decode_body(data, pos, self.max_len, field)
        length = prefix.decode_at(data, pos, field)
        if length > self.max_len:
            raise CodecError(f"length {length} {self.unit} exceeds maximum {self.max_len}", field=field, offset=pos)
        return self.decode_body(data, pos + prefix.size, length, field)

    def encode_value(self, value, field=None) -> bytes:
        field = self.field if field is None else field
        body, length = self.encode_body(value, field)
        if self.prefix is None:
            return body
        if length > self.max_len:
            raise CodecError(f"length {length} {self.unit} exceeds maximum {self.max_len}", field=field)
        return self.prefix.encode(length) + body

    unit = "bytes"

    # --- specialised closures for the message codec's loop ----------------------------------------
    def fast_decoder(self):
        """A function (data, pos, field) -> (value, end) equal to `decode_at`, tuned for the common case.

        Each tuned path checks everything `decode_at` checks; on any doubt it calls `decode_at`,
        which raises the precise error.
        """
        return self.decode_at

    def fast_encoder(self):
        """A function (value, field) -> bytes equal to `encode_value`, tuned the same way."""
        return self.encode_value

    def _prefix_table(self) -> tuple[dict[bytes, int], list[bytes]]:
        """Every valid prefix (0..max) to its length, and back, so one lookup checks digits and maximum."""
        encoded = [self.prefix.encode(i) for i in range(self.max_len + 1)]
        return {raw: i for i, raw in enumerate(encoded)}, encoded

    def _tuned_decoder(self, body_ok):
        """Shared shape of tuned decoders: `body_ok(raw)` -> value or None (None: let decode_at judge)."""
        slow = self.decode_at
        if self.prefix is None:
            size = self.body_size(self.max_len)

            def decode_fixed(data, pos, field=None):
                end = pos + size
                value = body_ok(data[pos:end], self.max_len) if end <= len(data) else None
                if value is None:
                    return slow(data, pos, field)
                return value, end
            return decode_fixed
        lengths, _ = self._prefix_table()
        psize = self.prefix.size
        body_size = self.body_size

        def decode_var(data, pos, field=None):
            start = pos + psize
            length = lengths.get(data[pos:start])
            if length is not None:
                end = start + body_size(length)
                if end <= len(data):
                    value = body_ok(data[start:end], length)
                    if value is not None:
                        return value, end
            return slow(data, pos, field)
        return decode_var

    def _tuned_encoder(self, body_of):
        """Shared shape of tuned encoders: `body_of(value)` -> (body, length) or None."""
        slow = self.encode_value
        if self.prefix is None:
            def encode_fixed(value, field=None):
                done = body_of(value)
                if done is None or done[1] != self.max_len:
                    return slow(value, field)
                return done[0]
            return encode_fixed
        _, prefixes = self._prefix_table()
        max_len = self.max_len

        def encode_var(value, field=None):
            done = body_of(value)
            if done is None or done[1] > max_len:
                return slow(value, field)
            return prefixes[done[1]] + done[0]
        return encode_var

    # --- construct's interface (interpreted and compiled use the same strict code) ---------------
    def _parse(self, stream, context, path):
        start = stream.tell()
        head = b""
        if self.prefix is not None:
            head = stream.read(self.prefix.size)
            if len(head) < self.prefix.size:
                raise _truncated(self.field, start, self.prefix.size, start + len(head), "bytes of length prefix")
            try:
                length = self.prefix.decode_at(head, 0, self.field)
            except CodecError as exc:
                raise _shifted(exc, start) from None
            if length > self.max_len:
                raise CodecError(f"length {length} {self.unit} exceeds maximum {self.max_len}",
                                 field=self.field, offset=start)
        else:
            length = self.max_len
        needed = self.body_size(length)
        body = stream.read(needed)
        if len(body) < needed:
            raise _truncated(self.field, start + len(head), needed, start + len(head) + len(body))
        try:
            return self.decode_body(head + body, len(head), length, self.field)[0]
        except CodecError as exc:
            raise _shifted(exc, start) from None

    def _build(self, obj, stream, context, path):
        stream.write(self.encode_value(obj))
        return obj

    def _sizeof(self, context, path):
        if self.prefix is not None:
            raise SizeofError("variable-length field", path=path)
        return self.body_size(self.max_len)

    def _emitparse(self, code):
        code.linkedinstances[id(self)] = self
        return f"linkedinstances[{id(self)}]._parse(io, this, None)"

    def _emitbuild(self, code):
        code.linkedinstances[id(self)] = self
        return f"linkedinstances[{id(self)}]._build(obj, io, this, None)"


class Bcd(FieldType):
    """`n` as packed BCD: lengths in digits; odd lengths padded on `pad` side with `pad_nibble`."""

    kind = "n"
    unit = "digits"

    def __init__(self, length: int, *, prefix: LengthPrefix | None = None, pad: str = "left",
                 pad_nibble: str = "0", field: int | str | None = None):
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

    def decode_body(self, data: bytes, pos: int, length: int, field):
        end = pos + ((length + 1) >> 1)
        if end > len(data):
            raise _truncated(field, pos, end - pos, len(data))
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

    def fast_decoder(self):
        pad_left, pad = self.pad_left, self.pad_nibble
        digits, to_value = self._digits, self._to_value
        if type(self) is Bcd:
            return self._plain_decoder()

        def body_ok(raw, length):
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

    def _plain_decoder(self):
        """`n` BCD: one hex() per field; odd lengths strip and check the pad nibble."""
        slow, pad_left, pad = self.decode_at, self.pad_left, self.pad_nibble
        if self.prefix is None:
            length = self.max_len
            size, odd = (length + 1) >> 1, length & 1

            def decode_bcd(data, pos, field=None):
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
        lengths, _ = self._prefix_table()
        psize = self.prefix.size

        def decode_var_bcd(data, pos, field=None):
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

    def fast_encoder(self):
        pad_left, pad, fromhex = self.pad_left, self.pad_nibble, bytes.fromhex
        is_plain = type(self)._to_nibbles is Bcd._to_nibbles

        def body_of(value):
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

    def _to_nibbles(self, value, field) -> str:
        if type(value) is not str:
            raise CodecError(f"expected digits as str, got {type(value).__name__}", field=field)
        if value and not (value.isascii() and value.isdigit()):
            raise CodecError(f"{value!r} is not all digits", field=field)
        return value

    def encode_body(self, value, field):
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

    def _to_nibbles(self, value, field) -> str:
        if type(value) is not str:
            raise CodecError(f"expected track data as str, got {type(value).__name__}", field=field)
        nibbles = value.replace("=", "d")
        if not (nibbles.isascii() and self._digits(nibbles)):
            raise CodecError("track data must be digits and '='", field=field)
        return nibbles


class AsciiDigits(FieldType):
    """`n` (or `z` with ``allow="="``) as ASCII characters, one byte per digit."""

    kind = "n"

    def __init__(self, length: int, *, prefix: LengthPrefix | None = None, track: bool = False,
                 field: int | str | None = None):
        super().__init__(length, prefix=prefix, field=field)
        self.track = track
        if track:
            self.kind = "z"

    def _check(self, raw: bytes) -> bool:
        if not self.track:
            return raw.isdigit() or not raw
        return raw.replace(b"=", b"").isdigit() or not raw.strip(b"=")

    def decode_body(self, data: bytes, pos: int, length: int, field):
        end = pos + length
        if end > len(data):
            raise _truncated(field, pos, length, len(data))
        raw = data[pos:end]
        if not self._check(raw):
            index = next(i for i in range(length) if not self._check(raw[i:i + 1]))
            raise CodecError(f"byte {raw[index]:02X} is not an ASCII digit", field=field, offset=pos + index)
        return raw.decode("ascii"), end

    def fast_decoder(self):
        if self.track:
            check = self._check
            return self._tuned_decoder(lambda raw, length: raw.decode("ascii") if check(raw) else None)
        slow, size = self.decode_at, self.max_len
        if self.prefix is None:
            def decode_digits(data, pos, field=None):
                end = pos + size
                raw = data[pos:end]
                if len(raw) == size and raw.isdigit():
                    return raw.decode("ascii"), end
                return slow(data, pos, field)
            return decode_digits
        lengths, _ = self._prefix_table()
        psize = self.prefix.size

        def decode_var_digits(data, pos, field=None):
            start = pos + psize
            length = lengths.get(data[pos:start])
            if length is not None:
                end = start + length
                raw = data[start:end]
                if len(raw) == length and (raw.isdigit() or not length):
                    return raw.decode("ascii"), end
            return slow(data, pos, field)
        return decode_var_digits

    def fast_encoder(self):
        check = self._check
        if not self.track and self.prefix is None:
            slow, size = self.encode_value, self.max_len

            def encode_digits(value, field=None):
                if type(value) is str and len(value) == size and value.isdigit() and value.isascii():
                    return value.encode("ascii")
                return slow(value, field)
            return encode_digits

        def body_of(value):
            if type(value) is not str or not value.isascii():
                return None
            raw = value.encode("ascii")
            return (raw, len(raw)) if check(raw) else None
        return self._tuned_encoder(body_of)

    def encode_body(self, value, field):
        if type(value) is not str:
            raise CodecError(f"expected digits as str, got {type(value).__name__}", field=field)
        if not value.isascii() or not self._check(value.encode("ascii")):
            raise CodecError(f"{value!r} is not all digits", field=field)
        if self.prefix is None and len(value) != self.max_len:
            raise CodecError(f"needs exactly {self.max_len} digits, got {len(value)}", field=field)
        return value.encode("ascii"), len(value)


class Text(FieldType):
    """`an` (letters, digits, space) or `ans` (printable) text; `encoding` ascii or gb18030 (ans only).

    Fixed fields are space-padded on encode; decode returns the wire text unchanged.
    """

    def __init__(self, length: int, *, kind: str = "ans", encoding: str = "ascii",
                 prefix: LengthPrefix | None = None, field: int | str | None = None):
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

    def _bad_byte(self, raw: bytes, pos: int, field) -> CodecError:
        index = next(i for i, b in enumerate(raw) if b not in self._allowed)
        what = "letter, digit or space" if self.kind == "an" else "printable ASCII character"
        return CodecError(f"byte {raw[index]:02X} is not a {what}", field=field, offset=pos + index)

    def decode_body(self, data: bytes, pos: int, length: int, field):
        end = pos + length
        if end > len(data):
            raise _truncated(field, pos, length, len(data))
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

    def fast_decoder(self):
        allowed, slow, size = self._allowed, self.decode_at, self.max_len
        if self.prefix is None:
            def decode_text(data, pos, field=None):
                end = pos + size
                raw = data[pos:end]
                if len(raw) == size and raw.isascii() and not raw.translate(None, allowed):
                    return raw.decode("ascii"), end
                return slow(data, pos, field)
            return decode_text
        lengths, _ = self._prefix_table()
        psize = self.prefix.size

        def decode_var_text(data, pos, field=None):
            start = pos + psize
            length = lengths.get(data[pos:start])
            if length is not None:
                end = start + length
                raw = data[start:end]
                if len(raw) == length and raw.isascii() and not raw.translate(None, allowed):
                    return raw.decode("ascii"), end
            return slow(data, pos, field)
        return decode_var_text

    def fast_encoder(self):
        allowed = self._allowed
        if self.prefix is None:
            slow, size = self.encode_value, self.max_len

            def encode_text(value, field=None):
                if type(value) is str and len(value) == size and value.isascii():
                    raw = value.encode("ascii")
                    if not raw.translate(None, allowed):
                        return raw
                return slow(value, field)
            return encode_text

        def body_of(value):
            if type(value) is not str or not value.isascii():
                return None
            raw = value.encode("ascii")
            return None if raw.translate(None, allowed) else (raw, len(raw))
        return self._tuned_encoder(body_of)

    def encode_body(self, value, field):
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


class Binary(FieldType):
    """`b`: raw bytes, fixed or with a byte-count prefix."""

    kind = "b"

    def decode_body(self, data: bytes, pos: int, length: int, field):
        end = pos + length
        if end > len(data):
            raise _truncated(field, pos, length, len(data))
        return data[pos:end], end

    def encode_body(self, value, field):
        if type(value) is not bytes:
            if not isinstance(value, (bytearray, memoryview)):
                raise CodecError(f"expected bytes, got {type(value).__name__}", field=field)
            value = bytes(value)
        if self.prefix is None and len(value) != self.max_len:
            raise CodecError(f"needs exactly {self.max_len} bytes, got {len(value)}", field=field)
        return value, len(value)

    def fast_decoder(self):
        slow, size = self.decode_at, self.max_len
        if self.prefix is None:
            def decode_bytes(data, pos, field=None):
                end = pos + size
                raw = data[pos:end]
                if len(raw) == size:
                    return raw, end
                return slow(data, pos, field)
            return decode_bytes
        lengths, _ = self._prefix_table()
        psize = self.prefix.size

        def decode_var_bytes(data, pos, field=None):
            start = pos + psize
            length = lengths.get(data[pos:start])
            if length is not None:
                end = start + length
                raw = data[start:end]
                if len(raw) == length:
                    return raw, end
            return slow(data, pos, field)
        return decode_var_bytes

    def fast_encoder(self):
        slow, size = self.encode_value, self.max_len
        if self.prefix is None:
            def encode_bytes(value, field=None):
                if type(value) is bytes and len(value) == size:
                    return value
                return slow(value, field)
            return encode_bytes
        _, prefixes = self._prefix_table()

        def encode_var_bytes(value, field=None):
            if type(value) is bytes and len(value) <= size:
                return prefixes[len(value)] + value
            return slow(value, field)
        return encode_var_bytes
