"""The base of every field type: `LengthPrefix` (LL/LLL counts) and `FieldType`, a construct `Construct`.

`FieldType` holds what all types share: fixed or prefixed length, the construct interface (interpreted
and compiled through the same strict code), and the shape of the tuned closures the codec loop calls.
"""

from __future__ import annotations

import copy
from typing import IO, Callable, Generic, Literal, Self, TypeVar

from construct import CodeGen, Construct, SizeofError

from agent.iso8583.errors import CodecError, FieldId

PrefixEncoding = Literal["bcd", "ascii", "binary"]
PREFIX_ENCODINGS: tuple[PrefixEncoding, ...] = ("bcd", "ascii", "binary")

#: a field type's value: `str` for n, z, an and ans, `bytes` for b
ValueT = TypeVar("ValueT", bound=str | bytes)
#: a tuned decoder: (data, pos, field) -> (value, end)
Decoder = Callable[[bytes, int, FieldId | None], tuple[ValueT, int]]
#: a tuned encoder: (value, field) -> bytes; it checks the value, whatever its type
Encoder = Callable[[object, FieldId | None], bytes]


def shifted(exc: CodecError, base: int) -> CodecError:
    return CodecError(exc.expected, field=exc.field, offset=None if exc.offset is None else exc.offset + base)


def truncated(field: FieldId | None, pos: int, needed: int, data_len: int, what: str = "bytes") -> CodecError:
    return CodecError(f"needs {needed} {what}, only {max(data_len - pos, 0)} remain", field=field, offset=pos)


