"""Wallet payments in the campaign: the customers behind a plan's payment-code sales, the daemon's paying
state made short enough for a campaign, and the codes issued (the checker makes sure none of them is ever
found in full on the terminal)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from simulator.host.wallet import WalletHost

#: the wallet payer behind each way a plan's customer pays by code, and when they confirm on the phone
PAYERS = {"wallet:now": ("alice", "0"), "wallet:later": ("bob", "0.3"), "wallet:never": ("dave", "never")}
#: the daemon's paying state for a campaign: a status query every 0.1 s, the order cancelled after 1 s
DAEMON_SETTINGS = "[wallet]\nquery_interval = 0.1\ndeadline = 1.0\n"


def kill_delay(op: str, payer: str, mode: str | None, planned: float) -> float:
    """When a random-moment (or in-recovery) kill of a wallet sale lands: for a customer who confirms on the phone (or never
    does), inside the paying state — 0.15–0.4 s after the request, between the status queries — so that
    "SIGKILL while paying" is exercised; otherwise as planned."""
    if op != "wallet_sale" or payer not in ("wallet:later", "wallet:never"):
        return planned
    if mode == "random":  # planned 0–0.025 s
        return 0.15 + planned * 10
    if mode == "in_recovery":  # planned 0–0.35 s; the restart is then killed again while it recovers
        return 0.15 + planned
    return planned


class CodeIssuer:
    """One-time codes from the host's wallet tables (what `posim wallet issue` does), kept for the checker."""

    def __init__(self, host_db: Path):
        self.host_db = host_db
        self.codes: list[str] = []
        self._wallet: WalletHost | None = None

    def issue(self, payer: str) -> str:
        from simulator.host.ledger import Ledger
        from simulator.host.wallet import WalletHost

        if self._wallet is None:
            self._wallet = WalletHost(Ledger(self.host_db))
        name, confirm = PAYERS[payer]
        code = self._wallet.issue_code(name, datetime.now(timezone.utc), confirm=confirm)
        self.codes.append(code)
        return code

    def close(self) -> None:
        if self._wallet is not None:
            self._wallet.ledger.close()
            self._wallet = None
