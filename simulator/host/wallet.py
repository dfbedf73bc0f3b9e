"""The acquirer's wallet side: test payers, one-time payment codes, and orders that may stay "paying".

Payers are data (`simulator/data/wallet.toml`): a wallet, a balance, and how they confirm on the phone —
at once (`0`), after some seconds, `never` (the order stays paying until the terminal cancels it) or
`late` (the customer confirms just as the terminal gives up: the cancel finds the order paid and must
undo it).  A code is issued for one payer, expires after `CODE_LIFETIME` seconds and pays once.

A paid order is one row of the host ledger's `txns` (kind sale, card `wallet:<payer>`), so voids,
refunds, reversals and settlement treat it like a card sale and the ledger shows wallet payers beside
cards.  Orders and codes live in their own tables (`wallet_codes`, `wallet_orders`).
"""

from __future__ import annotations

import hashlib
import secrets
import tomllib
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources
from typing import TYPE_CHECKING, Any

from agent.errors import ConfigError
from agent.iso8583 import CodecError, Message
from agent.iso8583.subfields import Field61
from agent.paycodes import WALLETS, PaymentCodeError, classify, mask_code
from simulator.host import codes, financial
from simulator.host.ledger import Ledger, Txn

if TYPE_CHECKING:
    from simulator.host.processing import HostProcessor, Request

#: seconds a payment code stays usable (the wallets' own codes refresh every minute)
CODE_LIFETIME = 60
#: the answer that means "the customer must confirm on the phone" (the terminal's `[wallet] paying_code`)
PAYING = "PY"
#: where the payment code travels (the terminal's `[wallet] code_field`)
CODE_FIELD = 57

SCHEMA = """
CREATE TABLE IF NOT EXISTS wallet_codes (
    code_hash TEXT PRIMARY KEY, masked_code TEXT NOT NULL, payer TEXT NOT NULL, confirm TEXT NOT NULL, issued_at TEXT NOT NULL,
    used_at TEXT);
CREATE TABLE IF NOT EXISTS wallet_orders (
    tid TEXT NOT NULL, batch TEXT NOT NULL, stan TEXT NOT NULL, payer TEXT NOT NULL, masked_code TEXT NOT NULL,
    amount INTEGER NOT NULL, mid TEXT, local_date TEXT NOT NULL, confirm TEXT NOT NULL, state TEXT NOT NULL,
    created_at TEXT NOT NULL, txn_id INTEGER, PRIMARY KEY (tid, batch, stan));
"""

CONFIRMS = ("0", "never", "late")


@dataclass(frozen=True)
class Payer:
    name: str
    wallet: str
    balance: int
    confirm: str = "0"  # seconds, "never" or "late"
    behaviour: str = "ok"  # ok or decline


def _check_confirm(confirm: str, where: str) -> str:
    confirm = str(confirm)
    if confirm in ("never", "late"):
        return confirm
    try:
        seconds = float(confirm)
    except ValueError:
        seconds = -1
    if not 0 <= seconds <= 3600:
        raise ConfigError(f"{where}: confirm must be seconds (0–3600), 'never' or 'late', not {confirm!r}")
    return confirm


def load_payers(text: str | None = None, source: str = "simulator/data/wallet.toml") -> dict[str, Payer]:
    if text is None:
        text = resources.files("simulator").joinpath("data/wallet.toml").read_text("utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", path=source) from None
    known = {w.name for w in WALLETS}
    payers = {}
    for i, row in enumerate(data.get("payer", [])):
        where = f"{source}: payer {i + 1}"
        name, wallet = row.get("name"), row.get("wallet")
        if not isinstance(name, str) or not name or wallet not in known:
            raise ConfigError(f"{where}: needs a name and a wallet ({', '.join(sorted(known))})")
        balance = row.get("balance", 0)
        if not isinstance(balance, int) or balance < 0:
            raise ConfigError(f"{where}: balance must be a whole number of fen ≥ 0")
        behaviour = row.get("behaviour", "ok")
        if behaviour not in ("ok", "decline"):
            raise ConfigError(f"{where}: behaviour must be ok or decline, not {behaviour!r}")
        payers[name] = Payer(name, wallet, balance, _check_confirm(row.get("confirm", "0"), where), behaviour)
    return payers


