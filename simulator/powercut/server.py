"""The power-cut filesystem's process: mounts it, answers its control socket, remounts after a cut.

    python -m simulator.powercut.server BACKING TRASH MOUNTPOINT CONTROL_SOCKET

Control requests are one JSON object per line, answered with one JSON line:
  {"op": "cut", "tear": 0}        forget every unsynced change (tear: keep that many sectors of the last
                                  write); the filesystem answers EIO until it is unmounted and mounted again
  {"op": "fail", "call": "write", "nth": 3, "error": "EIO", "sticky": false}   arm one storage fault
                                  (error CUT: cut the power just before that call, "tear" as above)
  {"op": "wait_cut", "after": 3, "timeout": 30}   answer once more than `after` cuts happened (or
                                  at the timeout): {"cuts": N, "cut": true|false}
  {"op": "clear"}                 disarm it       {"op": "stats"}   call counts, unsynced files, mounts
  {"op": "stop"}                  do not mount again after the next unmount
"""

from __future__ import annotations

import json
import logging
import os
import socketserver
import sys
import threading
from pathlib import Path
from typing import Any

from mfusepy import FUSE

from simulator.powercut.fs import Fault, PowercutFS


def handle(fs: PowercutFS, request: dict[str, Any], state: dict[str, bool]) -> dict[str, Any]:
    op = request.get("op")
    if op == "cut":
        return {"ok": True, **fs.cut(int(request.get("tear") or 0))}
    if op == "fail":
        try:
            fault = Fault(request.get("call", "any"), request.get("nth", 1), request.get("error", "EIO"),
                          bool(request.get("sticky")), int(request.get("tear") or 0))
        except ValueError as exc:
            return {"ok": False, "error": str(exc)}
        with fs.mutex:
            fs.fault = fault
            return {"ok": True, "cuts": fs.cuts}
    if op == "clear":
        with fs.mutex:
            fired = fs.fault.fired if fs.fault else 0
            fs.fault = None
        return {"ok": True, "fired": fired}
    if op == "wait_cut":
        after, timeout = request.get("after"), request.get("timeout", 30)
        if not isinstance(after, int) or not isinstance(timeout, (int, float)) or not 0 <= timeout <= 600:
            return {"ok": False, "error": "wait_cut needs after (a cut count) and timeout (0 to 600 seconds)"}
        cuts = fs.wait_cut(after, float(timeout))
        return {"ok": True, "cuts": cuts, "cut": cuts > after}
    if op == "stats":
        return {"ok": True, **fs.stats()}
    if op == "stop":
        state["stop"] = True
        return {"ok": True}
    return {"ok": False, "error": f"unknown control op {op!r}: expected cut, fail, wait_cut, clear, stats or stop"}


def serve(backing: Path, trash: Path, mountpoint: Path, control: Path) -> None:
    fs = PowercutFS(backing, trash)
    state = {"stop": False}

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            for line in self.rfile:
                try:
                    reply = handle(fs, json.loads(line), state)
                except (ValueError, TypeError, OSError) as exc:
                    reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
                self.wfile.write(json.dumps(reply).encode() + b"\n")
                self.wfile.flush()

    server = socketserver.ThreadingUnixStreamServer(str(control), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        while not state["stop"]:
            # single-threaded: calls are counted (and faults fire) in the order the kernel sends them
            FUSE(fs, str(mountpoint), foreground=True, nothreads=True, fsname="powercut")
    finally:
        server.shutdown()
        os.unlink(control)


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    logging.basicConfig(level=os.environ.get("POWERCUT_LOG", "ERROR"))
    serve(*(Path(a) for a in argv))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
