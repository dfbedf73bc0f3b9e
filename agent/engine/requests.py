"""The messages the engine sends, built from journal facts, and the checks on what comes back.

Pure functions: the same inputs always give the same message, so the request journaled before sending
and the one sent are the same bytes, and a reversal can be rebuilt from the journal alone after a
crash (it never needs the PAN, track data or PIN block, which are not kept — domain §6).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Protocol

from agent.iso8583 import Message, get_dialect
from agent.iso8583.dialect import TcUploadSpec
from agent.iso8583.dialects.cup import DIALECT as CUP, MESSAGES as CUP_MESSAGES
from agent.iso8583.matching import FINANCIAL_ECHO, answer_mismatch
from agent.iso8583.subfields import Field60, Field61
from agent.cardtypes import credit_bins
from agent.settings import offline_card_types, offline_entry_modes
from agent.money import format_amount, parse_amount
from agent.localtime import local_time

if TYPE_CHECKING:
    from agent.journal.records import Txn
    from agent.config import Config

#: kind → (processing code F3, condition code F25, 60.1 transaction type, request MTI)
FINANCIAL_KINDS: dict[str, tuple[str, str, str, str]] = {
    "sale": ("000000", "00", "22", "0200"),
    "void": ("200000", "00", "23", "0200"),
    "refund": ("200000", "00", "25", "0220"),
}
# the pre-authorization family is dialect data (agent/iso8583/dialects/cup.py)
FINANCIAL_KINDS.update({kind: (code, condition, tx_type, mti)
                        for kind, (mti, code, condition, tx_type) in CUP_MESSAGES.items()})

#: kinds that reference an original by batch + trace in field 61 (voids of something in a batch)
VOID_KINDS = ("void", "preauth_void", "completion_void")
#: kinds read from a card (field 2/14/22 from the reader)
CARD_KINDS = ("sale", "correction", "preauth")

#: fields a reversal copies from its original (never 2, 14, 35, 36, 52, 53, 55)
REVERSAL_FIELDS = (3, 4, 22, 25, 41, 42, 49, 60, 61)
#: of those, the ones a reversal takes from the request as it was journaled when one is given: a request
#: whose values are settings, not the kind's table (a payment-code sale's 60.1, its processing code)
REVERSAL_AS_SENT = (3, 25, 60)

#: field 22 for operations that need no card (void, refund by reference)
MANUAL_NO_CARD = "012"

#: host answers to a reversal that mean "done, nothing (more) to undo"
REVERSAL_ACKNOWLEDGED = ("00", "12", "25")


@dataclass(frozen=True)
class OfflineLimits:
    """`[offline]`: the merchant's limits on sales stored while the bank cannot be reached (minor units)."""

    max_amount: int
    max_total: int
    max_count: int
    max_age_seconds: int
    entry_modes: tuple[str, ...] = ("chip",)
    card_types: tuple[str, ...] = ("debit", "credit")  # agent/cardtypes.py: how a card's type is told
    credit_bins: tuple[str, ...] = ()  # `[settlement_fees] credit_bins`: the prefixes of credit cards
    #: requests in a row without an answer after which the link counts as down
    after_unanswered: int = 3

    def as_dict(self) -> dict[str, int]:
        return {"max_amount": self.max_amount, "max_total": self.max_total, "max_count": self.max_count,
                "max_age_seconds": self.max_age_seconds}