class LengthPrefix:
    """The LL or LLL count in front of a variable field: BCD (1 or 2 bytes), ASCII digits, or binary."""

    __slots__ = ("digits", "encoding", "size", "limit")

    def __init__(self, digits: int, encoding: PrefixEncoding) -> None:
        if digits not in (2, 3) or encoding not in PREFIX_ENCODINGS:
            raise ValueError(f"length prefix must be LL or LLL in {PREFIX_ENCODINGS}")
        self.digits = digits
        self.encoding = encoding
        self.size = {"bcd": (digits + 1) // 2, "ascii": digits, "binary": 1 if digits == 2 else 2}[encoding]
        self.limit = 10 ** digits - 1

    def __repr__(self) -> str:
        return f"{'L' * self.digits}-{self.encoding}"

    def decode_at(self, data: bytes, pos: int, field: FieldId | None) -> int:
        end = pos + self.size
        if end > len(data):
            raise truncated(field, pos, self.size, len(data), "bytes of length prefix")
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


class FieldType(Construct, Generic[ValueT]):  # type: ignore[misc]  # construct's Construct is Any to mypy
    """Common shape: fixed (`length`) or variable (`prefix` + `max_len`); subclasses do the body."""

    kind = "?"

    def __init__(self, length: int, *, prefix: LengthPrefix | None = None, field: FieldId | None = None) -> None:
        super().__init__()
        if length <= 0:
            raise ValueError("field length must be positive")
        self.max_len = length
        self.prefix = prefix
        self.field = field
        if prefix is not None and length > prefix.limit:
            raise ValueError(f"maximum {length} does not fit a {prefix!r} prefix")

    def for_field(self, number: FieldId) -> Self:
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

    def decode_body(self, data: bytes, pos: int, length: int, field: FieldId | None) -> tuple[ValueT, int]:
        raise NotImplementedError

    def encode_body(self, value: object, field: FieldId | None) -> tuple[bytes, int]:
        """(body bytes, counted length) for `value`, after checking it."""
        raise NotImplementedError

    # --- the fast path on bytes ------------------------------------------------------------------
    def decode_at(self, data: bytes, pos: int, field: FieldId | None = None) -> tuple[ValueT, int]:
        field = self.field if field is None else field
        prefix = self.prefix
        if prefix is None:
            return self.decode_body(data, pos, self.max_len, field)
        length = prefix.decode_at(data, pos, field)
        if length > self.max_len:
            raise CodecError(f"length {length} {self.unit} exceeds maximum {self.max_len}", field=field, offset=pos)
        return self.decode_body(data, pos + prefix.size, length, field)

    def encode_value(self, value: object, field: FieldId | None = None) -> bytes:
        field = self.field if field is None else field
        body, length = self.encode_body(value, field)
        if self.prefix is None:
            return body
        if length > self.max_len:
            raise CodecError(f"length {length} {self.unit} exceeds maximum {self.max_len}", field=field)
        return self.prefix.encode(length) + body

    unit = "bytes"

    # --- specialised closures for the message codec's loop ----------------------------------------
    def fast_decoder(self) -> Decoder[ValueT]:
        """A function (data, pos, field) -> (value, end) equal to `decode_at`, tuned for the common case.

        Each tuned path checks everything `decode_at` checks; on any doubt it calls `decode_at`,
        which raises the precise error.
        """
        return self.decode_at

    def fast_encoder(self) -> Encoder:
        """A function (value, field) -> bytes equal to `encode_value`, tuned the same way."""
        return self.encode_value

    def _prefix_table(self, prefix: LengthPrefix) -> tuple[dict[bytes, int], list[bytes]]:
        """Every valid prefix (0..max) to its length, and back, so one lookup checks digits and maximum."""
        encoded = [prefix.encode(i) for i in range(self.max_len + 1)]
        return {raw: i for i, raw in enumerate(encoded)}, encoded

    def _tuned_decoder(self, body_ok: Callable[[bytes, int], ValueT | None]) -> Decoder[ValueT]:
        """Shared shape of tuned decoders: `body_ok(raw)` -> value or None (None: let decode_at judge)."""
        slow = self.decode_at
        if self.prefix is None:
            size = self.body_size(self.max_len)

            def decode_fixed(data: bytes, pos: int, field: FieldId | None = None) -> tuple[ValueT, int]:
                end = pos + size
                value = body_ok(data[pos:end], self.max_len) if end <= len(data) else None
                if value is None:
                    return slow(data, pos, field)
                return value, end
            return decode_fixed
        lengths, _ = self._prefix_table(self.prefix)
        psize = self.prefix.size
        body_size = self.body_size

        def decode_var(data: bytes, pos: int, field: FieldId | None = None) -> tuple[ValueT, int]:
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

    def _tuned_encoder(self, body_of: Callable[[object], tuple[bytes, int] | None]) -> Encoder:
        """Shared shape of tuned encoders: `body_of(value)` -> (body, length) or None."""
        slow = self.encode_value
        if self.prefix is None:
            def encode_fixed(value: object, field: FieldId | None = None) -> bytes:
                done = body_of(value)
                if done is None or done[1] != self.max_len:
                    return slow(value, field)
                return done[0]
            return encode_fixed
        _, prefixes = self._prefix_table(self.prefix)
        max_len = self.max_len

        def encode_var(value: object, field: FieldId | None = None) -> bytes:
            done = body_of(value)
            if done is None or done[1] > max_len:
                return slow(value, field)
            return prefixes[done[1]] + done[0]
        return encode_var

    # --- construct's interface (interpreted and compiled use the same strict code) ---------------
    def _parse(self, stream: IO[bytes], context: object, path: str | None) -> ValueT:
        start = stream.tell()
        head = b""
        if self.prefix is not None:
            head = stream.read(self.prefix.size)
            if len(head) < self.prefix.size:
                raise truncated(self.field, start, self.prefix.size, start + len(head), "bytes of length prefix")
            try:
                length = self.prefix.decode_at(head, 0, self.field)
            except CodecError as exc:
                raise shifted(exc, start) from None
            if length > self.max_len:
                raise CodecError(f"length {length} {self.unit} exceeds maximum {self.max_len}",
                                 field=self.field, offset=start)
        else:
            length = self.max_len
        needed = self.body_size(length)
        body = stream.read(needed)
        if len(body) < needed:
            raise truncated(self.field, start + len(head), needed, start + len(head) + len(body))
        try:
            return self.decode_body(head + body, len(head), length, self.field)[0]
        except CodecError as exc:
            raise shifted(exc, start) from None

    def _build(self, obj: object, stream: IO[bytes], context: object, path: str | None) -> object:
        stream.write(self.encode_value(obj))
        return obj

    def _sizeof(self, context: object, path: str | None) -> int:
        if self.prefix is not None:
            raise SizeofError("variable-length field", path=path)
        return self.body_size(self.max_len)

    def _emitparse(self, code: CodeGen) -> str:
        code.linkedinstances[id(self)] = self
        return f"linkedinstances[{id(self)}]._parse(io, this, None)"

    def _emitbuild(self, code: CodeGen) -> str:
        code.linkedinstances[id(self)] = self
        return f"linkedinstances[{id(self)}]._build(obj, io, this, None)"


#: a field type of either kind of value (a dialect's fields mix them)
AnyFieldType = FieldType[str] | FieldType[bytes]
