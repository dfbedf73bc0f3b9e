"""200 concurrent simulated terminals doing sales against one `posim host` process.

    .venv/bin/python -m bench.host [--terminals 200] [--sales 20]

Each terminal signs on through its own HostLink (its own TCP connection), then sends MAC'd sales one
after another.  Prints throughput (messages/s), latency percentiles and errors; ends with one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

from agent.drivers.hostlink import HostLink, LinkError
from agent.keystore import SoftwareKeyStore
from agent.netmgmt import apply_signon_response, build_signon
from simulator.testcards import load_cards
from tests.simhost import CUP, DEFAULT_TMK, HEADER, TPDU, sale, start_host, terminal_config


async def terminal(port: int, index: int, sales: int, latencies: list[float], errors: list[str]) -> None:
    tid = f"9{index:07d}"
    cfg = terminal_config(tid)
    link = HostLink("127.0.0.1", port, dialect=CUP, tpdu=TPDU, header=HEADER, connect_timeout=30,
                    response_timeout=30)
    keys = SoftwareKeyStore(DEFAULT_TMK)
    card = load_cards()["credit"]
    try:
        request = build_signon(cfg, 1)
        batch = apply_signon_response(request, await link.exchange(request), keys).batch_number
        for n in range(sales):
            msg = keys.sign(CUP, sale(card, 100, n + 2, tid=tid, batch=batch))
            start = time.perf_counter()
            answer = await link.exchange(msg)
            latencies.append(time.perf_counter() - start)
            if answer.get(39) != "00" or not keys.verify_mac(CUP, answer):
                errors.append(f"{tid}: answer {answer.get(39)}")
    except LinkError as exc:
        errors.append(f"{tid}: {exc}")
    finally:
        await link.close()


async def run(port: int, terminals: int, sales: int) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    start = time.perf_counter()
    await asyncio.gather(*(terminal(port, i, sales, latencies, errors) for i in range(terminals)))
    elapsed = time.perf_counter() - start
    messages = terminals * (sales + 1)
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return {"terminals": terminals, "sales_per_terminal": sales, "messages": messages, "seconds": round(elapsed, 2),
            "msgs_per_s": round(messages / elapsed, 1), "sale_p50_ms": round(q[49] * 1000, 2),
            "sale_p99_ms": round(q[98] * 1000, 2), "errors": len(errors), "first_error": errors[0] if errors else None}


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench.host")
    parser.add_argument("--terminals", type=int, default=200)
    parser.add_argument("--sales", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-host-") as tmp:
        host = start_host(Path(tmp))
        try:
            result = asyncio.run(run(host.port, args.terminals, args.sales))
            ledger = host.ledger()
        finally:
            host.stop()
    # every sale is 1.00 on the credit card: the bank's ledger must hold exactly that many
    expected = args.terminals * args.sales * 100
    result["ledger_matches"] = ledger["cards"].get("credit", {}).get("net_charged") == expected
    print(f"{result['terminals']} terminals x {result['sales_per_terminal']} sales: {result['messages']} messages "
          f"in {result['seconds']}s = {result['msgs_per_s']} msgs/s")
    print(f"sale latency p50 {result['sale_p50_ms']} ms, p99 {result['sale_p99_ms']} ms; errors {result['errors']}; "
          f"ledger matches: {result['ledger_matches']}")
    print(json.dumps({"bench": "host", **result}))
    return 0 if not result["errors"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
