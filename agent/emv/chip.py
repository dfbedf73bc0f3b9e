"""What a chip read gives the engine (`ChipRead`), and the second GENERATE AC after the host answered.

Sensitive card data (track 2 equivalent 57, PAN 5A, cardholder name) is kept in `bytearray`s that
`wipe()` overwrites; the context manager wipes on exit.  Python strings handed out by `pan` or
`track2` are copies the caller must drop after use (the language cannot overwrite them).
"""

from __future__ import annotations

from typing import Any

from agent.emv import apdu
from agent.emv.apdu import Session
from agent.emv.card_errors import (BadCardData, CardDataWiped, CardError, CardRemoved,
                                       CardRemovedAfterApproval, UnexpectedStatusWord)
from agent.emv.data import (CUP_FIELD55, TerminalData, action_analysis, build_field55, dol_data, parse_dol,
                                    parse_generate_ac)
from agent.iso8583 import tlv
from agent.iso8583.errors import CodecError
from agent.masking import mask_pan

#: tags kept out of the ordinary value table, in wipeable buffers
SENSITIVE_TAGS = (0x57, 0x5A, 0x5F20, 0x9F1F, 0x56, 0x9F6B)


def _digits(raw: bytes | bytearray) -> str:
    return raw.hex().upper().rstrip("F")


class SecondAc(str):
    """The card's answer to the second GENERATE AC: "TC" or "AAC" (it compares as that text), with the
    field 55 it produced — the TC and the CDOL2 data it covers — for the IC card TC upload."""

    field55: bytes | None

    def __new__(cls, kind: str, field55: bytes | None = None) -> "SecondAc":
        answer = super().__new__(cls, kind)
        answer.field55 = field55
        return answer


