"""The engine kit with the wallet's effects: a scripted scanner, waits that advance the test clock, and
a CANCEL key pressed at a chosen wait.  Everything else is the real journal, codec, MACs and host."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from agent.engine.wallet import plans as w
from agent.engine.wallet.messages import WalletSettings
from tests.enginekit import CASHIER, PROFILE, World

SETTINGS = WalletSettings(query_interval=3.0, deadline=20.0)


class WalletWorld(World):
    scans: list[Any]
    cancel_at_wait: int | None = None
    waits: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        self.scans = []

    def perform(self, effect: Any) -> Any:
        if isinstance(effect, w.Wait):
            self.clock.advance(effect.seconds)
            if effect.seconds > 0:
                self.waits += 1
                if self.cancel_at_wait is not None and self.waits >= self.cancel_at_wait:
                    return w.Waited(self.clock.now, cancelled=True)
            return w.Waited(self.clock.now)
        if isinstance(effect, w.ScanCode):
            if not self.scans:
                return w.ScanFailure("no code scanned")
            return self.scans.pop(0)
        return super().perform(effect)

    def code(self, payer: str, confirm: str | None = None) -> str:
        return self.host.wallet.issue_code(payer, datetime.fromtimestamp(self.clock.now, timezone.utc),
                                           confirm=confirm)

    def pay(self, amount: int, code: str | None, settings: WalletSettings = SETTINGS, **kw) -> Any:
        return self.run(w.wallet_sale(PROFILE, settings, w.WalletSaleRequest(amount, code, **kw), CASHIER))

    def payer_net(self, payer: str) -> int:
        return self.ledger.card_net_charged(f"wallet:{payer}")
