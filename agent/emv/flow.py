"""The EMV contact flow up to the ARQC, over any `exchange(command) -> Response` (no I/O here).

Steps, in order (each failure names its step): application selection by PPSE, else PSE, else the
terminal's list of AIDs; choice by priority (the cashier chooses when the card asks for confirmation
or when several applications remain and a chooser is given); SELECT AID; GET PROCESSING OPTIONS with
the PDOL; READ RECORD per the AFL; offline data authentication (CDA, else DDA with INTERNAL
AUTHENTICATE, else SDA — agent/emv/oda.py) setting the TVR's bits; processing restrictions, CVM
choice and the floor limit; terminal action analysis (a TVR bit in the card's or the terminal's denial
code declines offline); first GENERATE AC asking for an ARQC with the CDOL1 data (with CDA when chosen).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

from agent.emv import apdu
from agent.emv.apdu import Response, Session
from agent.emv.card_errors import (BadCardData, CardAuthenticationFailed, CardBlocked, CardCancelled, CardDeclinedOffline, CardError,
                                       NoSupportedApplication, UnexpectedStatusWord)
from agent.emv.chip import ChipRead
from agent.emv import cvm, oda
from agent.emv.data import (TSI_CARD_RISK, TSI_CVM, TSI_ODA, TSI_TERMINAL_RISK, TVR_CDA_FAILED,
                                    TVR_DDA_FAILED, TVR_EXPIRED_APPLICATION, TVR_FLOOR_LIMIT_EXCEEDED,
                                    TVR_ICC_DATA_MISSING, TVR_ODA_NOT_PERFORMED, TVR_SDA_FAILED, TVR_SDA_SELECTED,
                                    TerminalData, action_analysis, dol_data, entry_mode_for, parse_afl,
                                    parse_dol, parse_generate_ac, with_tvr_bits)
from agent.iso8583 import tlv
from agent.iso8583.errors import CodecError

PPSE = b"2PAY.SYS.DDF01"
PSE = b"1PAY.SYS.DDF01"

#: UnionPay debit, credit, quasi-credit: the applications this terminal accepts (prefix match)
SUPPORTED_AIDS: tuple[bytes, ...] = tuple(bytes.fromhex(a) for a in (
    "A0000003330101", "A0000003330102", "A0000003330103"))

#: a card listing more directory records or AFL records than this is broken, not rich
MAX_DIRECTORY_RECORDS = 16
MAX_AFL_RECORDS = 32


@dataclass(frozen=True)
class Application:
    """A candidate application as the card lists it."""

    aid: bytes
    label: str
    priority: int  # 1 highest .. 15 lowest; 0 means none given
    needs_confirmation: bool

    @property
    def rank(self) -> int:
        return self.priority if self.priority else 16


AppChooser = Callable[[Sequence[Application]], Application | None]


@contextmanager
def _step(name: str) -> Iterator[None]:
    """Errors raised inside carry the step name; malformed TLV becomes BadCardData."""
    try:
        yield
    except CardError as exc:
        if exc.step is None:
            exc.step = name
        raise
    except CodecError as exc:
        raise BadCardData(str(exc), step=name) from None


def _decode(data: bytes, what: str) -> list[tlv.Tlv]:
    return tlv.decode(data, field=what)


def _application(entry: bytes) -> Application | None:
    items = _decode(entry, "61")
    aid = tlv.find(items, 0x4F)
    if aid is None:
        return None
    label = tlv.find(items, 0x50) or b""
    priority = (tlv.find(items, 0x87) or b"\x00")[0]
    return Application(aid, label.decode("ascii", "replace"), priority & 0x0F, bool(priority & 0x80))


def _entries(template: bytes) -> list[Application]:
    apps = []
    for item in _decode(template, "directory"):
        if item.tag == 0x61:
            app = _application(item.value)
            if app:
                apps.append(app)
        elif item.constructed:
            apps.extend(_entries(item.value))
    return apps


class EmvReader:
    """One card, one pass through the flow; `read()` returns a `ChipRead` holding the session."""

    def __init__(self, session: Session, terminal: TerminalData, *, choose_app: AppChooser | None = None,
                 supported_aids: Sequence[bytes] = SUPPORTED_AIDS, enter_pin: Callable[[], bool] | None = None):
        self.session = session
        self.enter_pin = enter_pin or (lambda: False)  # the PIN pad: True once the cardholder entered a PIN
        self.terminal = terminal
        self.choose_app = choose_app
        self.supported_aids = tuple(supported_aids)
        self.blocked: list[bytes] = []
        self.pdol_data = b""
        self.oda_method: str | None = None  # "SDA", "DDA", "CDA" or None (not performed)
        self.oda_failure: str | None = None  # why it failed, for the cashier and the journal
        self.cvm: cvm.CvmOutcome | None = None  # cardholder verification's outcome (9F34, PIN entered or not)

    def _send(self, command: bytes) -> Response:
        return self.session.exchange(command)

    def _unexpected(self, response: Response, what: str) -> UnexpectedStatusWord:
        return UnexpectedStatusWord(what, sw=response.sw)

    # -- application selection -------------------------------------------------------------------
    def _from_ppse(self) -> list[Application] | None:
        with _step("ppse"):
            response = self._send(apdu.select_by_name(PPSE))
            if response.sw == 0x6A81:
                raise CardBlocked("card answered 6A81 to the directory", sw=response.sw)
            if not response.ok:
                return None
            return _entries(response.data)

    def _from_pse(self) -> list[Application] | None:
        with _step("pse"):
            response = self._send(apdu.select_by_name(PSE))
            if response.sw == 0x6A81:
                raise CardBlocked("card answered 6A81 to the directory", sw=response.sw)
            if not response.ok:
                return None
            sfi_value = tlv.find(_decode(response.data, "PSE FCI"), 0x88)
            if not sfi_value:
                raise BadCardData("PSE without a directory SFI (88)")
            apps: list[Application] = []
            for record in range(1, MAX_DIRECTORY_RECORDS + 1):
                answer = self._send(apdu.read_record(sfi_value[0], record))
                if answer.sw == 0x6A83:
                    break
                if not answer.ok:
                    raise self._unexpected(answer, f"directory record {record}")
                apps.extend(_entries(answer.data))
            return apps

    def _from_aid_list(self) -> list[Application]:
        apps = []
        with _step("aid-list"):
            for aid in self.supported_aids:
                response = self._send(apdu.select_by_name(aid))
                if response.ok:
                    app = self._fci_application(aid, response.data)
                    apps.append(app)
                elif response.sw == 0x6283:
                    self.blocked.append(aid)
        return apps

    def _fci_application(self, aid: bytes, fci: bytes) -> Application:
        items = _decode(fci, "FCI")
        label = tlv.find(items, 0x50) or b""
        priority = (tlv.find(items, 0x87) or b"\x00")[0]
        name = tlv.find(items, 0x84) or aid
        return Application(name, label.decode("ascii", "replace"), priority & 0x0F, bool(priority & 0x80))

    def candidates(self) -> list[Application]:
        """Mutually supported applications, highest priority first."""
        listed = self._from_ppse()
        if listed is None:
            listed = self._from_pse()
        if listed is None:
            listed = self._from_aid_list()
        supported = [a for a in listed if any(a.aid.startswith(s) for s in self.supported_aids)]
        return sorted(supported, key=lambda a: a.rank)

    def _choose(self, candidates: list[Application]) -> Application:
        if self.choose_app is not None and (len(candidates) > 1 or candidates[0].needs_confirmation):
            chosen = self.choose_app(tuple(candidates))
            if chosen is None:
                raise CardCancelled("cashier declined the application choice", step="choose")
            return chosen
        usable = [a for a in candidates if not a.needs_confirmation]
        if not usable:
            raise NoSupportedApplication("every application needs the cardholder's confirmation", step="choose")
        return usable[0]

    # -- the flow ------------------------------------------------------------------------------------
    def read(self) -> ChipRead:
        candidates = self.candidates()
        while True:
            if not candidates:
                if self.blocked:
                    raise CardBlocked("every supported application is blocked", step="select", sw=0x6283)
                raise NoSupportedApplication("no mutually supported application", step="select")
            app = self._choose(candidates)
            fci = self._select(app)
            if fci is None:
                candidates = [c for c in candidates if c.aid != app.aid]
                continue
            gpo = self._processing_options(fci)
            if gpo is None:  # 6985: the card refuses this application here; try the next one
                candidates = [c for c in candidates if c.aid != app.aid]
                continue
            return self._read_and_ask(app, fci, gpo)

    def _select(self, app: Application) -> list[tlv.Tlv] | None:
        with _step("select"):
            response = self._send(apdu.select_by_name(app.aid))
            if response.sw == 0x6A81:
                raise CardBlocked("card blocked", sw=response.sw)
            if response.sw == 0x6283:
                self.blocked.append(app.aid)
                return None
            if not response.ok:
                raise self._unexpected(response, f"SELECT {app.aid.hex().upper()}")
            return _decode(response.data, "FCI")

    def _processing_options(self, fci: list[tlv.Tlv]) -> tuple[bytes, bytes] | None:
        with _step("gpo"):
            pdol = tlv.find(fci, 0x9F38)
            data = dol_data(parse_dol(pdol), self.terminal.tags()) if pdol else b""
            self.pdol_data = data
            response = self._send(apdu.get_processing_options(data))
            if response.sw == 0x6985:
                return None
            if not response.ok:
                raise self._unexpected(response, "GET PROCESSING OPTIONS")
            items = _decode(response.data, "GPO")
            if items and items[0].tag == 0x80:  # format 1: AIP || AFL
                body = items[0].value
                if len(body) < 6:
                    raise BadCardData("GPO format 1 too short")
                return body[:2], body[2:]
            aip, afl = tlv.find(items, 0x82), tlv.find(items, 0x94)
            if aip is None or afl is None:
                raise BadCardData("GPO answer lacks AIP (82) or AFL (94)")
            return aip, afl

    def _read_records(self, afl: bytes) -> tuple[dict[int, bytes], list[bytes]]:
        """The card's data objects, and the records the AFL marks for offline data authentication."""
        card_tags: dict[int, bytes] = {}
        oda_records: list[bytes] = []
        with _step("read"):
            entries = parse_afl(afl)
            if sum(e.last - e.first + 1 for e in entries) > MAX_AFL_RECORDS:
                raise BadCardData(f"AFL lists more than {MAX_AFL_RECORDS} records")
            for entry in entries:
                for record in range(entry.first, entry.last + 1):
                    response = self._send(apdu.read_record(entry.sfi, record))
                    if not response.ok:
                        raise self._unexpected(response, f"READ RECORD SFI {entry.sfi} record {record}")
                    items = _decode(response.data, "record")
                    if len(items) != 1 or items[0].tag != 0x70:
                        raise BadCardData(f"SFI {entry.sfi} record {record} is not a 70 template")
                    for item in _decode(items[0].value, "record"):
                        card_tags.setdefault(item.tag, item.value)
                    if record - entry.first < entry.offline_auth:  # SFI 1-10: without the 70 template
                        oda_records.append(items[0].value if entry.sfi <= 10 else response.data)
        return card_tags, oda_records

    def _offline_authentication(self, app: Application, aip: bytes, card_tags: dict[int, bytes],
                                oda_records: list[bytes]) -> tuple[list[tuple[int, int]], oda.PublicKey | None]:
        """TVR bits from SDA/DDA/CDA, and the card's key when CDA is to be checked at GENERATE AC."""
        caps = self.terminal.capabilities[2]
        method = ("CDA" if aip[0] & 0x01 and caps & 0x08 else "DDA" if aip[0] & 0x20 and caps & 0x40
                  else "SDA" if aip[0] & 0x40 and caps & 0x80 else None)
        self.oda_method = method
        if method is None:
            return [TVR_ODA_NOT_PERFORMED], None
        bits = [TVR_SDA_SELECTED] if method == "SDA" else []
        pan = (card_tags.get(0x5A) or b"").hex().upper().rstrip("F")
        try:
            static = oda.static_data_to_authenticate(oda_records, aip, card_tags.get(0x9F4A))
            issuer = oda.issuer_key(card_tags, self.terminal.ca_keys, app.aid[:5], pan, self.terminal.date)
            if method == "SDA":
                oda.verify_sda(card_tags, issuer, static)
                return bits, None
            icc = oda.icc_key(card_tags, issuer, pan, static, self.terminal.date)
            if method == "CDA":
                return bits, icc
            with _step("auth"):
                settings = self.terminal.settings_for(app.aid)
                ddol = parse_dol(card_tags.get(0x9F49) or (settings.default_ddol if settings else bytes.fromhex("9F3704")))
                ddol_data = dol_data(ddol, self.terminal.tags())
                response = self._send(apdu.internal_authenticate(ddol_data))
                if not response.ok:
                    raise self._unexpected(response, "INTERNAL AUTHENTICATE")
                items = _decode(response.data, "INTERNAL AUTHENTICATE")
                sdad = items[0].value if items and items[0].tag == 0x80 else tlv.find(items, 0x9F4B)
                if not sdad:
                    raise oda.OdaFailure("INTERNAL AUTHENTICATE returned no signed dynamic data", missing=True)
                oda.recover_sdad(sdad, icc, ddol_data)
            return bits, None
        except oda.OdaFailure as exc:
            self.oda_failure = f"{method}: {exc.reason}"
            failed = {"SDA": TVR_SDA_FAILED, "DDA": TVR_DDA_FAILED, "CDA": TVR_CDA_FAILED}[method]
            return bits + [failed] + ([TVR_ICC_DATA_MISSING] if exc.missing else []), None

    def _check_cda(self, icc: oda.PublicKey, answer: bytes, cdol1_data: bytes,
                   cryptogram: dict[int, bytes]) -> bytes:
        """CDA at the first GENERATE AC: the signature must verify, else the terminal declines."""
        items = _decode(answer, "GENERATE AC")
        inner = _decode(items[0].value, "GENERATE AC") if items and items[0].tag == 0x77 else []
        returned = tlv.encode([item for item in inner if item.tag != 0x9F4B])
        try:
            sdad = cryptogram.pop(0x9F4B, None)
            if not sdad:
                raise oda.OdaFailure("no signed dynamic data (9F4B) in the answer", missing=True)
            return oda.cda_cryptogram(sdad, icc, self.terminal.unpredictable_number, cryptogram[0x9F27],
                                      self.pdol_data + cdol1_data + returned)
        except oda.OdaFailure as exc:
            self.oda_failure = f"CDA: {exc.reason}"
            raise CardAuthenticationFailed(self.oda_failure, step="genac1") from None

    def _read_and_ask(self, app: Application, fci: list[tlv.Tlv], gpo: tuple[bytes, bytes]) -> ChipRead:
        aip, afl = gpo
        card_tags, oda_records = self._read_records(afl)
        for tag, name in ((0x57, "track 2 equivalent (57)"), (0x5F24, "expiry (5F24)"), (0x8C, "CDOL1 (8C)")):
            if tag not in card_tags:
                raise BadCardData(f"card lacks {name}", step="read")
        terminal = self.terminal
        oda_bits, cda_key = self._offline_authentication(app, aip, card_tags, oda_records)
        tvr = with_tvr_bits(terminal.tvr, *oda_bits)
        if card_tags[0x5F24][:2].hex() < terminal.date.strftime("%y%m"):
            tvr = with_tvr_bits(tvr, TVR_EXPIRED_APPLICATION)
        if terminal.amount > terminal.floor_limit_for(tlv.find(fci, 0x84) or app.aid):
            tvr = with_tvr_bits(tvr, TVR_FLOOR_LIMIT_EXCEEDED)
        app_currency = card_tags.get(0x9F42)
        verified = cvm.process(card_tags.get(0x8E), cvm.Context(terminal.amount, terminal.currency, terminal.pin_capable),
                               self.enter_pin, app_currency=app_currency.hex()[-3:] if app_currency else None)
        tvr = with_tvr_bits(tvr, *verified.tvr_bits)
        self.cvm = verified
        tsi = ((TSI_ODA if self.oda_method else 0) | (TSI_CVM if verified.performed else 0) | TSI_TERMINAL_RISK
               | TSI_CARD_RISK)
        settings = terminal.settings_for(tlv.find(fci, 0x84) or app.aid)
        values = {**terminal.tags(), **({0x9F09: settings.app_version} if settings else {}), 0x95: tvr, 0x9B: bytes([tsi, 0]), 0x9F34: verified.results, 0x82: aip,
                  0x84: tlv.find(fci, 0x84) or app.aid}
        # TC (offline approval, delivered later as an advice), ARQC (online) or AAC (decline offline)
        tac = terminal.action_codes(tlv.find(fci, 0x84) or app.aid)
        decision = action_analysis(tvr, iac_denial=card_tags.get(0x9F0E), iac_online=card_tags.get(0x9F0F),
                                   iac_default=card_tags.get(0x9F0D), tac_denial=tac.denial,
                                   tac_online=tac.online, tac_default=tac.default)
        if decision == apdu.TC and not terminal.offline_approvals:
            decision = apdu.ARQC  # pre-auths and the like always go online
        deny = decision == apdu.AAC
        with _step("genac1"):
            cdol1 = parse_dol(card_tags[0x8C])
            cdol1_data = dol_data(cdol1, values)
            if deny:  # the terminal declines offline: ask for an AAC and end here
                self._send(apdu.generate_ac(apdu.AAC, cdol1_data))
                raise CardAuthenticationFailed(f"{self.oda_failure or 'terminal action analysis'}; TVR {tvr.hex().upper()}",
                                               step="genac1")
            kind_asked = decision | (apdu.CDA if cda_key is not None else 0)
            response = self._send(apdu.generate_ac(kind_asked, cdol1_data))
            if not response.ok:
                raise self._unexpected(response, "GENERATE AC")
            cryptogram = parse_generate_ac(response.data, cda=cda_key is not None)
            kind = cryptogram[0x9F27][0] & 0xC0
            if kind == apdu.AAC:
                raise CardDeclinedOffline("the card answered AAC at the first GENERATE AC", step="genac1")
            # the card may go online instead of approving offline, never the other way round
            if kind not in (apdu.ARQC, apdu.TC) or (kind == apdu.TC and decision != apdu.TC):
                raise BadCardData(f"cryptogram type {kind:02X} answers a request for {decision:02X}")
            if cda_key is not None:
                cryptogram[0x9F26] = self._check_cda(cda_key, response.data, cdol1_data, cryptogram)
        values.update(cryptogram)
        chip = ChipRead(self.session, card_tags, values, cdol1_tags=tuple(t for t, _ in cdol1),
                        aid=app.aid, label=app.label, entry_mode=entry_mode_for(verified.online_pin),
                        terminal=terminal)
        if kind == apdu.TC:  # approved offline by the terminal and the card: no second GENERATE AC
            chip.approve_offline()
        return chip

