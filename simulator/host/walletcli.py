"""`posim wallet`: one-time payment codes for the simulator's test payers, and what the wallets hold.

    posim wallet issue alice [--confirm 5|never|late] [--db host.db]   # prints a fresh code (60 s, once)
    posim wallet payers                                                 # the test payers and their balances
    posim wallet codes [--payer NAME] [--db host.db] [--json]           # issued codes, masked
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone

from simulator.host.cli import DEFAULT_DB


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    wallet = sub.add_parser("wallet", help="issue one-time wallet payment codes for test payers")
    actions = wallet.add_subparsers(dest="wallet_command", metavar="ACTION")
    actions.required = True
    issue = actions.add_parser("issue", help="a fresh payment code for a test payer (valid 60 s, usable once)")
    issue.add_argument("payer", help="test payer name (posim wallet payers)")
    issue.add_argument("--confirm", help="seconds the customer takes to confirm on the phone, 'never' or 'late' "
                                         "(default: the payer's own)")
    issue.add_argument("--db", default=DEFAULT_DB, help=f"the host's ledger SQLite file (default {DEFAULT_DB})")
    issue.add_argument("--json", action="store_true", help="print JSON")
    issue.set_defaults(handler=_issue)
    payers = actions.add_parser("payers", help="the test payers: wallet, balance, how they confirm")
    payers.add_argument("--json", action="store_true", help="print JSON")
    payers.set_defaults(handler=_payers)
    codes = actions.add_parser("codes", help="codes issued so far (masked), used or not")
    codes.add_argument("--payer", help="only this payer")
    codes.add_argument("--db", default=DEFAULT_DB, help=f"the host's ledger SQLite file (default {DEFAULT_DB})")
    codes.add_argument("--json", action="store_true", help="print JSON")
    codes.set_defaults(handler=_codes)


def _issue(args: argparse.Namespace) -> int:
    from simulator.host.ledger import Ledger
    from simulator.host.wallet import CODE_LIFETIME, WalletHost

    ledger = Ledger(args.db)
    try:
        code = WalletHost(ledger).issue_code(args.payer, datetime.now(timezone.utc), confirm=args.confirm)
    finally:
        ledger.close()
    if args.json:
        print(json.dumps({"payer": args.payer, "code": code, "valid_seconds": CODE_LIFETIME}))
    else:
        print(code)
    return 0


def _payers(args: argparse.Namespace) -> int:
    from simulator.host.wallet import load_payers

    payers = load_payers()
    if args.json:
        print(json.dumps({p.name: p.__dict__ for p in payers.values()}, indent=2))
        return 0
    for p in payers.values():
        print(f"{p.name:8} {p.wallet:9} balance {p.balance / 100:>12.2f}  confirm {p.confirm:6} {p.behaviour}")
    return 0


def _codes(args: argparse.Namespace) -> int:
    from simulator.host.ledger import Ledger
    from simulator.host.wallet import WalletHost, issued_codes

    ledger = Ledger(args.db)
    try:
        WalletHost(ledger)
        rows = issued_codes(ledger, args.payer)
    finally:
        ledger.close()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        print(f"{r['issued_at']}  {r['payer']:8} {r['masked_code']:26} confirm {r['confirm']:6} "
              f"{'used ' + r['used_at'] if r['used_at'] else 'unused'}")
    return 0
