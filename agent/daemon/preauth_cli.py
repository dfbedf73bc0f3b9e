"""`posagent preauth …`: hold, complete, void, release and list pre-auths (预授权) — a thin client.

    posagent preauth 2000.00 [--card NAME] [--confirm-duplicate]   hold the amount on the card
    posagent preauth complete TRACE AMOUNT [--advice]              charge the stay (≤ tolerance above the hold);
                                                                   --advice: offline, sent when the bank answers
    posagent preauth void TRACE                                    void the pre-auth before completion
    posagent preauth release TRACE                                 the same, for a forgotten hold
    posagent preauth void-completion TRACE                         open batch only; after that, refund it
    posagent preauth list [--open]                                 open holds by age, amount still blocked
"""

from __future__ import annotations

import argparse

from agent.errors import UsageError
from agent.money import format_amount

ACTIONS = ("complete", "void", "release", "void-completion", "list")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("preauth", help="pre-authorization: AMOUNT holds; complete|void|release|void-completion|list",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("words", nargs="+", metavar="AMOUNT | ACTION ARGS",
                   help="an amount to hold, or one of: " + ", ".join(ACTIONS))
    p.add_argument("--card", metavar="NAME", help="use a named test card ([card_reader] test_cards) instead of the card reader")
    p.add_argument("--confirm-duplicate", action="store_true", help="the same card and amount held again is intended")
    p.add_argument("--request-id", help="the cash register's request id (a repeat is recognised)")
    p.add_argument("--open", action="store_true", help="with list: only holds still open (the default)")
    p.add_argument("--advice", action="store_true",
                   help="with complete: complete offline; the 0220 advice is sent when the bank can be reached")
    p.add_argument("--json", action="store_true", help="print the daemon's answer as JSON")
    p.add_argument("--password-stdin", action="store_true",
                   help="read the supervisor password from the first line of standard input")
    p.set_defaults(handler=_preauth)


def _trace(text: str) -> int:
    if not (text.isascii() and text.isdigit() and 1 <= len(text) <= 6) or int(text) == 0:
        raise UsageError(f"trace number must be 1 to 6 digits, not {text!r}")
    return int(text)


def _expect(words: list[str], count: int, usage: str) -> None:
    if len(words) != count:
        raise UsageError(f"usage: posagent preauth {usage}")


def _preauth(args: argparse.Namespace) -> int:
    from agent.daemon.cli import _amount, _call, _client, _finish

    words = args.words
    action = words[0]
    if action == "list":
        _expect(words, 1, "list [--open]")
        return _list(args)
    cfg, _ = _client(args)
    if action == "complete":
        _expect(words, 3, "complete TRACE AMOUNT")
        op, call_args = "preauth_complete", {"trace": _trace(words[1]), "amount": _amount(cfg, words[2]),
                                             "advice": args.advice}
    elif action in ("void", "release", "void-completion"):
        _expect(words, 2, f"{action} TRACE")
        op = {"void": "preauth_void", "release": "preauth_release", "void-completion": "completion_void"}[action]
        call_args = {"trace": _trace(words[1])}
    else:
        if len(words) != 1:
            raise UsageError(f"unknown pre-auth action {action!r} (an amount, or one of: {', '.join(ACTIONS)})")
        op, call_args = "preauth", {"amount": _amount(cfg, action), "card": args.card,
                                    "confirm_duplicate": args.confirm_duplicate,
                                    "client_request_id": args.request_id}
    needs = {"preauth_complete": cfg.preauth.supervisor_completion, "completion_void": True}.get(
        op, cfg.preauth.supervisor_preauth)
    _, reply = _call(args, op, call_args, password=bool(needs))
    return _finish(args, reply, confirm_flag="--confirm-duplicate")


def _list(args: argparse.Namespace) -> int:
    from agent.daemon.cli import _call, _finish

    cfg, reply = _call(args, "preauth_list", {})
    if args.json or not reply.get("ok"):
        return _finish(args, reply)
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

