"""A dialect: one acquirer's declaration of MTI, bitmap, fields, framing and MAC — and the codec over it.

The codec here is general; everything acquirer-specific lives in a `Dialect` declaration (see
`agent/iso8583/dialects/`).  Adding an acquirer means writing one declaration, not touching this file.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field as dataclass_field
from typing import IO, Mapping

from construct import Construct, SizeofError

from agent.iso8583 import crypto
from agent.iso8583.errors import CodecError
from agent.iso8583.fieldbase import Decoder, Encoder
from agent.iso8583.fields import AnyFieldType, AsciiDigits, Bcd, FieldType
from agent.iso8583.message import FieldValue, Message

#: for each byte value, the 1-based bit positions set in it, most significant first
_BITS = tuple(tuple(i + 1 for i in range(8) if byte & (0x80 >> i)) for byte in range(256))

MAC_ALGORITHMS = {"cup-ecb": crypto.mac_cup_ecb, "x9.19": crypto.mac_x919, "x9.9": crypto.mac_x99}
MASKS = (None, "pan", "hide", "tlv")


@dataclass(frozen=True)
class FieldSpec:
    """One field of a dialect: its name, wire type, and how dumps and logs show it."""

    name: str
    type: AnyFieldType
    mask: str | None = None  # None: shown; "pan": first 6/last 4; "hide": never shown; "tlv": per EMV tag


@dataclass(frozen=True)
class FrameSpec:
    """2-byte length + TPDU + header around each message; lengths 0 mean the part is absent."""

    tpdu_len: int = 5
    header_len: int = 6
    tpdu_id: int | None = 0x60  # first TPDU byte every frame must carry (None: not checked)
    max_frame: int = 8192  # largest body (after the length prefix) the link accepts


@dataclass(frozen=True)
class TcUploadSpec:
    """The IC card TC upload (IC卡交易TC值上送): after an online chip approval the card's second GENERATE AC
    result (the TC) goes to the acquirer in field 55 of a batch-upload message, with the original's fields."""

    mti: str = "0320"
    tx_type: str = "00"  # 60.1
    nmc: str = "203"  # 60.3: an IC record's upload
    #: fields copied from the approved original (11 is the original's trace: the acquirer finds it by it)
    copied: tuple[int, ...] = (3, 4, 11, 22, 23, 25, 37, 38, 41, 42, 49)


@dataclass(frozen=True)
class ParamDownloadSpec:
    """The download of IC card parameters and CA public keys (IC卡参数 / 公钥下载) in network-management
    messages: per set a list query, one download message per entry, an end-of-download message; then the
    terminal's status upload.  Every code, tag and layout is data an acquirer profile can change."""

    tx_type: str = "00"  # 60.1 of every network-management message
    #: step → (MTI, 60.3): keys_query, key, keys_end, aids_query, aid, aids_end, status
    steps: Mapping[str, tuple[str, str]] = dataclass_field(default_factory=dict)
    data_field: int = 62  # the TLV entries, in the request and the answer
    version_field: int = 48  # the version of the set an answer lists (digits)
    #: the sign-on answer's field announcing the acquirer's versions: parameters then keys, `version_digits` each
    notice_field: int = 48
    version_digits: int = 8
    #: the first character of an answer's data field: an entry / a list follows, or there is none
    found: str = "1"
    none: str = "0"
    #: the first character of a list answer when more entries follow (a list longer than one answer): the
    #: terminal asks again, its data field holding how many entries it has so far, `offset_digits` digits
    more: str = "2"
    offset_digits: int = 3
    #: field name → EMV tag of a CA public key entry, and of an AID's parameters
    key_tags: Mapping[str, int] = dataclass_field(default_factory=dict)
    aid_tags: Mapping[str, int] = dataclass_field(default_factory=dict)
    #: the status upload's data: field name → tag (versions in force and the digest of the set)
    status_tags: Mapping[str, int] = dataclass_field(default_factory=dict)


@dataclass(frozen=True)
class Frame:
    tpdu: bytes
    header: bytes
    message: Message