class WalletHost:
    """The wallet tables beside the host ledger (same SQLite file and connection)."""

    def __init__(self, ledger: Ledger, payers: dict[str, Payer] | None = None):
        self.ledger = ledger
        self.payers = payers if payers is not None else load_payers()
        self._db = ledger.db
        self._db.executescript(SCHEMA)
        self.force_confirm: str | None = None  # a fault in force: every new order "never" or "late"

    # -- codes -----------------------------------------------------------------------------------
    def issue_code(self, payer: str, now: datetime, *, confirm: str | None = None) -> str:
        """A fresh one-time code for `payer` (its wallet's prefix and length)."""
        if payer not in self.payers:
            raise ConfigError(f"unknown payer {payer!r} (known: {', '.join(sorted(self.payers))})")
        p = self.payers[payer]
        confirm = _check_confirm(confirm if confirm is not None else p.confirm, "confirm")
        wallet = next(w for w in WALLETS if w.name == p.wallet)
        prefix, length = wallet.prefixes[len(wallet.prefixes) // 2], wallet.lengths[len(wallet.lengths) // 2]
        while True:
            code = prefix + "".join(secrets.choice("0123456789") for _ in range(length - len(prefix)))
            if classify(code) is wallet and not self._db.execute(
                    "SELECT 1 FROM wallet_codes WHERE code_hash = ?", (_hash(code),)).fetchone():
                break
        self.ledger.write("INSERT INTO wallet_codes (code_hash, masked_code, payer, confirm, issued_at) "
                           "VALUES (?, ?, ?, ?, ?)", (_hash(code), mask_code(code), payer, confirm, now.isoformat()))
        return code

    def _take_code(self, code: str, now: datetime) -> tuple[str, dict[str, Any] | None]:
        """Use a code once: (response code, its row) — unknown 14, used 12, expired 54."""
        row = self._db.execute("SELECT * FROM wallet_codes WHERE code_hash = ?", (_hash(code),)).fetchone()
        if row is None:
            return codes.UNKNOWN_CARD, None
        if row["used_at"] is not None:
            return codes.INVALID_TRANSACTION, None
        if _aware(now) - _aware(datetime.fromisoformat(row["issued_at"])) > timedelta(seconds=CODE_LIFETIME):
            return codes.EXPIRED_CARD, None
        self.ledger.write("UPDATE wallet_codes SET used_at = ? WHERE code_hash = ? AND used_at IS NULL",
                           (now.isoformat(), _hash(code)))
        return codes.APPROVED, dict(row)

    # -- orders ----------------------------------------------------------------------------------
    def order(self, tid: str, batch: str, stan: str) -> dict[str, Any] | None:
        row = self._db.execute("SELECT * FROM wallet_orders WHERE tid = ? AND batch = ? AND stan = ?",
                               (tid, batch, stan)).fetchone()
        return dict(row) if row else None

    def _set_order(self, order: dict[str, Any], state: str, txn_id: int | None = None) -> None:
        self.ledger.write("UPDATE wallet_orders SET state = ?, txn_id = COALESCE(?, txn_id) "
                           "WHERE tid = ? AND batch = ? AND stan = ?",
                           (state, txn_id, order["tid"], order["batch"], order["stan"]))

    def _available(self, payer: Payer) -> int:
        return payer.balance - self.ledger.card_net_charged(f"wallet:{payer.name}")

    def _charge(self, *, tid: str, mid: str, batch: str, stan: str, payer: Payer, masked: str, amount: int,
                local_date: str, now: datetime) -> Txn:
        """The ledger row of the outcome: approved (money moves) or declined (insufficient funds)."""
        code = codes.APPROVED if amount <= self._available(payer) else codes.INSUFFICIENT_FUNDS
        if payer.behaviour == "decline":
            code = codes.DO_NOT_HONOUR
        return self.ledger.record_txn(
            tid=tid, mid=mid, batch=batch, stan=stan, mti="0200", kind="sale", card=f"wallet:{payer.name}",
            masked_pan=masked, amount=amount, local_date=local_date, response_code=code, icc=False, orig_id=None,
            now=now.isoformat())

    def settle_order(self, order: dict[str, Any], now: datetime) -> Txn:
        """A paying order becomes final: the customer confirmed (or was out of money)."""
        payer = self.payers[order["payer"]]
        txn = self._charge(tid=order["tid"], mid=order["mid"], batch=order["batch"], stan=order["stan"],
                           payer=payer, masked=order["masked_code"], amount=order["amount"],
                           local_date=order["local_date"], now=now)
        self._set_order(order, "paid" if txn.response_code == codes.APPROVED else "declined", txn.id)
        return txn

    def confirmed_by(self, order: dict[str, Any], now: datetime) -> bool:
        if order["confirm"] in ("never", "late"):
            return False
        created = _aware(datetime.fromisoformat(order["created_at"]))
        return _aware(now) >= created + timedelta(seconds=float(order["confirm"]))


# -- handlers (routes in processing.py) ---------------------------------------------------------
def pay(host: HostProcessor, req: Request) -> Message:
    bad = financial.precheck(host, req)
    wallets: WalletHost = host.wallet
    if bad is None and wallets.order(req.tid, req.batch, req.stan) is not None:
        bad = codes.DUPLICATE_TRANSMISSION
    if bad:
        return host.answer(req, bad, drop=(CODE_FIELD,))
    code = req.msg.text(CODE_FIELD) or ""
    try:
        classify(code)
    except PaymentCodeError:
        return host.answer(req, codes.FORMAT_ERROR, drop=(CODE_FIELD,))
    result, row = wallets._take_code(code, req.now)
    local_date = req.now.strftime("%m%d")
    if row is None:
        txn = financial.record(host, req, "sale", None, None, req.amount, result)
        return financial.answer_for(host, req, txn)
    payer = wallets.payers[row["payer"]]
    confirm = wallets.force_confirm or row["confirm"]
    if confirm == "0" or payer.behaviour == "decline":
        txn = wallets._charge(tid=req.tid, mid=req.mid, batch=req.batch, stan=req.stan, payer=payer,
                              masked=mask_code(code), amount=req.amount, local_date=local_date, now=req.now)
        return financial.answer_for(host, req, txn)
    wallets.ledger.write(
        "INSERT INTO wallet_orders (tid, batch, stan, payer, masked_code, amount, mid, local_date, confirm, state, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'paying', ?)",
        (req.tid, req.batch, req.stan, payer.name, mask_code(code), req.amount, req.mid, local_date,
         confirm, req.now.isoformat()))
    return host.answer(req, PAYING)


def query(host: HostProcessor, req: Request) -> Message:
    """Status of an order by its original batch + trace (61): paid 00, paying PY, declined, 25 unknown."""
    wallets: WalletHost = host.wallet
    try:
        f61 = Field61.parse(req.msg[61])
    except (KeyError, CodecError):
        return host.answer(req, codes.FORMAT_ERROR)
    order = wallets.order(req.tid, f61.orig_batch, f61.orig_trace)
    if order is not None and order["state"] == "paying" and wallets.confirmed_by(order, req.now):
        wallets.settle_order(order, req.now)
        order = wallets.order(req.tid, f61.orig_batch, f61.orig_trace)
    if order is not None and order["state"] == "paying":
        return host.answer(req, PAYING)
    if order is not None and order["state"] == "cancelled":
        return host.answer(req, codes.INVALID_TRANSACTION)
    txn = host.ledger.find_by_trace(req.tid, f61.orig_batch, f61.orig_trace)
    if txn is None or txn.kind != "sale" or (order is None and not (txn.card or "").startswith("wallet:")):
        return host.answer(req, codes.ORIGINAL_NOT_FOUND)
    if txn.reversed:
        return host.answer(req, codes.INVALID_TRANSACTION)
    fields: dict[int, str | bytes] = {37: txn.rrn}
    if txn.auth_code:
        fields[38] = txn.auth_code
    return host.answer(req, txn.response_code, fields)


def reversal(host: HostProcessor, req: Request) -> Message:
    """Cancel (撤销/close): a paying order is closed; a `late` payer pays first, so the cancel undoes it;
    anything else is a card reversal."""
    wallets: WalletHost = host.wallet
    order = wallets.order(req.tid, req.batch, req.stan)
    if order is not None and order["state"] == "paying":
        if order["confirm"] == "late" or wallets.confirmed_by(order, req.now):
            wallets.settle_order(order, req.now)  # paid just as the terminal gave up
        else:
            wallets._set_order(order, "cancelled")
    return financial.reversal(host, req)


def _aware(moment: datetime) -> datetime:
    """The server's clock is local and naive, `posim wallet issue` writes UTC: compare them as instants."""
    return moment.astimezone() if moment.tzinfo is None else moment


def _hash(code: str) -> str:
    """Codes are kept only as a hash: the host too never keeps a usable credential at rest."""
    return hashlib.sha256(code.encode("ascii")).hexdigest()


def issued_codes(ledger: Ledger, payer: str | None = None) -> list[dict[str, Any]]:
    sql = "SELECT payer, masked_code, confirm, issued_at, used_at FROM wallet_codes"
    params: tuple[str, ...] = ()
    if payer:
        sql, params = sql + " WHERE payer = ?", (payer,)
    return [dict(r) for r in ledger.db.execute(sql + " ORDER BY issued_at", params)]

