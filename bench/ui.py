"""Cashier screen benchmark: how long a key press takes to become a frame, on the sans-IO machine alone.

    .venv/bin/python -m bench.ui [--rounds 2000]

A full refund dialog (menu, find by trace, detail pages, amount, password, reply, result pages) is
pressed key by key on a 21×8 English and a 16×4 Chinese screen; every key returns its new frame.
Figures: key presses per second and the p50 / p99 time per key (frame included).  A terminal's
display refreshes in tens of milliseconds, so the target is p50 < 1 ms per key (p99 is reported too;
on a loaded machine it shows scheduler noise, not the machine).  Ends with one
JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from agent.ui import Terminal

TXN = {"id": 1, "kind": "sale", "state": "approved", "amount": 12000, "currency": "156", "trace": 2, "batch": 1,
       "rrn": "000000000001", "auth_code": "007919", "response_code": "00", "pan_masked": "622609******0048",
       "created_at": 1_795_455_800.0, "batch_state": "settled"}
KEYS = ["3", "1", "2", "ENTER", "@lookup", "DOWN", "DOWN", "UP", "ENTER", "4", "0", "ENTER", "1", "2", "3", "4",
        "ENTER", "@refund", "DOWN", "ENTER"]
REPLIES = {"@lookup": {"ok": True, "result": {"transactions": [TXN]}},
           "@refund": {"ok": True, "outcome": {"status": "approved", "message": "Refund approved: 40.00 back to card "
                                               "622609******0048 (trace 000002; 80.00 still refundable).",
                                               "details": {}, "receipts": [{"merchant": "M", "customer": "C"}]}}}


def run(width: int, height: int, language: str, rounds: int) -> list[float]:
    times: list[float] = []
    for _ in range(rounds):
        terminal = Terminal(width, height, language)
        terminal.start()
        for key in KEYS:
            started = time.perf_counter()
            terminal.deliver(REPLIES[key]) if key.startswith("@") else terminal.press(key)
            times.append(time.perf_counter() - started)
        assert terminal.state == "idle"
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2000)
    args = parser.parse_args()
    figures = {"bench": "ui", "rounds": args.rounds, "keys_per_dialog": len(KEYS)}
    for width, height, language in ((21, 8, "en"), (16, 4, "zh")):
        times = sorted(run(width, height, language, args.rounds))
        p50, p99 = times[len(times) // 2] * 1e3, times[int(len(times) * 0.99)] * 1e3
        rate = len(times) / sum(times)
        name = f"{width}x{height}_{language}"
        print(f"{name}: {rate:,.0f} keys/s, p50 {p50:.3f} ms, p99 {p99:.3f} ms, mean "
              f"{statistics.fmean(times) * 1e3:.3f} ms per key with its frame (target p50 < 1 ms)")
        figures.update({f"{name}_keys_per_s": round(rate), f"{name}_p50_ms": round(p50, 4),
                        f"{name}_p99_ms": round(p99, 4)})
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
