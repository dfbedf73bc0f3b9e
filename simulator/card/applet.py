"""The virtual card's EMV applet: command APDU in, answer out (no I/O; the vpcd client feeds it).

It answers the contact flow for test cards from simulator/data/cards.toml: PPSE and PSE directories,
SELECT, GET PROCESSING OPTIONS with a PDOL, READ RECORD, INTERNAL AUTHENTICATE (DDA), and GENERATE AC
with EMV cryptograms (simulator/emvcrypto.py) and, when asked, CDA signatures; its certificates come
from the test PKI (simulator/card/authdata.py). Issuer scripts are accepted only with a valid MAC.  A T=0 card
answers data-bearing commands with 61xx and wrong Le with 6Cxx, as real T=0 cards do.

Misbehaviour is data too: `Misbehaviour(remove_at="gpo")`, `mute_at="read"`, `sw_at={"select": 0x6A81}`.
"""

from __future__ import annotations

import calendar
import os
from dataclasses import dataclass, field
from typing import Sequence

from agent.iso8583.tlv import Tlv, encode
from simulator import emvcrypto
from simulator.card import authdata
from simulator.emvcrypto import IAD
from simulator.testcards import CDOL1, TestCard

#: the steps misbehaviour can be attached to, in flow order
STEPS = ("ppse", "pse", "select", "gpo", "read", "auth", "genac1", "genac2")

PPSE_NAME = b"2PAY.SYS.DDF01"
PSE_NAME = b"1PAY.SYS.DDF01"
DIRECTORY_SFI = 1
HISTORICAL = b"POSIM"


def _with_tck(atr: bytes) -> bytes:
    check = 0
    for b in atr[1:]:
        check ^= b
    return atr + bytes([check])


ATR_T1 = _with_tck(bytes([0x3B, 0x80 | len(HISTORICAL), 0x80, 0x01]) + HISTORICAL)  # TD1: T=1 only
ATR_T0 = bytes([0x3B, 0x60 | len(HISTORICAL), 0x00, 0x00]) + HISTORICAL  # TB1, TC1, no TD1: T=0

PDOL = bytes.fromhex("9F1A02" "5F2A02" "9F0206")
#: CDOL2 by the card profile's ARPC method: tag 91 is ARPC || ARC (method 1) or ARPC || CSU (method 2).
CDOL2 = {1: ((0x8A, 2), (0x91, 10), (0x95, 5), (0x9F37, 4)), 2: ((0x8A, 2), (0x91, 8), (0x95, 5), (0x9F37, 4))}