class ChipRead:
    """The result of reading a chip card up to the ARQC; completes with `complete()`."""

    def __init__(self, session: Session, card_tags: dict[int, bytes], values: dict[int, bytes], *,
                 cdol1_tags: tuple[int, ...], aid: bytes, label: str, entry_mode: str, terminal: TerminalData):
        self._session: Any = session
        self._sensitive = {tag: bytearray(card_tags.pop(tag)) for tag in SENSITIVE_TAGS if tag in card_tags}
        self._card_tags = card_tags
        self._values = values
        self._cdol1_tags = cdol1_tags
        self.aid = aid.hex().upper()
        self.label = label
        self.entry_mode = entry_mode
        self.terminal = terminal
        self.outcome: str | None = None  # "TC" or "AAC" once completed
        self.script_results: list[tuple[str, int]] = []
        self._final_values: dict[int, bytes] | None = None
        self._wiped = False
        track2 = self._sensitive.get(0x57, bytearray())
        if "D" not in _digits(track2):
            raise BadCardData("track 2 equivalent (57) has no separator", step="read")

    # -- card data --------------------------------------------------------------------------------
    def _buffer(self, tag: int) -> bytearray:
        if self._wiped:
            raise CardDataWiped("card data was wiped after the transaction")
        return self._sensitive.get(tag, bytearray())

    @property
    def track2(self) -> str:
        """Track 2 equivalent with '=' as the separator (no trailing pad)."""
        return _digits(self._buffer(0x57)).replace("D", "=")

    @property
    def pan(self) -> str:
        pan = _digits(self._buffer(0x5A))
        return pan or self.track2.split("=")[0]

    @property
    def masked_pan(self) -> str:
        return mask_pan(self.pan)

    @property
    def holder(self) -> str:
        return bytes(self._buffer(0x5F20)).decode("ascii", "replace").strip()

    @property
    def expiry(self) -> str:
        """YYMM from 5F24."""
        return self._card_tags[0x5F24].hex()[:4]

    @property
    def sequence(self) -> str | None:
        """Card sequence number for field 23 ("001"), or None when the card has no 5F34."""
        value = self._card_tags.get(0x5F34)
        return None if value is None else value.hex()[-3:].rjust(3, "0")

    @property
    def cryptogram(self) -> str:
        return self._values[0x9F26].hex().upper()

    @property
    def tags(self) -> dict[int, bytes]:
        """Every non-sensitive value the flow saw (card, terminal, cryptogram), by tag."""
        return {**self._card_tags, **self._values}

    @property
    def field55(self) -> bytes:
        """Field 55 for the authorisation: cup order, then any CDOL1 tag the order lacks."""
        return build_field55(self._values, CUP_FIELD55, extra=self._cdol1_tags)

    @property
    def completion_field55(self) -> bytes | None:
        """Field 55 after the second GENERATE AC, for the TC upload: its 9F26/9F27/9F36/9F10, the CDOL1
        data, and the CDOL2 data the cryptogram covers (8A, 91 from the issuer, 95, 9F37)."""
        if self._final_values is None:
            return None
        cdol2 = tuple(tag for tag, _ in parse_dol(self._card_tags[0x8D]))
        return build_field55(self._final_values, CUP_FIELD55, extra=self._cdol1_tags + cdol2)

    @property
    def approved_offline(self) -> bool:
        """The card answered TC to the terminal's TC request: approved offline, the TC is the evidence."""
        return self.outcome == "TC" and self._final_values is None

    def approve_offline(self) -> None:
        self.outcome = "TC"

    # -- completion -------------------------------------------------------------------------------
    def _run_scripts(self, issuer: list[tlv.Tlv], template: int) -> None:
        for item in issuer:
            if item.tag != template:
                continue
            inner = tlv.decode(item.value, field=f"55.{template:X}")
            script_id = (tlv.find(inner, 0x9F18) or b"").hex().upper()
            for command in (i.value for i in inner if i.tag == 0x86):
                sw = self._session.exchange(command).sw
                self.script_results.append((script_id, sw))
                if sw >> 8 not in (0x90, 0x62, 0x63):
                    break

    def complete(self, approved: bool, issuer_data: bytes | None = None) -> SecondAc:
        """Second GENERATE AC: ask for a TC when the host approved, else an AAC.  Returns "TC" or "AAC"
        (a `SecondAc`, which carries the TC's field 55 for its upload).

        A card that answers AAC to an approval means the engine reverses (reason 06); a card removed
        before answering raises `CardRemovedAfterApproval` when the host had approved.
        """
        if self.outcome is not None:
            raise CardError("second GENERATE AC already done", step="genac2")
        if 0x8D not in self._card_tags:
            raise BadCardData("card has no CDOL2 (8D)", step="genac2")
        try:
            issuer = tlv.decode(issuer_data, field="55") if issuer_data else []
        except CodecError as exc:
            raise BadCardData(f"issuer data: {exc}", step="genac2") from None
        auth_data = tlv.find(issuer, 0x91)
        arc = tlv.find(issuer, 0x8A)
        if arc is None:
            arc = auth_data[8:10] if auth_data and len(auth_data) >= 10 else (b"00" if approved else b"05")
        values = {**self._values, 0x8A: arc}
        if auth_data is not None:
            values[0x91] = auth_data
        try:
            self._run_scripts(issuer, 0x71)
            response = self._session.exchange(
                apdu.generate_ac(apdu.TC if approved else apdu.AAC, dol_data(parse_dol(self._card_tags[0x8D]), values)))
            if not response.ok:
                raise UnexpectedStatusWord("second GENERATE AC", step="genac2", sw=response.sw)
            final = parse_generate_ac(response.data)
            kind = final[0x9F27][0] & 0xC0
            if kind not in (apdu.TC, apdu.AAC) or (kind == apdu.TC and not approved):
                raise BadCardData(f"cryptogram type {kind:02X} answers the second GENERATE AC", step="genac2")
            self.outcome = "TC" if kind == apdu.TC else "AAC"
            self._final_values = {**values, **final}
            self._run_scripts(issuer, 0x72)
        except CardRemoved as exc:
            if approved and self.outcome is None:
                raise CardRemovedAfterApproval(exc.detail or "card removed", step="genac2") from None
            raise
        except CodecError as exc:
            raise BadCardData(str(exc), step="genac2") from None
        return SecondAc(self.outcome, self.completion_field55 if self.outcome == "TC" else None)

    def complete_unable_online(self, may_approve: bool = True) -> SecondAc:
        """Second GENERATE AC when the host cannot be reached (EMV Book 3 §10.7): terminal action analysis
        with TAC/IAC-default decides; a TC is asked for with authorisation response code Y3 ("unable to go
        online, offline approved"), else an AAC with Z3.  `may_approve` false (a limit refuses): AAC, Z3."""
        if self.outcome is not None:
            raise CardError("second GENERATE AC already done", step="genac2")
        if 0x8D not in self._card_tags:
            raise BadCardData("card has no CDOL2 (8D)", step="genac2")
        aid = self._values.get(0x84) or bytes.fromhex(self.aid)
        tac = self.terminal.action_codes(aid)
        decision = action_analysis(self._values[0x95], iac_denial=self._card_tags.get(0x9F0E),
                                   iac_online=self._card_tags.get(0x9F0F), iac_default=self._card_tags.get(0x9F0D),
                                   tac_denial=tac.denial, tac_online=tac.online, tac_default=tac.default,
                                   online_capable=False)
        approve = may_approve and decision == apdu.TC
        values = {**self._values, 0x8A: b"Y3" if approve else b"Z3"}
        try:
            response = self._session.exchange(
                apdu.generate_ac(apdu.TC if approve else apdu.AAC, dol_data(parse_dol(self._card_tags[0x8D]), values)))
            if not response.ok:
                raise UnexpectedStatusWord("second GENERATE AC", step="genac2", sw=response.sw)
            final = parse_generate_ac(response.data)
        except CodecError as exc:
            raise BadCardData(str(exc), step="genac2") from None
        kind = final[0x9F27][0] & 0xC0
        if kind not in (apdu.TC, apdu.AAC) or (kind == apdu.TC and not approve):
            raise BadCardData(f"cryptogram type {kind:02X} answers the second GENERATE AC", step="genac2")
        self.outcome = "TC" if kind == apdu.TC else "AAC"
        self._final_values = {**values, **final}
        self.unable_online_reason = None if approve else (
            "a limit refuses" if not may_approve else "terminal action analysis (default codes)")
        return SecondAc(self.outcome, self.completion_field55 if self.outcome == "TC" else None)

    # -- lifetime ---------------------------------------------------------------------------------
    def wipe(self) -> None:
        """Overwrite track 2, PAN and name in memory and drop them."""
        for buffer in self._sensitive.values():
            buffer[:] = bytes(len(buffer))
        self._sensitive.clear()
        self._wiped = True

    def close(self) -> None:
        """Wipe and release the card (the reader keeps it powered until it is pulled out)."""
        self.wipe()
        session, self._session = self._session, None
        if session is not None:
            session.close()

    def __enter__(self) -> "ChipRead":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        pan = "wiped" if self._wiped else self.masked_pan
        return f"<ChipRead {self.aid} {pan} entry {self.entry_mode} outcome {self.outcome}>"
