"""Where the daemon's CPU goes during sales: the engine benchmark's workload under cProfile.

    .venv/bin/python -m bench.profile [--sales 2000] [--top 30] [--out daemon.prof]

Starts the acquirer simulator and the daemon (the daemon inside cProfile, in its own process), runs
`--sales` sales through the control API exactly as `bench.engine` does, stops the daemon (SIGTERM: it
shuts down cleanly and the profile is written) and prints the `--top` functions by own time and by
cumulative time.  The raw profile stays in `--out` for `python -m pstats` or snakeviz.  cProfile
slows Python code down by roughly 2×, so read shares, not milliseconds; it counts CPU time
(`time.process_time`), so waiting for fsync or the host does not show.  Ends with one JSON line.
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

from agent.control_client import ControlClient
from bench.engine import ROOT, quiet_config, sales
from tests.simhost import start_host


def child(config: str, out: str) -> int:
    """The daemon, profiled: `agent run` until SIGTERM, then the profile is dumped."""
    from agent.cli import main as agent_main

    profiler = cProfile.Profile(time.process_time)  # CPU, not wall time: fsync and host waits are not ours
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    profiler.enable()
    try:
        code = agent_main(["--config", config, "run"])
    except KeyboardInterrupt:
        code = 0
    profiler.disable()
    profiler.dump_stats(out)
    return code or 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sales", type=int, default=2000)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--out", default="daemon.prof")
    parser.add_argument("--child", nargs=2, metavar=("CONFIG", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(*args.child)
    out = Path(args.out).resolve()
    with tempfile.TemporaryDirectory(prefix="posagent-profile-") as tmp:
        work = Path(tmp)
        host = start_host(work)
        try:
            config = quiet_config(work, host.port)
            proc = subprocess.Popen([sys.executable, "-m", "bench.profile", "--child", str(config), str(out)],
                                    cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL, text=True)
            line = proc.stdout.readline()
            if not line.startswith("posagent ready"):
                raise SystemExit(f"daemon did not start: {line!r}")
            client = ControlClient(work / "control.sock")
            sales(client, 20, 0)
            sales(client, args.sales, 20)
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
            proc.stdout.close()
        finally:
            host.stop()
    stats = pstats.Stats(str(out))
    stats.sort_stats("tottime").print_stats(args.top)
    stats.sort_stats("cumulative").print_stats(args.top)
    print(json.dumps({"bench": "profile", "sales": args.sales, "profile": str(out),
                      "total_s": round(stats.total_tt, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
