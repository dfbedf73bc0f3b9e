"""The acquirer's message processing, sans-IO: one request `Message` in, one response `Message` out.

`HostProcessor.handle(request, now)` reads no clock and opens no socket; the server feeds it decoded
requests and sends what it returns.  Which handler answers a request is one table (`ROUTES`), keyed by
MTI, processing code (3) and transaction type (60.1) / network-management code (60.3).

Checks made like a host: MAC on every MAC'd request (bad → A0, nothing recorded), sign-on before
MAC'd traffic (no working keys → 77), then the per-message rules in `financial.py`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Mapping

from agent.iso8583 import CodecError, Dialect, Message
from agent.iso8583.crypto import kcv, unwrap_working_key, wrap_working_key
from agent.iso8583.dialects.cup import MESSAGES as CUP_MESSAGES, PARAM_DOWNLOAD as CUP_PARAMS
from agent.iso8583.subfields import Field60, Field62Keys
from simulator.host import codes, financial, holds, offline, params, tcs, wallet
from simulator.host.ledger import Ledger
from simulator.host.settlement import settle
from simulator.host.wire import encoded_answer
from simulator.testcards import TestCard

#: fields a response copies from its request when the request had them
ECHOED = (2, 3, 4, 11, 14, 22, 25, 41, 42, 49, 60, 61)


@dataclass(frozen=True)
class Request:
    """A decoded request and the facts every handler needs."""

    msg: Message
    tid: str
    mid: str
    stan: str
    f60: Field60 | None
    now: datetime

    @classmethod
    def of(cls, msg: Message, tid: str, f60: Field60 | None, now: datetime) -> Request:
        """The request of terminal `tid` (see `terminal_of`): merchant (42) and trace (11) read as text."""
        return cls(msg, tid, msg.text(42) or "", msg.text(11) or "000000", f60, now)

    @property
    def batch(self) -> str:
        return self.f60.batch if self.f60 is not None else "000000"

    @property
    def amount(self) -> int:
        """The amount (4) in minor units, 0 when absent: a handler that books money refuses a request
        without a positive amount before it books anything (`financial.precheck`)."""
        return self.msg.amount or 0


def terminal_of(msg: Message) -> str:
    """The terminal id a request names (41, blanks stripped), or "" when it names none."""
    return (msg.text(41) or "").strip()


@dataclass(frozen=True)
class WorkingKeys:
    pin: bytes
    mac: bytes
    track: bytes | None = None


class HostProcessor:
    """The acquirer's rules over its ledger; one instance serves every terminal."""

    def __init__(self, ledger: Ledger, cards: Mapping[str, TestCard], *, dialect: Dialect,
                 tmk_for: Callable[[str], bytes], key_source: Callable[[int], bytes] = os.urandom):
        self.ledger = ledger
        self.cards = dict(cards)
        self.dialect = dialect
        self.tmk_for = tmk_for
        self.key_source = key_source
        self._keys: dict[str, WorkingKeys] = {}
        self.wallet = wallet.WalletHost(ledger)
        self.params = params.ParamHost()  # chip parameters and CA keys per terminal (simulator/host/params.py)

    # -- entry point ---------------------------------------------------------------------------
    def handle(self, msg: Message, now: datetime, *, encoded: bytes | None = None) -> Message | None:
        """The response to one request (None for a request the host does not answer); `encoded`: the
        request's bytes as received, if the caller has them (its MAC is then checked over them)."""
        tid = terminal_of(msg)
        if not tid:
            return None  # no terminal to answer to
        try:
            f60 = Field60.parse(msg[60]) if 60 in msg else None
        except CodecError:
            return self.answer(Request.of(msg, tid, None, now), codes.FORMAT_ERROR)
        req = Request.of(msg, tid, f60, now)
        handler = route(req)
        if handler is None:
            return self.answer(req, codes.NOT_SUPPORTED)
        if self.dialect.mac_required(msg):
            keys = self.working_keys(tid)
            if keys is None:
                return self.answer(req, codes.SIGN_ON_AGAIN)
            if 64 not in msg or not self.dialect.verify_mac(keys.mac, msg, encoded=encoded):
                return self.answer(req, codes.MAC_ERROR)
        return handler(self, req)

    def decline_applies(self, msg: Message, now: datetime) -> bool:
        """Whether the `decline` fault (the bank refuses a new financial request) applies to `msg`: not to a
        wallet order's status query (it moves nothing, and its answer is the order's state: a 05 there would
        be the bank saying the order failed), nor to the repeat of a request this terminal's batch already
        booked (an advice sent again after its answer was lost: its money moved with the first copy, so the
        bank answers from that booking)."""
        tid = terminal_of(msg)
        try:
            f60 = Field60.parse(msg[60]) if 60 in msg else None
        except CodecError:
            return True
        if not tid or f60 is None:
            return True
        req = Request.of(msg, tid, f60, now)
        if route(req) is wallet.query:
            return False
        return msg.mti not in ADVICE_MTIS or self.ledger.find_by_trace(tid, f60.batch, req.stan) is None

    def decline(self, msg: Message, now: datetime) -> Message | None:
        """The `decline` fault: answer 05 (do not honour) without processing — no money moves."""
        tid = terminal_of(msg)
        if not tid:
            return None
        return self.answer(Request.of(msg, tid, None, now), codes.DO_NOT_HONOUR)

    def not_processed(self, msg: Message, now: datetime) -> Message | None:
        """The `advices_refused` fault: answer 96 (system malfunction) without processing — nothing is booked."""
        tid = terminal_of(msg)
        if not tid:
            return None
        return self.answer(Request.of(msg, tid, None, now), codes.SYSTEM_MALFUNCTION)

    # -- responses -----------------------------------------------------------------------------
    def answer(self, req: Request, code: str | None, extra: Mapping[int, str | bytes] | None = None,
               *, drop: tuple[int, ...] = ()) -> Message:
        fields: dict[int, str | bytes] = {n: req.msg[n] for n in ECHOED if n in req.msg and n not in drop}
        stamp = req.now.strftime("%H%M%S%m%d")
        fields[12], fields[13] = stamp[:6], stamp[6:]
        if code is not None:
            fields[39] = code
        fields.update(extra or {})
        response = Message(req.msg.response_mti, fields)
        keys = self.working_keys(req.tid) if self.dialect.mac_required(response) else None
        return encoded_answer(self.dialect, keys.mac if keys is not None else None, response)

    # -- working keys --------------------------------------------------------------------------
    def working_keys(self, tid: str) -> WorkingKeys | None:
        keys = self._keys.get(tid)
        if keys is None:
            stored = self.ledger.stored_keys(tid)
            if stored is None:
                return None
            keys = self._unwrap(tid, *stored)
            self._keys[tid] = keys
        return keys

    def hold_keys(self, tid: str, keys: WorkingKeys) -> None:
        """Keep a terminal's new working keys in memory (the ledger holds them too, wrapped)."""
        self._keys[tid] = keys

    def drop_keys(self, tid: str) -> None:
        """Forget a terminal's working keys (signed off): its next message needs a sign-on."""
        self._keys.pop(tid, None)

    def forget_cached_keys(self) -> None:
        """Drop the working keys held in memory (the ledger's copy is the truth, e.g. after a rollback)."""
        self._keys.clear()

    def _unwrap(self, tid: str, key_mode: str, field62: bytes) -> WorkingKeys:
        tmk = self.tmk_for(tid)
        clear = [unwrap_working_key(tmk, enc, check) for enc, check in Field62Keys.parse(field62, key_mode)]
        return WorkingKeys(*clear)

    def issue_keys(self, tid: str, key_mode: str) -> tuple[WorkingKeys, bytes]:
        """New working keys for a terminal, and field 62: each key under its TMK plus check value."""
        tmk = self.tmk_for(tid)
        length, count = self.dialect.key_layouts[key_mode]
        clear = [self.key_source(length) for _ in range(count)]
        field62 = Field62Keys.build([(wrap_working_key(tmk, key), kcv(key)) for key in clear])
        keys = WorkingKeys(*clear)
        return keys, field62


