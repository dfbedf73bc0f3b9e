"""The operator commands' answers for people: a registry row's `cli.show` names one of these printers
(`agent.daemon.commands` calls it with the parsed arguments, the configuration and the daemon's reply; --json
prints the reply itself).  Each returns the command's exit status."""

from __future__ import annotations

import argparse
from functools import partial
from typing import Any, Callable, Mapping, Sequence

from agent.auth import SOURCES, clock_time
from agent.config import Config
from agent.daemon.exits import EXIT_DECLINED, EXIT_OPEN
from agent.localtime import local_time
from agent.money import format_amount

#: a printer of this module: the parsed arguments, the configuration, the daemon's reply → the exit status
Printer = Callable[[argparse.Namespace, Config, Mapping[str, Any]], int]


def show_message(args: argparse.Namespace, cfg: Config, reply: Mapping[str, Any]) -> int:
    print(reply["result"]["message"])
    return 0


def show_duplicates(args: argparse.Namespace, cfg: Config, reply: Mapping[str, Any]) -> int:
    groups = reply["result"]["groups"]
    if not groups and not reply["result"].get("holds"):
        print("no suspected duplicates")
    for group in groups:
        first = group[0]
        print(f"card {first['pan_masked']}, {format_amount(first['amount'], cfg.terminal.currency_exponent)} "
              f"charged {len(group)} times:")
        rows = [(f"id {t['id']}", f"trace {t['trace']:06d}", f"batch {t['batch']:06d}", t["state"],
                 f"rrn {t['rrn'] or '-'}") for t in group]
        for line in table(rows):
            print(f"  {line}")
        print(f"  fix with: posagent duplicates --fix {group[-1]['id']}")
    for group in reply["result"].get("holds") or ():  # a stay held twice (预授权)
        first = group[0]
        print(f"card {first['pan_masked']}, {format_amount(first['amount'], cfg.terminal.currency_exponent)} "
              f"held {len(group)} times (open pre-auths):")
        for t in group:
            print(f"  id {t['id']:>5}  trace {t['trace']:06d}  batch {t['batch']:06d}  {t['state']:<10} "
                  f"rrn {t['rrn'] or '-'}")
        print(f"  release the extra hold with: posagent duplicates --fix {group[-1]['id']}")
    return 0


def show_fixes(args: argparse.Namespace, cfg: Config, reply: Mapping[str, Any]) -> int:
    items = reply["result"]["open"]
    if not items:
        print("no fix is open")
    for c in items:
        print(f"fix {c['id']}  {c['kind']}  trace {c['trace']:06d}  card {c['card'] or '-'}")
        print(f"  {c['standing']}")
    return EXIT_OPEN if items else 0


def show_retry(args: argparse.Namespace, cfg: Config, reply: Mapping[str, Any]) -> int:
    print(reply["result"]["message"])
    return 0 if reply["result"]["status"] == "done" else EXIT_DECLINED


def show_reversals(args: argparse.Namespace, cfg: Config, reply: Mapping[str, Any]) -> int:
    queue = reply["result"]
    rows = [("pending", r) for r in queue["pending"]] + [("NEEDS MANUAL", r) for r in queue["needs_manual"]]
    if not rows:
        print("reversal queue empty")
    for state, r in rows:
        print(f"id {r['id']:>5}  trace {r['trace']:06d}  reason {r['reason']}  tries {r['tries']}  {state}"
              f"  {r['last_error'] or ''}")
    if queue["needs_manual"]:
        print("For each NEEDS MANUAL: call the acquirer with the trace number to check whether the card was "
              "charged; refund if it was, then mark it with `posagent reversals --handled ID --note ...`.")
    return 0


def show_offline_declined(args: argparse.Namespace, cfg: Config, reply: Mapping[str, Any]) -> int:
    declined = reply["result"]["declined"]
    if not declined:
        print("no sale stored offline was declined by the bank")
    for t in declined:
        when = local_time(t["created_at"])
        print(f"{when}  trace {t['trace']:06d}  {t['pan_masked'] or '-':<19}  "
              f"{format_amount(t['amount'], cfg.terminal.currency_exponent):>12}  declined {t.get('response_code') or '-'}"
              f"{'' if t.get('seen', True) else '  new'}")
    if declined:
        print("Each was approved offline (by the card, or a swiped or keyed one by the merchant's limits) and stored; "
              "the bank refused it when it was forwarded: the "
              "money was not collected and the merchant bears it — ask the customer for another payment.")
    acknowledged = reply["result"].get("acknowledged") or []
    if acknowledged:
        print(f"{len(acknowledged)} marked seen: the keypad's banner for them ends")
    return 0


#: what the merchant does about a stored sale the bank was never told of (the listing, and `status`)
MANUAL_TODO = ("Each was approved offline and stored, but its sealed card does not open, so the bank was never told and "
               "will not pay for it: contact the acquirer with the receipt (trace, amount, card) to have it booked, or "
               "ask the customer for another payment; then mark it with `posagent offline manual --handled ID "
               "--note ...` (supervisor).")


def show_offline_manual(args: argparse.Namespace, cfg: Config, reply: Mapping[str, Any]) -> int:
    items = reply["result"]["needs_manual"]
    if not items:
        print("no sale stored offline needs manual handling")
    for t in items:
        print(f"id {t['id']:>5}  {local_time(t['created_at'])}  trace {t['trace']:06d}  {t['pan_masked'] or '-':<19}  "
              f"{format_amount(t['amount'], cfg.terminal.currency_exponent):>12}  NEEDS MANUAL  {t.get('reason') or ''}")
    if items:
        print(MANUAL_TODO)
    return 0


