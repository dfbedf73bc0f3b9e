"""The operation registry: one row per operation the daemon performs, and everything else derived from it.

A row says what an operation is called, which arguments it takes (type, bounds, which are secret),
which role may run it (and the setting that changes that), whether it can move money, which guards it
raises and the argument that confirms each, whether the engine journals it, the function that does it,
and how the command line, the technician's console and the keypad reach it.  From these rows come:

- the control API's argument checks (`agent.daemon.apispec.validate`) and its dispatch
  (`agent.daemon.service.Daemon.perform`: a plan for the engine, or a query answered at once);
- the roles table (`role_for` here; `agent.roles.table_markdown` writes it into docs/security.md);
- the command line's subcommands, positionals and flags (`agent.daemon.cli`, from the forms
  `agent.daemon.cliforms` reads off the rows), and its exit status when the daemon is lost mid-way (5, outcome unknown, for every operation that can move money);
- the confirmation flags named when a guard stops an operation;
- the console's and the keypad's permissions (`console`, `keypad`: which operations they may call).

Adding an operation is one row here plus its plan (or query).  The rows are data: no class per
operation, no other list of operation names in the product (a test reads the source to keep it so).
What a row is (`Operation`, its `Arg`s, its `Cli` form, the roles) is `agent.operation`.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Mapping

from agent.money import MAX_MINOR_UNITS
from agent.operation import ROLES, Arg, Cli, Operation

#: field 4 is n12: the largest amount a message can carry, in minor units (one home: agent.money)
MAX_AMOUNT = MAX_MINOR_UNITS
MAX_TRACE = 999_999
MAX_ID = 2 ** 62
MAX_TEXT = 200
MAX_LIMIT = 1000


def _int(lo: int, hi: int, **kw: Any) -> Arg:
    return Arg("int", lo=lo, hi=hi, **kw)


def _text(pattern: str | None = None, expected: str = "", hi: int = MAX_TEXT, **kw: Any) -> Arg:
    return Arg("text", lo=0, hi=hi, pattern=pattern, expected=expected, **kw)


AMOUNT = Arg("amount", lo=1, hi=MAX_AMOUNT)
TRACE = Arg("trace", lo=1, hi=MAX_TRACE)
ID = _int(1, MAX_ID)
FLAG = Arg("bool")
REQUEST_ID = _text(r"[ -~]{1,64}", "1 to 64 printable ASCII characters", flag="--request-id",
                   help="the cash register's request id (a repeat is recognised, never paid twice)")
#: a payment code as typed or scanned: digits only here; the wallet table (agent/paycodes.py) checks the rest
CODE = Arg("paycode", lo=0, hi=40, flag="--code",
           help="the customer's wallet payment code (Alipay, WeChat Pay, UnionPay QuickPass)")
CARD = _text(r"[A-Za-z0-9_.-]{1,40}", "a test card name (letters, digits, _ . -)",
             help="use a named test card ([card_reader] test_cards) instead of the card reader")
#: the cardholder's PIN for a card that asks for one online: checked without ever being echoed
PIN = Arg("pin", secret=True, flag="--pin-stdin",
          help="the cardholder's PIN (for a card that asks for one online) from the first line of standard "
               "input; never shown, logged or journaled")
RRN = _text(r"[0-9A-Za-z ]{1,12}", "up to 12 letters or digits", help="reference number (RRN) of the original")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
#: a statement's name in the statements directory: a plain file name, never a path, a hidden file or '..'
STATEMENT_NAME = r"(?!.*\.\.)[A-Za-z0-9_][A-Za-z0-9._-]{0,99}"

#: a guard → the argument that confirms it (the engine names the guard in a needs_confirmation outcome)
GUARD_ARGS = MappingProxyType({"duplicate": "confirm_duplicate", "unusual_amount": "confirm_unusual",
                               "repeat_refund": "confirm_repeat", "totals": "confirm",
                               "open_fixes": "confirm_open_fixes", "stored_sales": "confirm_stored"})


#: names of the past → today's, for operations and arguments: still accepted as input (the control API, and the
#: command line's words and flags derived from them, hidden from --help), never output (docs/operations.md#renamed)
RENAMED = MappingProxyType({"chains": "fixes", "chain_close": "fix_close", "confirm_open_chains": "confirm_open_fixes"})


P = "agent.daemon.plans:"
Q = "agent.daemon.queries:"
_rows = (
    # ---------------------------------------------------------------- selling
    Operation("sale", "charge a card", P + "sale", money=True, journaled=True, keypad=True,
              guards=("duplicate", "unusual_amount"),
              args={"amount": AMOUNT.but(required=True, positional=True,
                                         help="amount in the currency's major unit, e.g. 100.00"),
                    "card": CARD,
                    "confirm_duplicate": FLAG.but(help="the same card and amount again is intended"),
                    "confirm_unusual": FLAG.but(help="the unusually large amount is right"),
                    "client_request_id": REQUEST_ID, "pin": PIN,
                    "keyed": FLAG.but(help="the test card's number and expiry keyed by hand (supervisor; "
                                           "[card_reader] manual_entry)")},
              raised=("keyed", "supervisor"), cli=Cli(("sale",))),
    Operation("wallet_sale", "charge a wallet payment code (scan or key the customer's code)", P + "wallet_sale", offline="paycode",
              money=True, journaled=True, keypad=True, cancellable=True, guards=("duplicate", "unusual_amount"),
              args={"amount": AMOUNT.but(required=True, positional=True,
                                         help="amount in the currency's major unit, e.g. 100.00"),
                    "code": CODE, "confirm_duplicate": FLAG.but(help="the same code and amount again is intended"),
                    "confirm_unusual": FLAG.but(help="the unusually large amount is right"),
                    "client_request_id": REQUEST_ID},
              cli=Cli(("sale",), select=("--code", "--scan"),
                      extra={"--scan": "read the wallet payment code from the barcode scanner"})),
    Operation("wallet_cancel", "cancel the payment-code order the customer is confirming", Q + "wallet_cancel",
              kind="query", keypad=True),
    # ---------------------------------------------------------------- fixing mistakes
    Operation("void", "cancel a sale of the open batch (supervisor)", P + "void", offline="wait", role="supervisor", money=True,
              journaled=True, keypad=True,
              args={"trace": TRACE.but(required=True, positional=True, help="trace number of the sale")},
              cli=Cli(("void",))),
    Operation("refund", "refund all or part of a sale, any day (supervisor)", P + "refund", offline="wait", role="supervisor",
              money=True, journaled=True, keypad=True, guards=("repeat_refund",), one_of=(("trace",), ("rrn", "date")),
              args={"amount": AMOUNT.but(positional=True,
                                         help="amount to refund (default: everything still refundable)"),
                    "trace": TRACE.but(help="trace number of the original sale"), "rrn": RRN,
                    "date": _text(r"[0-9]{4}", "the original's day as MMDD",
                                  help="date of the original sale, MMDD (with --rrn)"),
                    "client_request_id": REQUEST_ID,
                    "confirm_repeat": FLAG.but(help="a second identical refund is intended")},
              cli=Cli(("refund",))),
    Operation("correct", "fix a wrong amount: void + re-sale, refund of the difference, or linked sale "
                         "(supervisor)", P + "correct", offline="wait", role="supervisor", money=True, journaled=True, keypad=True,
              one_of=(("amount",), ("resume",)),
              args={"trace": TRACE.but(required=True, positional=True,
                                       help="trace number of the sale with the wrong amount"),
                    "amount": AMOUNT.but(help="the right amount"),
                    "method": _text(r"auto|refund|resale", "auto, refund or resale",
                                    help="auto picks from the batch state (default)"),
                    "card": CARD.but(help="test card for a new sale, instead of the reader"),
                    "resume": FLAG.but(help="finish the open correction of this sale")},
              cli=Cli(("correct",))),
    Operation("wallet_correct", "fix a wrong amount of a payment-code sale: the difference charged to a new code, "
                                "or refunded (supervisor)", P + "wallet_correct", offline="paycode", role="supervisor", money=True,
              journaled=True, keypad=True, cancellable=True,
              args={"trace": TRACE.but(required=True, positional=True,
                                       help="trace number of the sale with the wrong amount"),
                    "amount": AMOUNT.but(required=True, help="the right amount"),
                    "code": CODE.but(help="a wallet sale: the customer's new payment code for the difference "
                                          "(an overcharge is refunded)")},
              cli=Cli(("correct",), select=("--code", "--scan"),
                      extra={"--scan": "a wallet sale: scan the customer's new code"})),
    Operation("duplicates", "list suspected double charges", Q + "duplicates", kind="query", keypad=True,
              cli=Cli(("duplicates",), show="show_duplicates")),
    Operation("duplicates_fix", "repair a suspected double charge: void or refund it (supervisor)",
              P + "duplicates_fix", offline="wait", role="supervisor", money=True, journaled=True, keypad=True,
              args={"id": ID.but(required=True, flag="--fix", help="journal id of the duplicate sale to void or refund")},
              cli=Cli(("duplicates",), select=("--fix",))),
    Operation("fixes", "multi-step fixes left open", Q + "fixes", kind="query",
              cli=Cli(("fixes",), show="show_fixes")),
    Operation("fix_close", "end an open fix on purpose, e.g. the customer paid cash (supervisor)",
              Q + "fix_close", kind="query", role="supervisor",
              args={"id": ID.but(required=True, flag="--close",
                                 help="fix to close (the customer was settled otherwise)"),
                    "reason": _text(required=True, help="what was done instead, e.g. \"customer paid cash\"")},
              cli=Cli(("fixes",), select=("--close",), show="show_message")),
    # ---------------------------------------------------------------- the end of the day
    Operation("settle", "settle the batch: totals, confirmation, upload (supervisor)", P + "settle", offline="wait",
              role="supervisor", relaxed=("confirm", (None, False), "cashier"), raised=("confirm_stored", "supervisor"),
              money=True, journaled=True, keypad=True, guards=("totals", "open_fixes", "stored_sales"),
              args={"confirm": FLAG.but(flag="--yes", help="the totals were checked: settle without asking"),
                    "confirm_open_fixes": FLAG.but(help="settle although fixes are still open (they are listed; "
                                                        "close them by hand after)"),
                    "confirm_stored": FLAG.but(help="sales stored offline that the bank cannot take now move to the "
                                                    "next batch and this one settles without them (supervisor)")},
              cli=Cli(("settle",))),
    # ---------------------------------------------------------------- pre-authorization (预授权)
    Operation("preauth", "hold an amount on the card (pre-authorization)", P + "preauth", offline="wait", role="supervisor",
              configured_by=("preauth", "supervisor_preauth"), money=True, journaled=True, keypad=True,
              guards=("duplicate", "unusual_amount"),
              args={"amount": AMOUNT.but(required=True, positional=True, help="the amount to hold, e.g. 2000.00"),
                    "card": CARD,
                    "confirm_duplicate": FLAG.but(help="the same card and amount held again is intended"),
                    "confirm_unusual": FLAG.but(help="the unusually large amount is right"),
                    "client_request_id": REQUEST_ID, "pin": PIN},
              cli=Cli(("preauth",))),
    Operation("preauth_complete", "charge the stay (at most the tolerance above the hold); --advice: offline, "
                                  "sent when the bank answers", P + "preauth_complete", offline="wait", offline_with="advice",
              configured_by=("preauth", "supervisor_completion"), money=True, journaled=True, keypad=True,
              args={"trace": TRACE.but(required=True, positional=True, help="trace number of the pre-auth"),
                    "amount": AMOUNT.but(required=True, positional=True, help="the amount to charge"),
                    "advice": FLAG.but(help="complete offline: the 0220 advice is sent when the bank can be "
                                            "reached")},
              cli=Cli(("preauth", "complete"))),
    Operation("preauth_void", "void the pre-auth before completion", P + "preauth_void", offline="wait", role="supervisor",
              configured_by=("preauth", "supervisor_preauth"), money=True, journaled=True,
              args={"trace": TRACE.but(required=True, positional=True, help="trace number of the pre-auth")},
              cli=Cli(("preauth", "void"))),
    Operation("preauth_release", "release a forgotten hold", P + "preauth_release", offline="wait", role="supervisor",
              configured_by=("preauth", "supervisor_preauth"), money=True, journaled=True, keypad=True,
              args={"trace": TRACE.but(required=True, positional=True, help="trace number of the pre-auth")},
              cli=Cli(("preauth", "release"))),
    Operation("completion_void", "void a completion of the open batch (after that, refund it) (supervisor)",
              P + "completion_void", offline="wait", role="supervisor", money=True, journaled=True, keypad=True,
              args={"trace": TRACE.but(required=True, positional=True, help="trace number of the completion")},
              cli=Cli(("preauth", "void-completion"))),
    Operation("preauth_list", "open holds by age, amount still blocked", P + "preauth_list", keypad=True,
              args={}, cli=Cli(("preauth", "list"), extra={"--open": "only holds still open (the default)"},
                               show="show_holds")),
    # ---------------------------------------------------------------- the link and the queues
    Operation("signon", "sign on: new working keys and batch number", P + "signon", keypad=True, console=True,
              cli=Cli(("signon",))),
    Operation("echo", "link test with the acquirer", P + "echo", console=True, cli=Cli(("echo",))),
    Operation("params_download", "download the chip parameters and CA keys the acquirer has for this terminal",
              P + "params_download", console=True, cli=Cli(("params", "download"))),
    Operation("status", "link, keys, batch, reversal queue, journal health", Q + "status", kind="query",
              console=True, cli=Cli(("status",), show="show_status")),
    Operation("ping", "is the daemon there", Q + "ping", kind="query"),
    Operation("offline_declined", "sales stored offline that the bank declined when they were forwarded; "
                                  "--acknowledge: the supervisor has seen them (the keypad's banner ends)",
              Q + "offline_declined", kind="query", role="supervisor", relaxed=("acknowledge", (None, False), "cashier"),
              console=True, keypad=True,
              args={"acknowledge": FLAG.but(help="mark them seen: the store will contact the customers (supervisor)")},
              cli=Cli(("offline", "declined"), show="show_offline_declined")),
    Operation("offline_manual", "sales stored offline whose advice cannot be built (the sealed card does not "
                                "open): approved offline, the bank never told — each needs manual handling",
              Q + "offline_manual", kind="query", console=True,
              cli=Cli(("offline", "manual"), show="show_offline_manual")),
    Operation("offline_manual_handled", "mark a stored sale needing manual handling as handled (supervisor)",
              Q + "offline_manual_handled", kind="query", role="supervisor", console=True,
              args={"id": ID.but(required=True, flag="--handled", help="mark stored sale ID (journal id) handled"),
                    "note": _text(help="what was done (with --handled): e.g. acquirer booked it by phone, ref …")},
              cli=Cli(("offline", "manual"), select=("--handled",), show="show_offline_handled")),
    Operation("offline_switch", "switch the terminal offline by hand (on: sales are stored within the offline "
                                "limits and nothing is sent to the bank) or back (off) (supervisor)",
              Q + "offline_switch", kind="query", role="supervisor", console=True, keypad=True,
              args={"switch": _text(r"on|off", "on or off", hi=3, required=True, positional=True,
                                    help="on: offline now; off: back to the bank")},
              cli=Cli(("offline",), show="show_message")),
    Operation("reversals", "the reversal queue", Q + "reversals", kind="query", console=True,
              cli=Cli(("reversals",), show="show_reversals")),
    Operation("reversal_retry", "send pending reversals now", Q + "reversal_retry", kind="query", console=True,
              cli=Cli(("reversals",), select=("--retry",), extra={"--retry": "send pending reversals now"},
                      show="show_retry")),
    Operation("reversal_handled", "mark a reversal handled by hand (supervisor)", Q + "reversal_handled",
              kind="query", role="supervisor", console=True,
              args={"id": ID.but(required=True, flag="--handled", help="mark reversal ID handled by hand"),
                    "note": _text(help="what was done (with --handled)")},
              cli=Cli(("reversals",), select=("--handled",))),
    # ---------------------------------------------------------------- reading the journal
    Operation("lookup", "find transactions", Q + "lookup", kind="query", console=True, keypad=True,
              args={"trace": TRACE, "rrn": RRN, "date": _text(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", "a day as YYYY-MM-DD"),
                    "amount": AMOUNT, "last4": _text(r"[0-9]{4}", "4 digits"), "batch": _int(1, 999_999),
                    "limit": _int(1, MAX_LIMIT), "kind": Arg("txn_kind")}),
    Operation("receipt", "reprint a receipt (default: the last transaction)", Q + "receipt", kind="query",
              keypad=True, args={"id": ID.but(positional=True, help="journal id")},
              cli=Cli(("receipt",), show="show_receipt")),
    Operation("export", "the evidence bundle of a transaction's purchase", Q + "export", kind="query", console=True,
              args={"id": ID.but(required=True)}),
    # ---------------------------------------------------------------- the technician and the audit trail
    Operation("log_level", "show or change the daemon's log level now", Q + "log_level", kind="query",
              role="technician", console=True, args={"level": Arg("level")}),
    Operation("console_event", "the technician console's audit trail", Q + "console_event", kind="query",
              role="technician", relaxed=("kind", ("login_failed", "login_locked"), "cashier"), console=True,
              args={"kind": _text(required=True), "details": Arg("object")}),
    # the daemon reads the statement from its own directory and journals what it found, never the caller's words;
    # the console's run is the technician's, on their password
    Operation("reconcile", "check a statement of the statements directory against the journal, to the cent "
                           "(the run is journaled)", Q + "reconcile", kind="query", console=True,
              relaxed=("technician", (True,), "technician"),
              args={"statement": _text(STATEMENT_NAME, "the name of a file in the statements directory (letters, "
                                                       "digits, '.', '_' or '-'; no path)", hi=100, required=True),
                    "format": _text(r"[a-z0-9-]{1,40}", "a statement format name"),
                    "encoding": _text(r"[a-z0-9-]{1,20}", "an encoding name"),
                    "date": _text(r"[0-9]{8}", "the settlement date expected, YYYYMMDD"),
                    "technician": FLAG.but(help="run from the technician's console: journaled under the technician, "
                                                "whose password it needs")}),
)
del P, Q

#: operation name → its row (read-only)
OPERATIONS: Mapping[str, Operation] = MappingProxyType({row.name: row for row in _rows})
assert len(OPERATIONS) == len(_rows), "two rows share a name"
assert all(row.role in ROLES for row in _rows)
assert all(g in GUARD_ARGS and GUARD_ARGS[g] in row.args for row in _rows for g in row.guards)


def get(name: str) -> Operation | None:
    return OPERATIONS.get(name) if isinstance(name, str) else None


def money_operations() -> frozenset[str]:
    return frozenset(name for name, row in OPERATIONS.items() if row.money)


def cancellable_operations() -> frozenset[str]:
    return frozenset(name for name, row in OPERATIONS.items() if row.cancellable)


def guarded_operations() -> frozenset[str]:
    return frozenset(name for name, row in OPERATIONS.items() if row.guards)


def confirm_flag(guard: str) -> str | None:
    """The command-line flag that confirms a guard (the same for every operation that raises it)."""
    arg = GUARD_ARGS.get(guard)
    if arg is None:
        return None
    for row in OPERATIONS.values():
        if arg in row.args:
            return flag_of(arg, row.args[arg])
    return None


def flag_of(name: str, arg: Arg) -> str:
    return arg.flag or "--" + name.replace("_", "-")


def role_for(name: str, args: Mapping[str, Any] | None = None, settings: Any = None) -> str | None:
    """The role whose password `name` needs with these arguments and settings (None: no such operation).

    `settings` is the configuration (`cfg[section][key]`); without it a configured operation needs its
    row's role (the safe side)."""
    row = get(name)
    if row is None:
        return None
    args = args or {}
    if row.raised is not None and args.get(row.raised[0]):
        return row.raised[1]
    if row.relaxed is not None:
        arg, values, role = row.relaxed
        if args.get(arg) in values:
            return role
    if row.configured_by is not None and settings is not None:
        section, key = row.configured_by
        return "supervisor" if settings[section][key] else "cashier"
    return row.role