# -- network management ------------------------------------------------------------------------
def sign_on(host: HostProcessor, req: Request) -> Message:
    key_mode = req.f60.nmc if req.f60 is not None else ""
    if key_mode not in host.dialect.key_layouts:
        return host.answer(req, codes.FORMAT_ERROR)
    keys, field62 = host.issue_keys(req.tid, key_mode)
    batch = host.ledger.record_signon(req.tid, req.mid, key_mode, field62, req.now.isoformat())
    host.hold_keys(req.tid, keys)
    f60 = Field60(tx_type=_tx_type(req), batch=batch, nmc=key_mode)
    extra: dict[int, str | bytes] = {60: f60.to_str(), 62: field62}
    spec = host.dialect.param_download
    if spec is not None:  # the versions of the chip parameters and CA keys waiting for this terminal
        extra[spec.notice_field] = host.params.notice(req.tid, spec.version_digits)
    return host.answer(req, codes.APPROVED, extra)


def sign_off(host: HostProcessor, req: Request) -> Message:
    host.ledger.record_signoff(req.tid)
    host.drop_keys(req.tid)
    return host.answer(req, codes.APPROVED)


def echo(host: HostProcessor, req: Request) -> Message:
    return host.answer(req, codes.APPROVED)


def _nmc(req: Request) -> str:
    return req.f60.nmc if req.f60 is not None else ""


