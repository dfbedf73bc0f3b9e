"""`make bench` / `python -m bench [NAME ...]`: run the benchmarks one after another (each in its own
process, so one's memory and threads do not colour the next) and collect their JSON lines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ALL = ("codec", "journal", "engine", "host", "card", "ui", "keypresses", "console", "reconcile", "wallet", "powercut",
       "office", "footprint", "office_reconcile", "office_web")


def main(argv: list[str]) -> int:
    names = argv or list(ALL)
    unknown = [n for n in names if n not in ALL]
    if unknown:
        print(f"bench: unknown benchmark {', '.join(unknown)} (known: {', '.join(ALL)})", file=sys.stderr)
        return 2
    results, failed = [], []
    for name in names:
        print(f"\n### bench.{name}", flush=True)
        proc = subprocess.run([sys.executable, "-m", f"bench.{name}"], cwd=Path(__file__).resolve().parent.parent,
                              text=True, capture_output=True)
        print(proc.stdout, end="")
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr, end="")
            failed.append(name)
            continue
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    print("\n### summary")
    for result in results:
        print(json.dumps(result))
    if failed:
        print(f"bench: failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
