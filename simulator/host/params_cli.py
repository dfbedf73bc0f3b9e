"""`posim host params`: the chip parameters and CA keys a running simulator serves to terminals.

    posim host params show
    posim host params publish --floor-limit 50000 [--aid A0000003330101 ...] [--terminal TID]
    posim host params rotate --key-file ca_keys.toml [--terminal TID]   # publish every key of the file
    posim host params revoke A000000333/08 [--terminal TID]
    posim host params corrupt checksum|modulus-length|aid-range|none    # serve a malformed set (tests)
    posim host params page 2                                            # at most 2 entries per list answer

Each change raises the version the next sign-on announces; the terminal downloads what is newer.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from agent.errors import ConfigError, UsageError
from simulator.host import control
from simulator.host.params import CORRUPTIONS


def register(actions: argparse._SubParsersAction[argparse.ArgumentParser], default_control_port: int) -> None:
    params = actions.add_parser("params", help="chip parameters and CA keys served to terminals (publish, rotate, "
                                               "revoke, corrupt, show)")
    sub = params.add_subparsers(dest="params_command", metavar="ACTION")
    sub.required = True
    show = sub.add_parser("show", help="the published sets, their versions and each terminal's last status upload")
    publish = sub.add_parser("publish", help="publish a new IC card parameter set (per AID)")
    publish.add_argument("--aid", action="append", dest="aids", metavar="AID",
                         help="an application (repeatable; default the UnionPay debit, credit, quasi-credit AIDs)")
    for name, kind in (("floor-limit", int), ("threshold", int), ("target-percent", int),
                       ("max-target-percent", int), ("tac-default", str), ("tac-online", str), ("tac-denial", str),
                       ("app-version", str), ("default-ddol", str)):
        publish.add_argument(f"--{name}", type=kind)
    rotate = sub.add_parser("rotate", help="publish the CA keys of a key file (the terminal's [[key]] format)")
    rotate.add_argument("--key-file", required=True, metavar="FILE")
    revoke = sub.add_parser("revoke", help="withdraw a CA key: RID/INDEX, e.g. A000000333/08")
    revoke.add_argument("key")
    corrupt = sub.add_parser("corrupt", help="serve a malformed set from now on (none: serve it right again)")
    corrupt.add_argument("kind", choices=(*CORRUPTIONS, "none"))
    page = sub.add_parser("page", help="at most N entries per list answer, so the lists come in pages "
                                       "(full: as many as fit one answer)")
    page.add_argument("entries", metavar="N|full")
    for p in (show, publish, rotate, revoke, corrupt):
        p.add_argument("--terminal", metavar="TID", help="only this terminal (default: every terminal)")
        p.add_argument("--control", default=f"127.0.0.1:{default_control_port}", metavar="HOST:PORT",
                       help=f"the simulator's control port (default 127.0.0.1:{default_control_port})")
        p.set_defaults(handler=lambda a: _run(a, default_control_port))
    page.add_argument("--control", default=f"127.0.0.1:{default_control_port}", metavar="HOST:PORT",
                      help=f"the simulator's control port (default 127.0.0.1:{default_control_port})")
    page.set_defaults(handler=lambda a: _run(a, default_control_port), terminal=None)


def _run(args: argparse.Namespace, default_port: int) -> int:
    address = control.parse_address(args.control, default_port)
    base = {"op": "params", "action": args.params_command, "terminal": args.terminal}
    if args.params_command == "publish":
        values = {k: getattr(args, k) for k in ("floor_limit", "threshold", "target_percent", "max_target_percent",
                                                 "tac_default", "tac_online", "tac_denial", "app_version",
                                                 "default_ddol")}
        requests = [{**base, "aids": args.aids, **values}]
    elif args.params_command == "rotate":
        requests = [{**base, "key": key} for key in _file_keys(args.key_file)]
    elif args.params_command == "revoke":
        requests = [{**base, "key": args.key}]
    elif args.params_command == "page":
        if args.entries != "full" and not (args.entries.isdigit() and int(args.entries) >= 1):
            raise UsageError(f"page takes a number of entries from 1 or 'full', not {args.entries!r}")
        requests = [{"op": "params", "action": "page",
                     "entries": None if args.entries == "full" else int(args.entries)}]
    elif args.params_command == "corrupt":
        requests = [{**base, "kind": None if args.kind == "none" else args.kind}]
    else:
        requests = [base]
    answer: dict[str, Any] = {}
    for request in requests:
        answer = control.call(address, request)
    answer.pop("ok", None)
    print(json.dumps(answer, sort_keys=True))
    return 0


def _file_keys(path: str) -> list[dict[str, Any]]:
    """The keys of a CA key file, checked as the terminal checks it."""
    from agent.emv.oda import load_ca_keys, set_entries

    try:
        keys, _ = set_entries(load_ca_keys(path))
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    if not keys:
        raise UsageError(f"{path}: no [[key]] in it")
    return [{"rid": k["rid"], "index": f"{k['index']:02X}", "modulus": k["modulus"], "exponent": k["exponent"],
             "expiry": k["expiry"]} for k in keys]
