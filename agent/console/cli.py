"""`posagent console --port DEVICE [--baudrate N]`: the technician's serial console."""

from __future__ import annotations

import argparse
import signal
import threading

from agent.config import load_for_command
from agent.errors import UsageError
from agent.logsetup import setup_logging


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("console", help="the technician's serial console (login, status, settings, journal)")
    p.add_argument("--port", metavar="DEVICE", help="serial device, e.g. /dev/ttyUSB0 (default: [console] port)")
    p.add_argument("--baudrate", type=int, metavar="N", help="serial speed (default: [console] baudrate)")
    p.add_argument("--idle-timeout", type=float, metavar="SECONDS",
                   help="log out after this many idle seconds (default: [console] idle_timeout_minutes)")
    p.set_defaults(handler=_console)


def _console(args: argparse.Namespace) -> int:
    from agent.console.app import build_session
    from agent.console.driver import open_port, serve
    from agent.control_client import ControlClient

    cfg = load_for_command(args)
    device = args.port or cfg.console.port
    if not device:
        raise UsageError("no serial port: give --port DEVICE or set [console] port")
    baudrate = args.baudrate or cfg.console.baudrate
    if not 300 <= baudrate <= 4_000_000:
        raise UsageError(f"--baudrate must be from 300 to 4000000, not {baudrate}")
    if args.idle_timeout is not None and not args.idle_timeout > 0:
        raise UsageError("--idle-timeout must be more than 0 seconds")
    setup_logging(cfg.daemon.log_level, cfg.daemon.log_file)
    client = ControlClient(cfg.path("daemon", "control_socket"), timeout=120.0, source="console")
    session = build_session(cfg, client, idle_timeout_s=args.idle_timeout)
    port = open_port(device, baudrate)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    print(f"posagent console on {device} at {baudrate} baud", flush=True)
    try:
        serve(port, session, stop=stop)
    finally:
        port.close()
    return 0
