"""Where the acquirer simulator's CPU goes per message: `bench.host`'s throughput phase with the host
process under cProfile.

    .venv/bin/python -m bench.hostprofile [--terminals 200] [--sales 50] [--drivers 2] [--top 30]
                                          [--out host.prof] [--sync normal|full]

Starts `posim host` inside cProfile (CPU time, so waiting for the disk or the terminals does not
show), drives it with the same fleet as `bench.host` (every frame built before the timed window),
stops it with SIGTERM (it shuts down cleanly and the profile is written), and prints the `--top`
functions by own time and by cumulative time, plus the profiled CPU per message.  cProfile slows
Python code down by roughly 2×: read shares, not milliseconds; `bench.host` gives the real figure.
The raw profile stays in `--out` for `python -m pstats` or snakeviz.  Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.fleet import drive
from simulator.stack import ROOT, Host, StackError, stop_process


def child(out: str, host_args: list[str]) -> int:
    """`posim host` under cProfile until SIGTERM, then the profile is dumped."""
    from simulator.cli import main as posim_main

    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    try:
        code = posim_main(["host", *host_args])
    finally:
        profiler.disable()
        profiler.dump_stats(out)
    return code or 0


def start_profiled(directory: Path, out: Path, sync: str) -> Host:
    db = directory / "host-ledger.db"
    proc = subprocess.Popen([sys.executable, "-m", "bench.hostprofile", "--child", str(out), "--", "--port", "0",
                             "--control-port", "0", "--db", str(db), "--sync", sync],
                            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    line = proc.stdout.readline()
    if not line.startswith("posim host listening on "):
        stop_process(proc)
        raise StackError(f"posim host did not start under the profiler: {line.strip()!r}")
    words = line.split()
    return Host(proc, int(words[4].rsplit(":", 1)[1]), int(words[6].rsplit(":", 1)[1]), db)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return child(argv[1], argv[3:])
    parser = argparse.ArgumentParser(prog="bench.hostprofile", description=__doc__.splitlines()[0])
    parser.add_argument("--terminals", type=int, default=200)
    parser.add_argument("--sales", type=int, default=50)
    parser.add_argument("--drivers", type=int, default=2)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--out", default="host.prof")
    parser.add_argument("--sync", choices=("normal", "full"), default="normal")
    args = parser.parse_args(argv)
    out = Path(args.out).resolve()
    with tempfile.TemporaryDirectory(prefix="bench-hostprofile-") as tmp:
        host = start_profiled(Path(tmp), out, args.sync)
        try:
            result = drive(host, args.terminals, args.sales, args.drivers)
        finally:
            host.proc.send_signal(signal.SIGTERM)
            host.proc.wait(60)
            stop_process(host.proc)
    stats = pstats.Stats(str(out))
    stats.sort_stats("tottime").print_stats(args.top)
    stats.sort_stats("cumulative").print_stats(args.top)
    per_msg = stats.total_tt / max(result["messages"], 1) * 1000
    print(f"{result['messages']} sales, {result['errors']} errors; profiled host CPU {stats.total_tt:.2f} s "
          f"= {per_msg:.3f} ms per message (sign-ons and start-up included; cProfile's own cost included)")
    print(json.dumps({"bench": "hostprofile", "messages": result["messages"], "errors": result["errors"],
                      "profiled_cpu_s": round(stats.total_tt, 3), "profiled_ms_per_msg": round(per_msg, 3),
                      "profile": str(out)}))
    return 0 if not result["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