def _tx_type(req: Request) -> str:
    return req.f60.tx_type if req.f60 is not None else ""


#: an advice and its repeat
ADVICE_MTIS = ("0220", "0221")
#: 60.1 of the advice of a sale approved offline (dialect data: cup 30)
OFFLINE_SALE_TYPE = CUP_MESSAGES["offline_sale"][3]

#: (MTI, processing code or None, 60.1 or None, 60.3 or None) → handler; the first row that matches wins
ROUTES: tuple[tuple[str, str | None, str | None, str | None, Callable[[HostProcessor, Request], Message]], ...] = (
    *params.routes(CUP_PARAMS),  # the chip parameter download (0800/0820 by 60.3), ahead of sign-on
    ("0800", None, None, None, sign_on),
    ("0820", None, None, "002", sign_off),
    ("0820", None, None, "301", echo),
    ("0200", "310000", None, None, financial.balance),
    ("0200", "000000", "22", None, financial.sale),
    ("0200", "000000", "41", None, wallet.pay),
    ("0100", "330000", "42", None, wallet.query),
    ("0200", "200000", "23", None, financial.void),
    ("0220", "200000", "25", None, financial.refund),
    ("0100", "030000", "10", None, holds.preauth),
    ("0100", "200000", "11", None, holds.preauth_void),
    ("0200", "000000", "20", None, holds.completion),
    ("0200", "200000", "21", None, holds.completion_void),
    ("0220", "000000", OFFLINE_SALE_TYPE, None, offline.sale_advice),  # a sale approved offline (chip, swipe, keyed)
    ("0220", "000000", None, None, holds.completion_advice),  # its 60.1 (24) is unconfirmed: any is taken
    # an advice sent again (0221): the same advice — answered from its booking, or booked if the first never came
    ("0221", "000000", OFFLINE_SALE_TYPE, None, offline.sale_advice),
    ("0221", "000000", None, None, holds.completion_advice),
    ("0400", None, None, None, wallet.reversal),  # a wallet order's cancel, else the card reversal
    ("0401", None, None, None, wallet.reversal),
    ("0500", None, None, "201", settle),
    ("0320", None, None, "201", financial.batch_upload),
    ("0320", None, None, "203", tcs.ic_upload),  # with 55: the IC card's TC upload, else a batch-upload record
    ("0320", None, None, "202", financial.batch_upload_end),
    ("0320", None, None, "207", financial.batch_upload_end),
)


#: the rows of ROUTES per MTI, in table order (a request is matched against its own MTI's rows only)
_BY_MTI: dict[str, list[tuple[str | None, str | None, str | None, Callable[[HostProcessor, Request], Message]]]] = {}
for _row in ROUTES:
    _BY_MTI.setdefault(_row[0], []).append(_row[1:])


def route(req: Request) -> Callable[[HostProcessor, Request], Message] | None:
    code = req.msg.get(3)
    for proc, tx_type, nmc, handler in _BY_MTI.get(req.msg.mti, ()):
        if ((proc is None or proc == code) and (tx_type is None or tx_type == _tx_type(req))
                and (nmc is None or nmc == _nmc(req))):
            return handler
    return None