def show_offline_handled(args: argparse.Namespace, cfg: Config, reply: Mapping[str, Any]) -> int:
    r = reply["result"]
    print(f"stored sale {r['handled']} (trace {r['trace']:06d}, "
          f"{format_amount(r['amount'], cfg.terminal.currency_exponent)}) marked handled by hand")
    return 0


def show_receipt(args: argparse.Namespace, cfg: Config, reply: Mapping[str, Any]) -> int:
    print(reply["result"]["merchant"])
    print(reply["result"]["customer"])
    return 0


def show_holds(args: argparse.Namespace, cfg: Config, reply: Mapping[str, Any]) -> int:
    outcome = reply["outcome"]
    exponent = cfg.terminal.currency_exponent
    print(outcome["message"])
    for hold in outcome["details"]["holds"]:
        t = hold["txn"]
        days = hold["age_seconds"] / 86400
        state = "EXPIRED (released by the issuer)" if hold["expired"] else \
            f"blocked {format_amount(hold['blocked'], exponent)}"
        print(f"  trace {t['trace']:06d}  {days:5.1f} days  card {t['pan_masked'] or '-'}  "
              f"held {format_amount(t['amount'], exponent):>10}  {state}")
    if outcome["details"]["holds"]:
        print("complete with `posagent preauth complete TRACE AMOUNT`; release a forgotten hold with "
              "`posagent preauth release TRACE`")
    return 0


def table(rows: Sequence[tuple[str, ...]]) -> list[str]:
    """Rows as lines, each column as wide as its widest cell."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))] if rows else []
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]



def show_status(args: argparse.Namespace, cfg: Config, reply: Mapping[str, Any]) -> int:
    s = reply["result"]
    link = s["link"]
    state = link.get("state") or ("connected" if link["connected"] else "idle")
    state = {"up": "connected", "down": f"down — {link.get('down_reason')}"}.get(state, state)
    switched = link.get("switched")
    if switched:  # the supervisor's switch, not the line: say who and how to end it
        state = (f"down — switched offline by the {switched['role']} at {clock_time(switched['since'])} "
                 f"(back online: posagent offline off)")
    print(f"link      {link['host']}:{link['port']} {state}{' (TLS)' if link['tls'] else ''}")
    if not link["tls"]:
        print("notice    link not encrypted (TLS off)")
    keys = s["keys"]
    kcv = ", ".join(f"{k} {v}" for k, v in keys["check_values"].items()) or "none"
    print(f"keys      {'installed' if keys['installed'] else 'missing — sign on'} ({kcv})")
    print(f"batch     {s['batch']['number']:06d} {s['batch']['state']}, {s['batch']['transactions']} transaction(s)")
    for line in payment_lines(s["batch"].get("totals") or {}, cfg.terminal.currency_exponent):
        print(f"  {line}")
    print(f"reversals {s['reversals']['pending']} pending, {s['reversals']['needs_manual']} need manual handling")
    if s.get("advices", {}).get("pending"):
        print(f"advices   {s['advices']['pending']} waiting for the bank's answer (sent before the next online message)")
    offline = s.get("offline")
    if offline is not None:  # store-and-forward on
        money = partial(format_amount, exponent=cfg.terminal.currency_exponent)
        unseen = f" ({offline['unseen']} not yet seen: posagent offline declined)" if offline.get("unseen") else ""
        declined = f", {offline['declined']} declined by the bank after forwarding{unseen}" if offline["declined"] else ""
        print(f"offline   {offline['stored']} stored, {money(offline['amount'])}{declined}")
        if offline.get("needs_manual"):
            print(f"          {offline['needs_manual']} stored sale(s) for {money(offline['needs_manual_amount'])} "
                  "never reached the bank (sealed card does not open): need manual handling — posagent offline manual")
    tcs = s.get("tc_uploads") or {}
    if tcs.get("owed") or tcs.get("undelivered"):
        print(f"TCs       {tcs.get('owed', 0)} waiting to be uploaded, {tcs.get('undelivered', 0)} undelivered after every try")
    print(f"journal   {s['journal']['path']}: {s['journal']['in_doubt']} in doubt"
          f"{', settlement of batch %06d in progress' % s['journal']['settling'] if s['journal']['settling'] else ''}")
    office = s.get("office")
    if office:
        problem = f"; last try: {office['last_error']}" if office.get("last_error") else ""
        print(f"office    {office['backlog']} event(s) not yet at the back office ({office['url']}){problem}")
    open_fixes = s.get("fixes", {}).get("open", [])
    print(f"fixes     {len(open_fixes)} open")
    for c in open_fixes:
        print(f"  fix {c['id']} trace {c['trace']:06d}: {c['standing']}")
    for lock in s.get("lockouts", []):
        print(f"locked    {lock['role']} functions on {SOURCES.get(lock['source'], lock['source'])} "
              f"until {lock['until']} (wrong passwords)")
    return 0


PAYMENT_LABELS = {"card": "card", "wallet": "payment code"}


def payment_lines(by_payment: Mapping[str, Any], exponent: int) -> list[str]:
    """A batch's totals per payment type, one line each: sales, refunds, net."""
    money = partial(format_amount, exponent=exponent)
    return [f"{PAYMENT_LABELS.get(name, name):<12} sales {p['sales_count']} for {money(p['sales_amount'])}, "
            f"refunds {p['refunds_count']} for {money(p['refunds_amount'])}, net {money(p['net_amount'])}"
            for name, p in by_payment.items()]



# ---------------------------------------------------------------- the daemon

