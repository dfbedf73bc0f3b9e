"""The payment-code messages as dialect data: sale with the code, status query by original trace.

No public specification pins how a CUP-style ISO 8583 link carries wallet payments, so every number
here is a setting (`[wallet]`, flagged *unconfirmed* in docs/status.md).  Cancel of an unfinished or just
paid order is the reversal of the sale (0400 by the original's trace, rebuilt from the journal alone,
retried until acknowledged); void and refund of a paid order are the card messages by trace / RRN.
The code itself travels only in the sale request and is never journaled or logged in full (the field
is masked like a PAN).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agent.errors import ConfigError
from agent.iso8583 import Message
from agent.iso8583.subfields import Field60, Field61
from agent.engine.requests import Profile, local_mmdd

if TYPE_CHECKING:
    from agent.journal.records import Txn
    from agent.config import Config
    from agent.iso8583.dialect import Dialect


@dataclass(frozen=True)
class WalletSettings:
    query_interval: float = 3.0
    deadline: float = 60.0
    code_field: int = 57
    entry_mode: str = "032"
    sale_type: str = "41"
    query_type: str = "42"
    query_processing_code: str = "330000"
    paying_code: str = "PY"
    sale_mti: str = "0200"
    sale_processing_code: str = "000000"
    query_mti: str = "0100"

    @classmethod
    def from_config(cls, cfg: Config, dialect: Dialect | None = None) -> "WalletSettings":
        w = cfg.wallet
        settings = cls(query_interval=float(w.query_interval), deadline=float(w.deadline), code_field=w.code_field,
                       entry_mode=w.entry_mode, sale_type=w.sale_type, query_type=w.query_type,
                       query_processing_code=w.query_processing_code, paying_code=w.paying_code)
        if dialect is not None:
            settings.check(dialect)
        return settings

    def check(self, dialect: Dialect) -> None:
        """The code field must exist in the dialect and be masked like a PAN (the code is a credential)."""
        spec = dialect.fields.get(self.code_field)
        if spec is None or spec.mask != "pan":
            raise ConfigError(f"wallet.code_field: field {self.code_field} of the {dialect.name} dialect "
                              f"{'is not defined' if spec is None else 'is not masked like a PAN'}; "
                              f"expected a field that carries the payment code masked")

    def is_wallet(self, txn: Any) -> bool:
        return getattr(txn, "entry_mode", None) == self.entry_mode


def wallet_sale_request(profile: Profile, settings: WalletSettings, *, trace: int, batch: int, amount: int,
                        code: str) -> Message:
    f60 = Field60(tx_type=settings.sale_type, batch=f"{batch:06d}", nmc="000")
    return Message(settings.sale_mti, {
        3: settings.sale_processing_code, 4: f"{amount:012d}", 11: f"{trace:06d}", 22: settings.entry_mode,
        25: "00", 41: profile.terminal_id, 42: profile.merchant_id, 49: profile.currency, 60: f60.to_str(),
        settings.code_field: code})


def wallet_query_request(profile: Profile, settings: WalletSettings, *, trace: int, batch: int,
                         original: Txn) -> Message:
    """Status of the order sent as `original` (a journal Txn): 61 = its batch + trace + date."""
    f60 = Field60(tx_type=settings.query_type, batch=f"{batch:06d}", nmc="000")
    f61 = Field61(orig_batch=f"{original.batch:06d}", orig_trace=f"{original.trace:06d}",
                  orig_date=local_mmdd(original.created_at))
    return Message(settings.query_mti, {
        3: settings.query_processing_code, 4: f"{original.amount:012d}", 11: f"{trace:06d}",
        22: settings.entry_mode, 25: "00", 41: profile.terminal_id, 42: profile.merchant_id,
        49: original.currency, 60: f60.to_str(), 61: f61.to_str()})