@dataclass(frozen=True)
class Profile:
    """The terminal's identity and the engine's policy, from the configuration."""

    terminal_id: str
    merchant_id: str
    currency: str = "156"
    currency_exponent: int = 2
    language: str = "en"
    key_mode: str = "003"
    reversal_retries: int = 3
    duplicate_window_seconds: int = 600
    unusual_amount_multiple: float = 10.0
    #: the typical ticket until there are enough approved sales to judge (`[guards] typical_amount`, minor units)
    typical_amount: int = 50000
    #: the largest new payment (sale, payment-code sale, pre-auth) the terminal makes (`[guards] max_amount`)
    max_amount: int = 5_000_000
    refund_repeat_seconds: int = 120
    signon_max_age_seconds: int = 24 * 3600
    preauth_tolerance_percent: int = 15
    preauth_validity_days: int = 30
    preauth_advice_type: str = "24"
    #: the dialect's repeat MTIs (request MTI, its repeat): 0400 → 0401, 0220 → 0221
    repeat_mtis: tuple[tuple[str, str], ...] = tuple(CUP.repeats.items())
    #: the dialect's IC card TC upload, and how many tries a TC upload gets before it is left undelivered
    tc_upload: TcUploadSpec = CUP.tc_upload
    tc_upload_tries: int = 3
    #: store-and-forward while the bank cannot be reached (`[offline]`); None: disabled
    offline: OfflineLimits | None = None
    #: `[card_reader] manual_entry` (a supervisor may key a card) and `fallback` (the stripe when the chip fails)
    manual_entry: bool = False
    fallback: bool = True

    @classmethod
    def from_config(cls, cfg: Config) -> "Profile":
        dialect = get_dialect(cfg.acquirer.dialect)
        return cls(terminal_id=cfg.terminal.terminal_id, merchant_id=cfg.terminal.merchant_id,
                   currency=cfg.terminal.currency, currency_exponent=cfg.terminal.currency_exponent,
                   language=cfg.terminal.language, key_mode=cfg.keys.key_mode,
                   reversal_retries=cfg.acquirer.reversal_retries,
                   duplicate_window_seconds=cfg.guards.duplicate_window_seconds,
                   unusual_amount_multiple=cfg.guards.unusual_amount_multiple,
                   typical_amount=parse_amount(cfg.guards.typical_amount, cfg.terminal.currency_exponent),
                   max_amount=parse_amount(cfg.guards.max_amount, cfg.terminal.currency_exponent),
                   refund_repeat_seconds=cfg.guards.refund_repeat_seconds,
                   signon_max_age_seconds=cfg.keys.signon_max_age_hours * 3600,
                   preauth_tolerance_percent=cfg.preauth.tolerance_percent,
                   preauth_validity_days=cfg.preauth.validity_days,
                   preauth_advice_type=cfg.preauth.advice_type,
                   repeat_mtis=tuple(dialect.repeats.items()), tc_upload=dialect.tc_upload,
                   offline=_offline_limits(cfg), manual_entry=cfg.card_reader.manual_entry,
                   fallback=cfg.card_reader.fallback)

    def money(self, amount: int) -> str:
        """An amount in minor units as the operator reads it in this currency ("25.00")."""
        return format_amount(amount, self.currency_exponent)

    def repeat_of(self, mti: str) -> str:
        """The MTI of a request sent again (the dialect's repeat; the same MTI where it declares none)."""
        return dict(self.repeat_mtis).get(mti, mti)

    def as_config(self) -> dict[str, dict[str, str]]:
        """The mapping shape the network-management builders read."""
        return {"terminal": {"terminal_id": self.terminal_id, "merchant_id": self.merchant_id},
                "keys": {"key_mode": self.key_mode}}


@dataclass(frozen=True)
class CardData:
    """What the card gave for one transaction. Lives in memory only; wiped after the transaction."""

    pan: str
    expiry: str  # YYMM
    entry_mode: str  # field 22: 051/052 chip, 021/022 swipe, 801/802 fallback, 011/012 manual
    track2: str | None = None
    sequence: str | None = None  # field 23, chip only
    field55: bytes | None = None
    fallback: bool = False
    source: str = "chip"  # chip, swipe, manual, test-card
    pin_block: bytes | None = None  # field 52: the online PIN, enciphered under the PIN key (never journaled)
    approved_offline: bool = False  # the card answered TC to the terminal's TC request (field 55 holds it)
    sealed_card: str | None = None  # PAN and expiry sealed for the advice of an offline approval

    def __repr__(self) -> str:  # never show card data in a traceback or a log
        return f"CardData(source={self.source!r}, entry_mode={self.entry_mode!r})"


