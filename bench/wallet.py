"""Wallet payment codes: what a payment-code sale costs against a card sale measured in the same run.

Both go through the same real parts in one process (engine plan, SQLite journal with its fsyncs, codec,
MACs, the simulator's acquirer and wallet tables; waits take no time, the clock is a counter): a card
sale, a code that pays at once, and a code the customer confirms on the phone (one "paying" answer and
one status query more).  Also: code checks per second and scanner framing throughput."""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path


def _p50(times: list[float]) -> float:
    return sorted(times)[len(times) // 2] * 1e3


def main() -> None:
    from agent.drivers.scanner import ScanFramer
    from agent.engine.card import sale as card_sale
    from agent.paycodes import classify
    from tests.enginekit import CASHIER, PROFILE
    from tests.walletkit import WalletWorld

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        world = WalletWorld(Path(tmp))
        world.run(card_sale.sale(PROFILE, card_sale.SaleRequest(100, test_card="debit"), CASHIER))  # signed on
        card, code_now, code_paying = [], [], []
        for i in range(args.rounds):
            started = time.perf_counter()
            world.run(card_sale.sale(PROFILE, card_sale.SaleRequest(100 + i, test_card="debit", confirm_duplicate=True,
                                                        confirm_unusual=True), CASHIER))
            card.append(time.perf_counter() - started)
            code = world.code("alice")
            started = time.perf_counter()
            assert world.pay(100 + i, code).status == "approved"
            code_now.append(time.perf_counter() - started)
            code = world.code("bob", confirm="2")
            started = time.perf_counter()
            assert world.pay(100 + i, code).status == "approved"
            code_paying.append(time.perf_counter() - started)
        world.close()
    codes = ["281234567890123456", "6901234567892", "134567890123456789", "abc", "6212345678901234567"] * 2000
    started = time.perf_counter()
    for code in codes:
        try:
            classify(code)
        except Exception:  # noqa: BLE001 — refusals are part of what is measured
            pass
    checks_per_s = len(codes) / (time.perf_counter() - started)
    stream = b"\x00281234567890123456\r\n134567890123456789\r" * 5000
    framer = ScanFramer()
    started = time.perf_counter()
    for offset in range(0, len(stream), 64):
        framer.feed(stream[offset:offset + 64], 0.0)
    frame_mb_s = len(stream) / (time.perf_counter() - started) / 1e6
    figures = {"bench": "wallet", "rounds": args.rounds, "card_sale_p50_ms": round(_p50(card), 3),
               "code_sale_p50_ms": round(_p50(code_now), 3), "code_paying_p50_ms": round(_p50(code_paying), 3),
               "code_vs_card": round(_p50(code_now) / _p50(card), 2),
               "paying_vs_card": round(_p50(code_paying) / _p50(card), 2),
               "code_checks_per_s": round(checks_per_s), "scanner_framing_mb_s": round(frame_mb_s, 2)}
    print(f"card sale p50 {figures['card_sale_p50_ms']} ms (reference); code sale p50 "
          f"{figures['code_sale_p50_ms']} ms ({figures['code_vs_card']}x); paying + 1 query p50 "
          f"{figures['code_paying_p50_ms']} ms ({figures['paying_vs_card']}x); mean card "
          f"{statistics.fmean(card) * 1e3:.3f} ms")
    print(f"code checks {checks_per_s:,.0f}/s; scanner framing {frame_mb_s:.2f} MB/s")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
