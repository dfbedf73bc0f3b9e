"""A fleet of concurrent simulated terminals doing sales against one `posim host` process.

    .venv/bin/python -m bench.host [--terminals 200] [--sales 50] [--drivers 3] [--long-sales 50000]
                                   [--sync normal|full]

Phase 1 (throughput): each terminal opens its own TCP connection, signs on, then sends MAC'd sales one
after another; the terminals are spread over `--drivers` processes so the driver is not the bottleneck.
Prints messages/s, sale latency p50/p99, errors, and whether the bank's ledger holds exactly the money
sent (and its running balances equal a full recomputation).

Phase 2 (constant cost): a fresh host takes `--long-sales` sales; the host process's own CPU time
(from /proc) per sale over the first and the last 10,000 is printed with their ratio (flat = 1.0).

Also printed: the host's and the drivers' CPU use against the wall clock (which of them limited the
figure), the group commit's mean group size, and the machine's load average before and after (the
machine may be shared).  Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import statistics
import tempfile
import time
from pathlib import Path

from simulator.stack import Host

TICK = os.sysconf("SC_CLK_TCK")
WINDOW = 10_000


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


async def _terminal(port: int, index: int, sales: int, latencies: list[float], errors: list[str], done) -> None:
    from agent import config
    from agent.keystore import SoftwareKeyStore
    from agent.netmgmt import apply_signon_response, build_signon
    from simulator.testcards import load_cards
    from tests.simhost import CUP, DEFAULT_TMK, HEADER, TPDU, sale

    tid = f"9{index:07d}"
    keys = SoftwareKeyStore(DEFAULT_TMK)
    card = load_cards()["credit"]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError as exc:
        errors.append(f"{tid}: connect: {exc}")
        return

    async def exchange(msg):
        writer.write(CUP.pack_frame(msg, TPDU, HEADER))
        prefix = await reader.readexactly(2)
        return CUP.unpack_frame(await reader.readexactly(CUP.frame_length(prefix))).message

    try:
        request = build_signon(config.from_mapping({"terminal": {"terminal_id": tid}}), 1)
        batch = apply_signon_response(request, await exchange(request), keys).batch_number
        for n in range(sales):
            msg = keys.sign(CUP, sale(card, 100, n + 2, tid=tid, batch=batch))
            start = time.perf_counter()
            answer = await exchange(msg)
            latencies.append(time.perf_counter() - start)
            with done.get_lock():
                done.value += 1
            if answer.get(39) != "00" or not keys.verify_mac(CUP, answer):
                errors.append(f"{tid} stan {n + 2}: answer {answer.get(39)}")
    except (OSError, asyncio.IncompleteReadError) as exc:
        errors.append(f"{tid}: {exc!r}")
    finally:
        writer.close()


def _driver(port: int, indexes: list[int], sales: int, done, start_at, out) -> None:
    """One driver process: its share of the terminals, all at once on one event loop."""
    latencies: list[float] = []
    errors: list[str] = []

    async def main():
        while time.time() < start_at:  # every driver starts together
            await asyncio.sleep(0.005)
        await asyncio.gather(*(_terminal(port, i, sales, latencies, errors, done) for i in indexes))

    asyncio.run(main())
    out.put((latencies, errors, time.process_time()))


def drive(host: Host, terminals: int, sales: int, drivers: int, on_progress=None) -> dict:
    ctx = mp.get_context("spawn")
    done = ctx.Value("q", 0)
    out = ctx.Queue()
    start_at = time.time() + 1.5  # time for the spawned drivers to import
    shares = [list(range(d, terminals, drivers)) for d in range(drivers)]
    procs = [ctx.Process(target=_driver, args=(host.port, share, sales, done, start_at, out)) for share in shares]
    for p in procs:
        p.start()
    while time.time() < start_at:
        time.sleep(0.001)
    host_cpu0, wall0 = cpu_seconds(host.proc.pid), time.perf_counter()
    results = []
    while len(results) < len(procs):
        if on_progress is not None:
            on_progress(done.value)
        try:
            results.append(out.get(timeout=0.01))
        except Exception:  # queue.Empty
            pass
    elapsed = time.perf_counter() - wall0
    host_cpu = cpu_seconds(host.proc.pid) - host_cpu0
    for p in procs:
        p.join()
    latencies = [x for r in results for x in r[0]]
    errors = [x for r in results for x in r[1]]
    driver_cpu = sum(r[2] for r in results)
    messages = terminals * (sales + 1)
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return {"terminals": terminals, "sales_per_terminal": sales, "drivers": drivers, "messages": messages,
            "seconds": round(elapsed, 2), "msgs_per_s": round(messages / elapsed, 1),
            "sale_p50_ms": round(q[49] * 1000, 2), "sale_p99_ms": round(q[98] * 1000, 2), "errors": len(errors),
            "first_error": errors[0] if errors else None,
            "host_cpu_share": round(host_cpu / elapsed, 2), "drivers_cpu_share": round(driver_cpu / elapsed, 2),
            "host_cpu_per_msg_ms": round(host_cpu / messages * 1000, 3)}


def check_ledger(host: Host, expected: int) -> bool:
    """The bank holds exactly the money sent, and its running balances equal a full recomputation."""
    from simulator.host.ledger import Ledger

    ledger = Ledger(host.db)
    try:
        report = ledger.net_report()
        running = getattr(ledger, "verify_balances", None)  # absent on a host from before running balances
        return (report["cards"].get("credit", {}).get("net_charged") == expected
                and ledger.card_net_charged("credit") == expected and not (running and running()))
    finally:
        ledger.close()


def _host_args(args) -> list[str]:
    return args.host_args.split() if args.host_args is not None else ["--sync", args.sync]


def throughput(tmp: Path, args) -> dict:
    (tmp / "throughput").mkdir()
    host = Host.start(tmp / "throughput", *_host_args(args))
    try:
        result = drive(host, args.terminals, args.sales, args.drivers)
        result["group_commit"] = host.control(op="stats").get("group_commit")
    finally:
        host.stop()
    result["ledger_matches"] = check_ledger(host, args.terminals * args.sales * 100)
    return result


def constant_cost(tmp: Path, args) -> dict:
    (tmp / "long").mkdir()
    host = Host.start(tmp / "long", *_host_args(args))
    total = args.long_sales
    sales = -(-total // args.terminals)
    total = sales * args.terminals
    marks = {WINDOW: None, total - WINDOW: None}
    first = [None]

    def progress(count: int) -> None:
        if first[0] is None:
            first[0] = cpu_seconds(host.proc.pid)
        for mark in marks:
            if marks[mark] is None and count >= mark:
                marks[mark] = (count, cpu_seconds(host.proc.pid))

    try:
        result = drive(host, args.terminals, sales, args.drivers, progress)
        end = (total, cpu_seconds(host.proc.pid))
    finally:
        host.stop()
    (n1, c1), (n2, c2) = marks[WINDOW], marks[total - WINDOW]
    # the first window includes the sign-ons (one per terminal) — as the last includes nothing else
    first_ms = (c1 - first[0]) / n1 * 1000
    last_ms = (end[1] - c2) / (end[0] - n2) * 1000
    return {"sales": total, "seconds": result["seconds"], "msgs_per_s": result["msgs_per_s"],
            "errors": result["errors"], "cpu_per_sale_first_ms": round(first_ms, 3),
            "cpu_per_sale_last_ms": round(last_ms, 3), "last_over_first": round(last_ms / first_ms, 2),
            "ledger_matches": check_ledger(host, total * 100)}


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench.host")
    parser.add_argument("--terminals", type=int, default=200)
    parser.add_argument("--sales", type=int, default=50)
    parser.add_argument("--drivers", type=int, default=3, help="driver processes sharing the terminals")
    parser.add_argument("--long-sales", type=int, default=50_000, help="phase 2 size (0: skip)")
    parser.add_argument("--sync", choices=("normal", "full"), default="normal", help="the host's ledger sync")
    parser.add_argument("--host-args", default=None, help=argparse.SUPPRESS)  # e.g. "" for a host without --sync
    args = parser.parse_args()
    if args.long_sales and args.long_sales < 2 * WINDOW:
        parser.error(f"--long-sales must be 0 or at least {2 * WINDOW}")
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-host-") as tmp:
        result = throughput(Path(tmp), args)
        print(f"{result['terminals']} terminals x {result['sales_per_terminal']} sales ({args.drivers} driver "
              f"processes, ledger sync {args.sync}): {result['messages']} messages in {result['seconds']}s = "
              f"{result['msgs_per_s']} msgs/s")
        print(f"sale latency p50 {result['sale_p50_ms']} ms, p99 {result['sale_p99_ms']} ms; errors "
              f"{result['errors']}; ledger matches: {result['ledger_matches']}")
        print(f"CPU against the wall clock: host {result['host_cpu_share']:.0%}, drivers "
              f"{result['drivers_cpu_share']:.0%}; host CPU per message {result['host_cpu_per_msg_ms']} ms; "
              f"group commit {result['group_commit']}")
        if args.long_sales:
            long = constant_cost(Path(tmp), args)
            result["long"] = long
            print(f"{long['sales']} sales: host CPU per sale, first {WINDOW}: {long['cpu_per_sale_first_ms']} ms, "
                  f"last {WINDOW}: {long['cpu_per_sale_last_ms']} ms (ratio {long['last_over_first']}); "
                  f"{long['msgs_per_s']} msgs/s; errors {long['errors']}; ledger matches: {long['ledger_matches']}")
    result["sync"] = args.sync
    result["load_avg_before_after"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    result["cpus"] = os.cpu_count()
    print(f"machine: {os.cpu_count()} CPUs, 1-minute load average {result['load_avg_before_after'][0]} before, "
          f"{result['load_avg_before_after'][1]} after")
    print(json.dumps({"bench": "host", **result}))
    ok = not result["errors"] and result["ledger_matches"] and not result.get("long", {}).get("errors")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