def _dol_bytes(dol: Sequence[tuple[int, int]]) -> bytes:
    out = bytearray()
    for tag, length in dol:
        out += tag.to_bytes((tag.bit_length() + 7) // 8, "big") + bytes([length])
    return bytes(out)


def _packed(digits: str) -> bytes:
    return bytes.fromhex(digits + "F" * (len(digits) % 2))


@dataclass(frozen=True)
class Misbehaviour:
    remove_at: str | None = None  # close the connection when this step's command arrives
    mute_at: str | None = None  # never answer this step's command (the card stays in)
    sw_at: dict[str, int] = field(default_factory=dict)  # answer only this status word at the step

    def __post_init__(self) -> None:
        for step in (self.remove_at, self.mute_at, *self.sw_at):
            if step is not None and step not in STEPS:
                raise ValueError(f"unknown step {step!r} (steps: {', '.join(STEPS)})")


@dataclass(frozen=True)
class Reply:
    """What the card does with a command: answer `data`, go mute, or leave the reader."""

    action: str  # "answer", "mute", "remove"
    data: bytes = b""


@dataclass(frozen=True)
class CardOptions:
    t0: bool = False
    ppse: bool = True  # answer SELECT 2PAY.SYS.DDF01
    pse: bool = True  # answer SELECT 1PAY.SYS.DDF01
    confirm: bool = False  # applications need the cardholder's confirmation (87 bit 8)
    first_ac: str = "ARQC"  # "AAC" makes the card decline offline at the first GENERATE AC
    atc_start: int = 1


class EmvApplet:
    """One inserted card (one or more applications, each a TestCard)."""

    def __init__(self, apps: Sequence[TestCard], options: CardOptions = CardOptions(),
                 misbehaviour: Misbehaviour = Misbehaviour()):
        if not apps:
            raise ValueError("a card needs at least one application")
        self.apps = list(apps)
        self.options = options
        self.misbehaviour = misbehaviour
        self.atc = options.atc_start
        self.reset()

    @property
    def atr(self) -> bytes:
        return ATR_T0 if self.options.t0 else ATR_T1

    def reset(self) -> None:
        self.selected: TestCard | None = None
        self.pending = b""  # T=0: data waiting for GET RESPONSE
        self.arqc: bytes | None = None
        self.completed = False
        self.pdol_data = b""
        self.fired: set[str] = set()

    # -- dispatch ---------------------------------------------------------------------------------
    def step_of(self, command: bytes) -> str | None:
        ins = command[1]
        if ins == 0xA4:
            name = command[5:5 + command[4]] if len(command) > 5 else b""
            return "ppse" if name == PPSE_NAME else "pse" if name == PSE_NAME else "select"
        if ins == 0xB2:
            return "pse" if command[3] >> 3 == DIRECTORY_SFI else "read"
        if ins == 0xA8:
            return "gpo"
        if ins == 0x88:
            return "auth"
        if ins == 0xAE:
            return "genac2" if self.arqc is not None else "genac1"
        return None

    def process(self, command: bytes) -> Reply:
        if len(command) < 4:
            return Reply("answer", b"\x67\x00")
        step = self.step_of(command)
        if step is not None and step not in self.fired:
            mis = self.misbehaviour
            if mis.remove_at == step:
                self.fired.add(step)
                return Reply("remove")
            if mis.mute_at == step:
                self.fired.add(step)
                return Reply("mute")
            if step in mis.sw_at:
                self.fired.add(step)
                return Reply("answer", mis.sw_at[step].to_bytes(2, "big"))
        return Reply("answer", self._answer(command))

    def _answer(self, command: bytes) -> bytes:
        cla, ins = command[0], command[1]
        if cla not in (0x00, 0x80, 0x84):
            return b"\x6E\x00"
        if ins == 0xC0:
            return self._get_response(command)
        handlers = {0xA4: self._select, 0xB2: self._read_record, 0xA8: self._gpo, 0xAE: self._generate_ac,
                    0x88: self._internal_authenticate}
        if cla == 0x84:  # issuer script commands (PIN unblock, application block...): MAC checked
            return self._issuer_script(command)
        handler = handlers.get(ins)
        if handler is None:
            return b"\x6D\x00"
        lc = command[4] if len(command) > 5 else 0
        body = command[5:5 + lc]
        result = handler(command, body)
        if isinstance(result, int):
            return result.to_bytes(2, "big")
        return self._deliver(command, result, has_body=len(command) > 5)

    def _issuer_script(self, command: bytes) -> bytes:
        """Secure messaging: the last 8 bytes are the issuer's MAC over header, ATC, ARQC and data."""
        app = self.selected
        if app is None or self.arqc is None:
            return b"\x69\x85"
        if len(command) < 13 or command[4] != len(command) - 5:
            return b"\x67\x00"
        header, data, mac = command[:5], command[5:-8], command[-8:]
        expected = emvcrypto.script_mac(app.keys, app.pan, app.sequence, self.atc.to_bytes(2, "big"), self.arqc,
                                        header, data)
        return b"\x90\x00" if expected == mac else b"\x69\x88"

    def _deliver(self, command: bytes, data: bytes, *, has_body: bool) -> bytes:
        if not self.options.t0:
            return data + b"\x90\x00"
        if has_body:  # T=0 case 4: the data waits for GET RESPONSE
            self.pending = data
            return bytes([0x61, len(data) & 0xFF])
        le = command[4] if len(command) == 5 else 0
        if (le or 256) != len(data):
            return bytes([0x6C, len(data) & 0xFF])
        return data + b"\x90\x00"

    def _get_response(self, command: bytes) -> bytes:
        if not self.pending:
            return b"\x69\x85"
        le = command[4] if len(command) >= 5 else 0
        if (le or 256) != len(self.pending):
            return bytes([0x6C, len(self.pending) & 0xFF])
        data, self.pending = self.pending, b""
        return data + b"\x90\x00"

    # -- commands ---------------------------------------------------------------------------------
    def _priority(self, index: int) -> bytes:
        return bytes([(index + 1) | (0x80 if self.options.confirm else 0)])

    def _directory_entries(self) -> list[Tlv]:
        return [Tlv(0x61, encode([Tlv(0x4F, bytes.fromhex(app.aid)), Tlv(0x50, app.label.encode("ascii")),
                                  Tlv(0x87, self._priority(i))])) for i, app in enumerate(self.apps)]

    def _select(self, command: bytes, name: bytes) -> bytes | int:
        if name == PPSE_NAME:
            if not self.options.ppse:
                return 0x6A82
            return encode([Tlv(0x6F, encode([Tlv(0x84, name), Tlv(0xA5, encode([
                Tlv(0xBF0C, encode(self._directory_entries()))]))]))])
        if name == PSE_NAME:
            if not self.options.pse:
                return 0x6A82
            return encode([Tlv(0x6F, encode([Tlv(0x84, name), Tlv(0xA5, encode([
                Tlv(0x88, bytes([DIRECTORY_SFI])), Tlv(0x5F2D, b"zhen")]))]))])
        for i, app in enumerate(self.apps):
            if bytes.fromhex(app.aid).startswith(name) and name:
                self.reset_transaction(app)
                return encode([Tlv(0x6F, encode([Tlv(0x84, bytes.fromhex(app.aid)), Tlv(0xA5, encode([
                    Tlv(0x50, app.label.encode("ascii")), Tlv(0x87, self._priority(i)), Tlv(0x9F38, PDOL),
                    Tlv(0x5F2D, b"zhen")]))]))])
        return 0x6A82

    def reset_transaction(self, app: TestCard) -> None:
        self.selected = app
        self.arqc = None
        self.completed = False
        self.pdol_data = b""

    def _records(self, app: TestCard) -> dict[tuple[int, int], bytes]:
        expiry = app.expiry
        year, month = 2000 + int(expiry[:2]), int(expiry[2:])
        last_day = calendar.monthrange(year, month)[1]
        track2 = app.track2.replace("=", "D")

        def first(holder: str) -> bytes:
            return encode([Tlv(0x57, _packed(track2)), Tlv(0x5F20, holder.encode("ascii"))])

        second = encode([
            Tlv(0x5A, _packed(app.pan)), Tlv(0x5F24, bytes.fromhex(f"{expiry}{last_day:02d}")),
            Tlv(0x5F25, bytes.fromhex("200101")), Tlv(0x5F34, bytes.fromhex(app.sequence[-2:])),
            Tlv(0x5F28, bytes.fromhex("0156")), Tlv(0x9F07, bytes.fromhex("FF00")),
            Tlv(0x8C, _dol_bytes(CDOL1)), Tlv(0x8D, _dol_bytes(CDOL2[app.keys.arpc_method])),
            Tlv(0x8E, bytes(8) + app.cvm_rules), Tlv(0x9F42, bytes.fromhex("0156"))])
        # the two SFI 2 records are the static data to authenticate (AFL byte 4 = 2), then the AIP (9F4A)
        signed = authdata.auth_records(app, first(app.holder) + second + authdata.aip(app))
        served = first("ALTERED/AFTER/SIGNING") if app.cert_fault == "tampered-record" else first(app.holder)
        records = {
            (2, 1): encode([Tlv(0x70, served)]),
            (2, 2): encode([Tlv(0x70, second)]),
            (3, 1): encode([Tlv(0x70, encode([
                Tlv(0x9F08, b"\x00\x30"), Tlv(0x5F30, bytes.fromhex(app.service_code.rjust(4, "0"))),
                Tlv(0x9F0D, bytes.fromhex("D86004A800")), Tlv(0x9F0E, app.iac_denial),
                Tlv(0x9F0F, bytes.fromhex("D86804F800"))]))]),
        }
        for i, items in enumerate(signed):
            records[(3, 2 + i)] = encode([Tlv(0x70, encode(list(items)))])
        return records

    def _read_record(self, command: bytes, _body: bytes) -> bytes | int:
        record, sfi = command[2], command[3] >> 3
        if sfi == DIRECTORY_SFI:
            if not self.options.pse:
                return 0x6A82
            return encode([Tlv(0x70, encode(self._directory_entries()))]) if record == 1 else 0x6A83
        if self.selected is None:
            return 0x6985
        return self._records(self.selected).get((sfi, record), 0x6A83)

    def _gpo(self, command: bytes, body: bytes) -> bytes | int:
        if self.selected is None:
            return 0x6985
        pdol_length = sum(length for length in PDOL[2::3])
        if len(body) < 2 or body[0] != 0x83 or body[1] != pdol_length or len(body) != 2 + pdol_length:
            return 0x6700
        self.pdol_data = body[2:]
        afl = bytes.fromhex("10010202" + ("18010100" if self.selected.oda == "none" else "18010300"))
        return encode([Tlv(0x77, encode([Tlv(0x82, authdata.aip(self.selected)), Tlv(0x94, afl)]))])

    def _internal_authenticate(self, command: bytes, body: bytes) -> bytes | int:
        """DDA: sign the terminal's DDOL data (the unpredictable number) with a fresh dynamic number."""
        app = self.selected
        if app is None or app.oda not in ("dda", "cda"):
            return 0x6985
        if len(body) != 4:
            return 0x6700
        dynamic = os.urandom(8)
        return encode([Tlv(0x80, authdata.dynamic_signature(app, bytes([len(dynamic)]) + dynamic, body))])

    def _generate_ac(self, command: bytes, body: bytes) -> bytes | int:
        app = self.selected
        if app is None or self.completed:
            return 0x6985
        requested = command[2] & 0xC0
        dol: Sequence[tuple[int, int]]
        if self.arqc is None:
            dol = CDOL1
            self.atc += 1
        else:
            dol = CDOL2[app.keys.arpc_method]
        if len(body) != sum(length for _, length in dol):
            return 0x6700
        values, pos = {0x82: authdata.aip(app), 0x9F36: self.atc.to_bytes(2, "big"), 0x9F10: IAD}, 0
        for tag, length in dol:
            values[tag] = body[pos:pos + length]
            pos += length
        cryptogram = emvcrypto.application_cryptogram(app.keys, app.pan, app.sequence, dol, values)
        if self.arqc is None:
            declines = "AAC" in (self.options.first_ac, app.first_ac)
            # card risk management: an offline-capable card grants the TC the terminal asks for
            kind = 0x00 if declines or requested == 0x00 else 0x40 if requested == 0x40 and app.offline else 0x80
            if kind != 0x80:
                self.completed = True
            self.arqc = cryptogram
        else:
            kind = 0x00
            if requested == 0x40:
                auth_data = values[0x91]
                issuer_ok = auth_data == bytes(len(auth_data)) or emvcrypto.issuer_authentication_ok(
                    app.keys, app.pan, app.sequence, values[0x9F36], self.arqc, auth_data)
                # "00" after the issuer's approval; Y3 when the terminal could not go online (no issuer data):
                # this card's risk management accepts the terminal's offline approval
                unable_online = values[0x8A] == b"Y3" and auth_data == bytes(len(auth_data))
                kind = 0x40 if (issuer_ok and values[0x8A] == b"00") or unable_online else 0x00
            self.completed = True
        header = [Tlv(0x9F27, bytes([kind])), Tlv(0x9F36, self.atc.to_bytes(2, "big"))]
        if command[2] & 0x10 and app.oda == "cda" and kind != 0x00:
            # CDA (Book 2 §6.6): the AC travels inside the signature, with a hash of the transaction data
            returned = encode(header + [Tlv(0x9F10, IAD)])
            number = os.urandom(8)
            digest = emvcrypto.transaction_data_hash(self.pdol_data + body + returned)
            dynamic = bytes([len(number)]) + number + bytes([kind]) + cryptogram + digest
            sdad = authdata.dynamic_signature(app, dynamic, values[0x9F37])
            return encode([Tlv(0x77, encode(header + [Tlv(0x9F4B, sdad), Tlv(0x9F10, IAD)]))])
        return encode([Tlv(0x77, encode(header + [Tlv(0x9F26, cryptogram), Tlv(0x9F10, IAD)]))])