@dataclass(frozen=True, eq=False)
class Dialect:
    name: str
    description: str
    mti: str  # "bcd" (2 bytes) or "ascii" (4 bytes)
    bitmap: str  # "binary" (8/16 bytes) or "hex" (16/32 ASCII hex characters)
    fields: Mapping[int, FieldSpec]
    mac_algorithm: str = "cup-ecb"
    #: message classes (second MTI digit) whose messages carry a MAC in field 64/128
    mac_classes: str = "124"
    frame: FrameSpec = dataclass_field(default_factory=FrameSpec)
    #: field 62 working-key layouts by sign-on mode (60.3): (key length, number of keys)
    key_layouts: Mapping[str, tuple[int, int]] = dataclass_field(default_factory=dict)
    #: field numbers with a typed view in agent.iso8583.subfields ("tlv", "60", "61", "48", "62", "63")
    structured: Mapping[int, str] = dataclass_field(default_factory=dict)
    #: request MTI → the MTI of its repeat (sent again after no answer): 0400 → 0401, 0220 → 0221
    repeats: Mapping[str, str] = dataclass_field(default_factory=lambda: {"0400": "0401", "0220": "0221"})
    tc_upload: TcUploadSpec = dataclass_field(default_factory=TcUploadSpec)
    #: IC card parameter and CA key download (None: the acquirer has none; the local files stay in force)
    param_download: ParamDownloadSpec | None = None
    # the codec's tables, made from the declaration in __post_init__
    _decoders: tuple[Decoder[FieldValue] | None, ...] = dataclass_field(init=False, repr=False, compare=False)
    _encoders: tuple[Encoder | None, ...] = dataclass_field(init=False, repr=False, compare=False)
    _mti_type: FieldType[str] = dataclass_field(init=False, repr=False, compare=False)
    _mti_decode: Decoder[str] = dataclass_field(init=False, repr=False, compare=False)
    _mti_encode: Encoder = dataclass_field(init=False, repr=False, compare=False)
    _secondary: bool = dataclass_field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.mti not in ("bcd", "ascii") or self.bitmap not in ("binary", "hex"):
            raise ValueError("mti is bcd/ascii, bitmap binary/hex")
        if self.mac_algorithm not in MAC_ALGORITHMS:
            raise ValueError(f"unknown MAC algorithm {self.mac_algorithm}")
        types: list[AnyFieldType | None] = [None] * 129
        specs = {}
        for number, spec in self.fields.items():
            if not 2 <= number <= 128 or spec.mask not in MASKS:
                raise ValueError(f"field {number}: number 2..128 and mask in {MASKS}")
            typed = FieldSpec(spec.name, spec.type.for_field(number), spec.mask)
            specs[number] = typed
            types[number] = typed.type
        object.__setattr__(self, "fields", specs)
        object.__setattr__(self, "_decoders", tuple(t and t.fast_decoder() for t in types))
        object.__setattr__(self, "_encoders", tuple(t and t.fast_encoder() for t in types))
        mti_type: FieldType[str] = Bcd(4, field=0) if self.mti == "bcd" else AsciiDigits(4, field=0)
        object.__setattr__(self, "_mti_type", mti_type)
        object.__setattr__(self, "_mti_decode", mti_type.fast_decoder())
        object.__setattr__(self, "_mti_encode", mti_type.fast_encoder())
        object.__setattr__(self, "_secondary", any(n > 64 for n in specs))
        for original, repeat in self.repeats.items():
            if len(original) != 4 or len(repeat) != 4 or original[:3] != repeat[:3]:
                raise ValueError(f"repeat of {original} must be the same message class and function, not {repeat}")

    def __repr__(self) -> str:
        return f"<Dialect {self.name}>"

    def repeat_mti(self, mti: str) -> str:
        """The MTI a request goes out with when it is sent again (the same MTI if the dialect has no repeat)."""
        return self.repeats.get(mti, mti)

    # --- messages -------------------------------------------------------------------------------
    def encode(self, msg: Message) -> bytes:
        """MTI + bitmap + fields (no framing)."""
        known = msg.wire(self)
        if known is not None:  # decoded or signed here: those bytes, not a second encoding
            return known
        encoders = self._encoders
        values = msg._fields
        numbers = sorted(values)
        parts = [self._mti_encode(msg._mti, 0), b""]
        bitmap = 0
        for number in numbers:
            encode = encoders[number]
            if encode is None:
                raise CodecError(f"not defined in dialect {self.name}", field=number)
            parts.append(encode(values[number], number))
            bitmap |= 1 << (128 - number)
        if numbers and numbers[-1] > 64:
            if not self._secondary:
                raise CodecError(f"dialect {self.name} has no secondary bitmap", field=numbers[-1])
            raw = (bitmap | 1 << 127).to_bytes(16, "big")
        else:
            raw = (bitmap >> 64).to_bytes(8, "big")
        parts[1] = raw if self.bitmap == "binary" else raw.hex().upper().encode("ascii")
        return b"".join(parts)

    def decode(self, data: bytes) -> Message:
        """Strict decode of MTI + bitmap + fields; trailing bytes are an error."""
        return self._decode(data if type(data) is bytes else bytes(data), 0)

    def _read_bitmap(self, data: bytes, pos: int) -> tuple[bytes, int]:
        width = 8 if self.bitmap == "binary" else 16
        end = pos + width
        if end > len(data):
            raise CodecError(f"needs {width} bytes, only {max(len(data) - pos, 0)} remain", field=1, offset=pos)
        raw = data[pos:end]
        if self.bitmap == "hex":
            raw = self._unhex(raw, pos)
        if raw[0] & 0x80:
            if not self._secondary:
                raise CodecError(f"secondary bitmap flagged but dialect {self.name} has none", field=1, offset=pos)
            more = data[end:end + width]
            if len(more) < width:
                raise CodecError(f"secondary bitmap needs {width} bytes, only {len(more)} remain",
                                 field=1, offset=end)
            raw += more if self.bitmap == "binary" else self._unhex(more, end)
            end += width
        return raw, end

    @staticmethod
    def _unhex(raw: bytes, pos: int) -> bytes:
        if raw.translate(None, b"0123456789ABCDEF"):
            raise CodecError("hex bitmap must be uppercase hex digits", field=1, offset=pos)
        return bytes.fromhex(raw.decode("ascii"))

    def _decode(self, data: bytes, base: int) -> Message:
        try:
            mti, pos = self._mti_decode(data, 0, 0)
            bitmap, pos = self._read_bitmap(data, pos)
            decoders = self._decoders
            fields = {}
            for index, byte in enumerate(bitmap):
                if byte:
                    for bit in _BITS[byte]:
                        number = index * 8 + bit
                        if number == 1:
                            continue
                        decode = decoders[number]
                        if decode is None:
                            raise CodecError(f"bitmap names a field dialect {self.name} does not define",
                                             field=number, offset=pos)
                        fields[number], pos = decode(data, pos, number)
            if pos != len(data):
                raise CodecError(f"{len(data) - pos} trailing bytes after the last field", offset=pos)
        except CodecError as exc:
            if base:
                raise CodecError(exc.expected, field=exc.field,
                                 offset=None if exc.offset is None else exc.offset + base) from None
            raise
        return Message._trusted(mti, fields).keep_wire(self, data)

    # --- framing --------------------------------------------------------------------------------
    def pack_frame(self, msg: Message, tpdu: bytes = b"", header: bytes = b"") -> bytes:
        """2-byte big-endian length + TPDU + header + message."""
        spec = self.frame
        if len(tpdu) != spec.tpdu_len or len(header) != spec.header_len:
            raise CodecError(f"frame needs a {spec.tpdu_len}-byte TPDU and a {spec.header_len}-byte header")
        if spec.tpdu_len and spec.tpdu_id is not None and tpdu[0] != spec.tpdu_id:
            raise CodecError(f"TPDU must start with {spec.tpdu_id:02X}")
        body = bytes(tpdu) + bytes(header) + self.encode(msg)
        if len(body) > spec.max_frame:
            raise CodecError(f"frame of {len(body)} bytes exceeds the maximum {spec.max_frame}")
        return len(body).to_bytes(2, "big") + body

    def frame_length(self, prefix: bytes) -> int:
        """The body length announced by a 2-byte length prefix, checked against the frame limit."""
        if len(prefix) != 2:
            raise CodecError("frame length prefix needs 2 bytes", offset=0)
        length = int.from_bytes(prefix, "big")
        head = self.frame.tpdu_len + self.frame.header_len
        if not head < length <= self.frame.max_frame:
            raise CodecError(f"frame length {length} outside {head + 1}..{self.frame.max_frame}", offset=0)
        return length

    def unpack_frame(self, body: bytes) -> Frame:
        """`body` is everything after the 2-byte length: TPDU + header + message."""
        spec = self.frame
        head = spec.tpdu_len + spec.header_len
        if len(body) > spec.max_frame:
            raise CodecError(f"frame of {len(body)} bytes exceeds the maximum {spec.max_frame}", offset=0)
        if len(body) < head:
            raise CodecError(f"frame needs {head} bytes of TPDU and header, has {len(body)}", offset=0)
        body = bytes(body)
        tpdu = body[:spec.tpdu_len]
        if spec.tpdu_len and spec.tpdu_id is not None and tpdu[0] != spec.tpdu_id:
            raise CodecError(f"TPDU must start with {spec.tpdu_id:02X}, found {tpdu[0]:02X}", offset=0)
        return Frame(tpdu, body[spec.tpdu_len:head], self._decode(body[head:], head))

    # --- MAC ------------------------------------------------------------------------------------
    @staticmethod
    def mac_field(msg: Message) -> int:
        """64, or 128 when the message has secondary-bitmap fields (the MAC is the last field)."""
        return 128 if any(n > 64 for n in msg._fields) else 64

    def mac_input(self, msg: Message) -> bytes:
        """The bytes the MAC covers: the encoded message, MAC field flagged in the bitmap, minus the MAC."""
        fields = dict(msg._fields)
        fields[self.mac_field(msg)] = bytes(8)
        return self.encode(Message._trusted(msg._mti, fields))[:-8]

    def compute_mac(self, key: bytes, msg: Message) -> bytes:
        return MAC_ALGORITHMS[self.mac_algorithm](key, self.mac_input(msg))

    def with_mac(self, key: bytes, msg: Message) -> Message:
        """`msg` with its MAC; its encoding is the MAC's input followed by the MAC (the MAC field is the
        last field and 8 bytes), kept so that sending it does not encode it again."""
        covered = self.mac_input(msg)
        mac = MAC_ALGORITHMS[self.mac_algorithm](key, covered)
        return msg.replace({self.mac_field(msg): mac}).keep_wire(self, covered + mac)

    def verify_mac(self, key: bytes, msg: Message, *, encoded: bytes | None = None) -> bool:
        """`encoded`: the message's bytes as they arrived (MTI onwards); when given, the MAC is checked over
        them as received, which saves encoding the message again."""
        received = msg.get(self.mac_field(msg))
        if type(received) is not bytes:
            return False
        if encoded is None:
            encoded = msg.wire(self)  # decoded here: checked over the bytes as they arrived
        if encoded is not None and len(received) == 8 and encoded[-8:] == received:
            expected = MAC_ALGORITHMS[self.mac_algorithm](key, encoded[:-8])
        else:
            expected = self.compute_mac(key, msg)
        return hmac.compare_digest(received, expected)

    def mac_required(self, msg: Message) -> bool:
        """Financial messages, advices and reversals carry a MAC; network, settlement, upload do not."""
        return msg.mti[1] in self.mac_classes

    # --- construct --------------------------------------------------------------------------------
    @property
    def construct(self) -> Construct:
        """The whole message as a construct (consumes the rest of the stream)."""
        return MessageConstruct(self)


class MessageConstruct(Construct):  # type: ignore[misc]  # construct's Construct is Any to mypy
    """A dialect's message as a construct, to compose with framing or other formats."""

    def __init__(self, dialect: Dialect) -> None:
        super().__init__()
        self.dialect = dialect

    def _parse(self, stream: IO[bytes], context: object, path: str | None) -> Message:
        start = stream.tell()
        return self.dialect._decode(stream.read(), start)

    def _build(self, obj: Message, stream: IO[bytes], context: object, path: str | None) -> Message:
        stream.write(self.dialect.encode(obj))
        return obj

    def _sizeof(self, context: object, path: str | None) -> int:
        raise SizeofError("ISO 8583 messages have variable size", path=path)