def local_mmdd(timestamp: float) -> str:
    """The local calendar date MMDD of a journal time (field 61's original date)."""
    return local_time(timestamp, "%m%d")


def _financial_fields(profile: Profile, kind: str, *, trace: int, batch: int, amount: int, currency: str,
                      entry_mode: str, card_present: bool, fallback: bool = False,
                      original: tuple[int, int, str] | None = None) -> tuple[str, dict[int, str | bytes]]:
    """The fields every financial request and its reversal share, from journal facts only."""
    code, condition, tx_type, mti = FINANCIAL_KINDS["sale" if kind == "correction" else kind]
    f60 = Field60(tx_type=tx_type, batch=f"{batch:06d}", nmc="000", read_cap="5",
                  ic_cond="2" if fallback else "0") if card_present else \
        Field60(tx_type=tx_type, batch=f"{batch:06d}", nmc="000")
    fields: dict[int, str | bytes] = {3: code, 4: f"{amount:012d}", 11: f"{trace:06d}", 22: entry_mode,
                                      25: condition, 41: profile.terminal_id, 42: profile.merchant_id,
                                      49: currency, 60: f60.to_str()}
    if original is not None:
        orig_batch, orig_trace, orig_date = original
        fields[61] = Field61(orig_batch=f"{orig_batch:06d}", orig_trace=f"{orig_trace:06d}",
                             orig_date=orig_date).to_str()
    return mti, fields


def sale_request(profile: Profile, *, trace: int, batch: int, amount: int, card: CardData,
                 kind: str = "sale") -> Message:
    mti, fields = _financial_fields(profile, kind, trace=trace, batch=batch, amount=amount,
                                    currency=profile.currency, entry_mode=card.entry_mode, card_present=True,
                                    fallback=card.fallback)
    fields.update({2: card.pan, 14: card.expiry})
    if card.track2:
        fields[35] = card.track2
    if card.sequence and card.field55 is not None:
        fields[23] = card.sequence
    if card.field55:
        fields[55] = card.field55
    if card.pin_block:
        fields.update(pin_fields(profile, card.pin_block))
    return Message(mti, fields)


#: field 26, the PIN capture code: the most PIN digits the PIN pad accepts
PIN_CAPTURE_CODE = "12"


def pin_fields(profile: Profile, pin_block: bytes) -> dict[int, str | bytes]:
    """52 the enciphered block, 26 the capture code, 53 security control: PIN format 2 (ISO 9564 format 0,
    with the PAN) and the PIN key's algorithm (0 single DES, 6 double-length 3DES) by the key mode."""
    algorithm = "0" if profile.key_mode == "001" else "6"
    return {52: pin_block, 26: PIN_CAPTURE_CODE, 53: f"2{algorithm}".ljust(16, "0")}


def void_request(profile: Profile, *, trace: int, batch: int, original: Txn) -> Message:
    """Void of a sale in the open batch: the host finds it by 61 (batch + trace) and 37/38."""
    mti, fields = _financial_fields(profile, "void", trace=trace, batch=batch, amount=original.amount,
                                    currency=original.currency, entry_mode=MANUAL_NO_CARD, card_present=False,
                                    original=(original.batch, original.trace, "0000"))
    return Message(mti, _with_references(fields, original))


class SaleReferenced(Protocol):
    """What a refund's message reads of its sale: a journaled `Txn`, or a sale known only by its RRN."""

    @property
    def rrn(self) -> str | None: ...
    @property
    def auth_code(self) -> str | None: ...
    @property
    def currency(self) -> str: ...
    @property
    def created_at(self) -> float: ...


def refund_request(profile: Profile, *, trace: int, batch: int, amount: int, original: SaleReferenced) -> Message:
    """Refund (0220): by original RRN and date (MMDD); batch and trace of 61 are zeros (another day)."""
    mti, fields = _financial_fields(profile, "refund", trace=trace, batch=batch, amount=amount,
                                    currency=original.currency, entry_mode=MANUAL_NO_CARD, card_present=False,
                                    original=(0, 0, local_mmdd(original.created_at)))
    return Message(mti, _with_references(fields, original))


