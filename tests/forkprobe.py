"""A program for the fork server's tests: `main(argv)` does what argv says and reports on stdout."""

from __future__ import annotations

import os
import sys
import time

#: changed by a child; a later child must still see the server's value (each child has its own memory)
STATE = {"touched": False}


def main(argv: list[str]) -> int:
    what, *rest = argv
    if what == "echo":
        print(" ".join(rest), flush=True)
        print("on stderr", file=sys.stderr, flush=True)
        return 0
    if what == "exit":
        return int(rest[0])
    if what == "sysexit":
        sys.exit(int(rest[0]))
    if what == "raise":
        raise RuntimeError("the probe failed on purpose")
    if what == "sleep":
        print("sleeping", flush=True)
        time.sleep(float(rest[0]))
        return 0
    if what == "fds":  # what the child has open: only what it was handed
        print(" ".join(sorted(os.listdir("/proc/self/fd"), key=int)), flush=True)
        return 0
    if what == "whoami":
        print(os.getpid(), os.getppid(), os.getcwd(), " ".join(sys.argv[1:]), STATE["touched"], flush=True)
        STATE["touched"] = True
        return 0
    if what == "stdin":
        print(repr(sys.stdin.read()), flush=True)
        return 0
    return 2
