"""A fleet of concurrent simulated terminals doing sales against one `posim host` process.

    .venv/bin/python -m bench.host [--terminals 200] [--sales 50] [--drivers 2] [--long-sales 50000]
                                   [--sync normal|full] [--soak-ops 10000]

Phase 1 (throughput): each terminal opens its own TCP connection, signs on and builds all its MAC'd
sale frames; then, in the timed window, sends them one after another, each as soon as the last is
answered (`bench/fleet.py`: the driver only moves bytes in the window and checks every answer's code,
trace and MAC after it).  The terminals are spread over `--drivers` processes.  Prints messages/s
(sales answered per second of the window), sale latency p50/p99, errors, and whether the bank's
ledger holds exactly the money sent (and its running balances equal a full recomputation).

Phase 2 (constant cost): a fresh host takes `--long-sales` sales; the host process's own CPU time
(from /proc) per sale over the first and the last 10,000 is printed with their ratio (flat = 1.0).

With `--soak-ops N`, phase 3 runs the long soak of docs/chaos.md (`posim chaos --seed 20261124 --terminals 4`)
scaled to N operations and N/50 kills, and prints its operations per second (it takes minutes).

Also printed: the host's, the drivers' and the rest of the machine's CPU use against the wall clock
and which of them limited the figure (`limited_by`), the host's and the drivers' CPU per message, the
group commit's mean group size, and the machine's load average before and after (the machine may be
shared).  `python -m bench.hostprofile` runs phase 1 with the host under cProfile.  Ends with one JSON
line.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.fleet import AMOUNT, drive
from bench.proccpu import process_cpu
from simulator.stack import ROOT, Host

WINDOW = 10_000


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
    result["ledger_matches"] = check_ledger(host, args.terminals * args.sales * AMOUNT)
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
            first[0] = process_cpu(host.proc.pid)
        for mark in marks:
            if marks[mark] is None and count >= mark:
                marks[mark] = (count, process_cpu(host.proc.pid))

    try:
        result = drive(host, args.terminals, sales, args.drivers, progress)
        end = (total, process_cpu(host.proc.pid))
    finally:
        host.stop()
    (n1, c1), (n2, c2) = marks[WINDOW], marks[total - WINDOW]
    first_ms = (c1 - first[0]) / n1 * 1000
    last_ms = (end[1] - c2) / (end[0] - n2) * 1000
    return {"sales": total, "seconds": result["seconds"], "msgs_per_s": result["msgs_per_s"],
            "errors": result["errors"], "cpu_per_sale_first_ms": round(first_ms, 3),
            "cpu_per_sale_last_ms": round(last_ms, 3), "last_over_first": round(last_ms / first_ms, 2),
            "ledger_matches": check_ledger(host, total * AMOUNT)}


SOAK_SEED = 20261124  # the long soak of docs/chaos.md


def soak(ops: int) -> dict:
    """The long soak of docs/chaos.md (`posim chaos`, seed 20261124, 4 terminals), scaled to `ops` operations
    with one kill per 50: its operations per second."""
    kills = max(1, ops // 50)
    cmd = [sys.executable, "-m", "simulator.cli", "chaos", "--seed", str(SOAK_SEED), "--ops", str(ops), "--kills",
           str(kills), "--checkpoint-every", str(min(5000, ops)), "--terminals", "4", "--json", "--no-reduce"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    lines = proc.stdout.strip().splitlines()
    try:
        summary = json.loads(lines[-1])
    except (IndexError, ValueError):
        return {"ops": ops, "kills": kills, "error": f"posim chaos exited {proc.returncode} without a summary: "
                                                     f"{proc.stderr.strip().splitlines()[-1:]}"}
    return {"ops": ops, "kills": kills, "seconds": summary["elapsed_s"], "ops_per_s": summary["ops_per_s"],
            "violations": len(summary["violations"])}


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench.host")
    parser.add_argument("--terminals", type=int, default=200)
    parser.add_argument("--sales", type=int, default=50)
    parser.add_argument("--drivers", type=int, default=2, help="driver processes sharing the terminals")
    parser.add_argument("--long-sales", type=int, default=50_000, help="phase 2 size (0: skip)")
    parser.add_argument("--sync", choices=("normal", "full"), default="normal", help="the host's ledger sync")
    parser.add_argument("--soak-ops", type=int, default=0,
                        help="also run the long soak scaled to this many operations and print its ops/s (0: skip)")
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
              f"{result['drivers_cpu_share']:.0%} (busiest {result['busiest_driver_cpu_share']:.0%}), other work "
              f"{result['others_cpu_share']:.0%}; CPU per message: host {result['host_cpu_per_msg_ms']} ms, drivers "
              f"{result['driver_cpu_per_msg_ms']} ms; group commit {result['group_commit']}")
        print(f"limited by: {result['limited_by']}")
        if args.long_sales:
            long = constant_cost(Path(tmp), args)
            result["long"] = long
            print(f"{long['sales']} sales: host CPU per sale, first {WINDOW}: {long['cpu_per_sale_first_ms']} ms, "
                  f"last {WINDOW}: {long['cpu_per_sale_last_ms']} ms (ratio {long['last_over_first']}); "
                  f"{long['msgs_per_s']} msgs/s; errors {long['errors']}; ledger matches: {long['ledger_matches']}")
    if args.soak_ops:
        result["soak"] = soak(args.soak_ops)
        print(f"soak (posim chaos --seed {SOAK_SEED} --terminals 4): {result['soak']}")
    result["sync"] = args.sync
    result["load_avg_before_after"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    result["cpus"] = os.cpu_count()
    print(f"machine: {os.cpu_count()} CPUs, 1-minute load average {result['load_avg_before_after'][0]} before, "
          f"{result['load_avg_before_after'][1]} after")
    print(json.dumps({"bench": "host", **result}))
    ok = (not result["errors"] and result["ledger_matches"] and not result.get("long", {}).get("errors")
          and not result.get("soak", {}).get("error") and not result.get("soak", {}).get("violations"))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