def preauth_request(profile: Profile, *, trace: int, batch: int, amount: int, card: CardData) -> Message:
    """Pre-auth (0100, 03, 60.1 = 10): the card is read like a sale's; the issuer holds the amount."""
    return sale_request(profile, trace=trace, batch=batch, amount=amount, card=card, kind="preauth")


def reference_request(profile: Profile, kind: str, *, trace: int, batch: int, amount: int,
                      original: Txn) -> Message:
    """Pre-auth void, completion and completion void: no card; the original by 37/38 and field 61
    (voids: the original's batch + trace + date; completion: zeros + the pre-auth's date)."""
    refs = (original.batch, original.trace, local_mmdd(original.created_at)) if kind in VOID_KINDS else \
        (0, 0, local_mmdd(original.created_at))
    mti, fields = _financial_fields(profile, kind, trace=trace, batch=batch, amount=amount,
                                    currency=original.currency, entry_mode=MANUAL_NO_CARD, card_present=False,
                                    original=refs)
    if kind == "completion_advice":  # its 60.1 is unconfirmed: configuration, not the table
        fields[60] = Field60(tx_type=profile.preauth_advice_type, batch=f"{batch:06d}", nmc="000").to_str()
    return Message(mti, _with_references(fields, original))


def _with_references(fields: dict[int, str | bytes], original: SaleReferenced) -> dict[int, str | bytes]:
    if original.rrn:
        fields[37] = original.rrn
    if original.auth_code:
        fields[38] = original.auth_code
    return fields


def reversal_for(profile: Profile, txn: Txn, original: Txn | None, *, reason: str, repeat: bool,
                 sent: Mapping[str, Any] | None = None) -> Message:
    """0400 (0401 when repeated) rebuilt from the journal: the same shared fields as the request it
    undoes, the original's trace in 11 and the reason in 39; never PAN, track, PIN or chip data.
    `sent`: that request as journaled (masked JSON); its 3, 25 and 60 are copied as they went out."""
    refs = None
    if txn.kind == "void" and original is not None:
        refs = (original.batch, original.trace, "0000")
    elif txn.kind in VOID_KINDS and original is not None:
        refs = (original.batch, original.trace, local_mmdd(original.created_at))
    elif txn.kind in ("refund", "completion") and original is not None:
        refs = (0, 0, local_mmdd(original.created_at))
    _, fields = _financial_fields(profile, txn.kind, trace=txn.trace, batch=txn.batch, amount=txn.amount,
                                  currency=txn.currency, entry_mode=txn.entry_mode or MANUAL_NO_CARD,
                                  card_present=txn.kind in CARD_KINDS,
                                  fallback=(txn.entry_mode or "").startswith("80"), original=refs)
    fields = {n: v for n, v in fields.items() if n in REVERSAL_FIELDS or n == 11}
    journaled = (sent or {}).get("fields") or {}
    # a refund of another till's sale has no original here: its 61 (zeros and the sale's date) as it went out
    as_sent = REVERSAL_AS_SENT + ((61,) if txn.kind == "refund" and original is None else ())
    for number in as_sent:
        value = journaled.get(str(number))
        if isinstance(value, str) and value.isascii() and value.isdigit():  # numeric fields, never masked
            fields[number] = value
    fields[39] = reason
    return Message(profile.repeat_of("0400") if repeat else "0400", fields)


#: kinds an offline approval can be (pre-auths and the sales of a correction always go online)
OFFLINE_KINDS = ("sale",)


