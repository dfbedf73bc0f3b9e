"""The merchant's contracted fee: a rate per card type with an optional cap per transaction.

Rates are decimal percentages kept exactly (``"0.50"`` → 5,000 parts per million); a fee is
amount × rate rounded half-up to the fen, then capped.  Sales and pre-auth completions pay the fee; a
void (or completion void) gives the fee back (the same amount, negative); refunds neither pay nor return a fee.  One function, used by the
simulator's acquirer to write statements and by the reconciler to check them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from agent.errors import ConfigError
from agent.money import PPM, cap_to_minor, percent_to_ppm

#: statement line kinds the merchant is credited for (positive amounts); the others are debited
DEBIT_KINDS = ("sale", "completion")
#: line kinds that give a charge's fee back
FEE_RETURN_KINDS = ("void", "completion_void")


@dataclass(frozen=True)
class FeeRate:
    ppm: int  # parts per million of the amount
    cap: int | None  # minor units per transaction

    def fee(self, amount: int) -> int:
        """The fee of a sale of `amount` minor units (> 0): half-up to the fen, then capped."""
        fee = (amount * self.ppm + PPM // 2) // PPM
        return min(fee, self.cap) if self.cap is not None else fee

    def describe(self) -> str:
        percent = f"{self.ppm // 10_000}.{self.ppm % 10_000:04d}".rstrip("0").rstrip(".")
        cap = f", capped at {self.cap // 100}.{self.cap % 100:02d}" if self.cap is not None else ""
        return f"{percent} %{cap}"


@dataclass(frozen=True)
class FeeContract:
    rates: Mapping[str, FeeRate]  # card type → rate

    def line_fee(self, kind: str, card_type: str, amount: int) -> int:
        """The fee of one statement line: `amount` is the line's signed amount."""
        if kind == "refund":
            return 0
        fee = self.rates[card_type].fee(abs(amount))
        return -fee if kind in FEE_RETURN_KINDS else fee

    @classmethod
    def from_text(cls, debit_rate: str, debit_cap: str, credit_rate: str, credit_cap: str) -> "FeeContract":
        return cls({"debit": FeeRate(percent_to_ppm(debit_rate), cap_to_minor(debit_cap)),
                    "credit": FeeRate(percent_to_ppm(credit_rate), cap_to_minor(credit_cap))})


def contract_from_config(section: Mapping[str, Any]) -> FeeContract:
    """The contract in `[settlement_fees]` (values already checked by the configuration schema)."""
    try:
        return FeeContract.from_text(section["debit_rate_percent"], section["debit_cap"],
                                     section["credit_rate_percent"], section["credit_cap"])
    except ValueError as exc:
        raise ConfigError(str(exc), key="settlement_fees") from None


#: the simulator's default contract, the same as the configuration's defaults
DEFAULT_CONTRACT = FeeContract.from_text("0.50", "20.00", "0.60", "")