def offline_sale_message(profile: Profile, *, trace: int, batch: int, amount: int, card: CardData) -> Message:
    """The advice of a sale stored offline: the sale's fields under the MTI and 60.1 the dialect gives the kind
    "offline_sale" (cup: 0220, 60.1 = 30; domain notes §3).
    A chip sale's carries field 55 with the TC and no track data (the TC vouches for the card); a swiped one's
    carries track 2 (35), the issuer's only evidence the card was there; a keyed one's, PAN and expiry alone."""
    message = sale_request(profile, trace=trace, batch=batch, amount=amount, card=card, kind="offline_sale")
    if card.field55:
        return Message(message.mti, {n: v for n, v in message.fields.items() if n != 35})
    return message


def advice_from_record(profile: Profile, txn: Any, record: Mapping[str, Any], pan: str, expiry: str, icc: bytes,
                       track2: str | None = None) -> Message:
    """The advice again, from journal facts and the unsealed card (the same message each time): a chip sale's
    field 55, a swiped one's track 2."""
    sequence = record.get("fields", {}).get("23")
    entry_mode = txn.entry_mode or "052"
    card = CardData(pan=pan, expiry=expiry, entry_mode=entry_mode, field55=icc or None, track2=track2,
                    fallback=entry_mode.startswith("80"),
                    sequence=sequence if isinstance(sequence, str) and sequence.isdigit() else None)
    return offline_sale_message(profile, trace=txn.trace, batch=txn.batch, amount=txn.amount, card=card)


def tc_upload_request(profile: Profile, txn: Txn, icc: bytes, card_sequence: str | None) -> Message:
    """The IC card TC upload of an approved chip transaction, rebuilt from journal facts (the same message
    each time): the dialect's MTI, 60.1 and 60.3, the original's fields it names, 55 the card's TC."""
    spec = profile.tc_upload
    _, original = _financial_fields(profile, txn.kind, trace=txn.trace, batch=txn.batch, amount=txn.amount,
                                    currency=txn.currency, entry_mode=txn.entry_mode or MANUAL_NO_CARD,
                                    card_present=True)
    if txn.rrn:
        original[37] = txn.rrn
    if txn.auth_code:
        original[38] = txn.auth_code
    if card_sequence:
        original[23] = card_sequence
    fields = {n: v for n, v in original.items() if n in spec.copied}
    fields[55] = icc
    fields[60] = Field60(tx_type=spec.tx_type, batch=f"{txn.batch:06d}", nmc=spec.nmc, read_cap="5",
                         ic_cond="0").to_str()
    return Message(spec.mti, fields)


@dataclass(frozen=True)
class Verdict:
    """What a host answer means for a request: valid or not, and why not."""

    valid: bool
    reason: str = ""  # reversal reason when not valid: "A0" MAC failure, "06" anything else
    problem: str = ""  # what was wrong, for the journal and the technician


def check_response(request: Message, response: Message, *, mac_valid: bool | None) -> Verdict:
    """Domain §4: MTI + 10; same 3, 11, 41, 42 and 4; MAC verified when 39 = 00 or the answer has one."""
    mismatch = answer_mismatch(request, response, FINANCIAL_ECHO)
    if mismatch is not None:
        return Verdict(False, "06", mismatch[1])
    code = response.get(39)
    if not isinstance(code, str) or len(code) != 2:
        return Verdict(False, "06", "answer has no response code (field 39)")
    # a MAC that is there must verify, decline or not: a corrupted approval can read as a decline
    if mac_valid is False:
        return Verdict(False, "A0", "answer MAC does not verify")
    return Verdict(True)


def _offline_limits(cfg: Config) -> OfflineLimits | None:
    section = cfg.offline
    if not section.enabled:
        return None
    exponent = cfg.terminal.currency_exponent
    return OfflineLimits(max_amount=parse_amount(section.max_amount, exponent),
                         max_total=parse_amount(section.max_total, exponent), max_count=section.max_count,
                         max_age_seconds=section.max_age_hours * 3600,
                         entry_modes=offline_entry_modes(section.entry_modes),
                         card_types=offline_card_types(section.card_types),
                         credit_bins=credit_bins(cfg.settlement_fees.credit_bins),
                         after_unanswered=section.after_unanswered)
