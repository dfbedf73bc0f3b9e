"""`posoffice`'s command-line grammar: the commands, their arguments and the checks of each value (one line,
exit 2, for a value that does not fit).  The commands themselves are `posoffice/cli.py`'s."""

from __future__ import annotations

import argparse
from datetime import date
from typing import NoReturn


class Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line and exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    common = Parser(add_help=False)
    common.add_argument("--dsn", default=argparse.SUPPRESS,
                        help="the office database (libpq connection string or URI); default: $POSOFFICE_DSN")
    parser = Parser(prog="posoffice", parents=[common], description="The merchant's back office: terminals' "
                    "journal events collected and checked in PostgreSQL.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)

    serve = sub.add_parser("serve", parents=[common], help="run the collector (POST /v1/events)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=8740, help="port (default 8740; 0: any free port)")
    serve.add_argument("--tz", default=None, help="the time zone a sale's date is read in for /v1/refundable "
                                                  "and the web pages (default: this machine's)")
    serve.add_argument("--statements", metavar="DIR", default=None,
                       help="the statements directory the Reconcile page offers files from")
    serve.add_argument("--upload-limit", type=int, default=None, metavar="BYTES",
                       help="the largest statement the Reconcile page takes (default 16 MiB)")
    serve.add_argument("--api-only", action="store_true", help="serve the collector's API without the web pages")
    serve.add_argument("--tls-cert", metavar="FILE", help="serve HTTPS with this certificate (PEM); the terminals "
                                                           "verify it against [office] ca_file")
    serve.add_argument("--tls-key", metavar="FILE", help="the private key of --tls-cert (PEM; default: in that file)")

    listing = sub.add_parser("terminals", parents=[common],
                             help="each terminal: last event, last contact, backlog, chain state")
    listing.add_argument("--json", action="store_true")

    terminal = sub.add_parser("terminal", help="manage terminals")
    tsub = terminal.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = tsub.add_parser("add", parents=[common], help="register a terminal and print its secret (once)")
    add.add_argument("terminal", metavar="TID")
    add.add_argument("--merchant", required=True, metavar="MID")
    rotate = tsub.add_parser("rotate", parents=[common], help="give a terminal a new secret and print it (once); "
                                                              "the old one is accepted until the new one's first use "
                                                              "or the end of --grace")
    rotate.add_argument("terminal", metavar="TID")
    revoke = tsub.add_parser("revoke", parents=[common], help="refuse every login of a terminal (its secrets) until "
                                                              "it is given a new secret with rotate")
    revoke.add_argument("terminal", metavar="TID")
    rotate.add_argument("--grace", type=_hours, default=24.0, metavar="HOURS",
                        help="hours the old secret stays accepted at most (default 24; 0: refused at once)")

    verify = sub.add_parser("verify", parents=[common],
                            help="re-walk the stored chains; exit 1 when anything was altered")
    verify.add_argument("terminal", nargs="?", metavar="TERMINAL")
    verify.add_argument("--json", action="store_true")

    keep = sub.add_parser("retention", parents=[common], help="remove events older than --days of settled, "
                                                               "reconciled batches (a dry run without --apply)")
    keep.add_argument("--days", type=_days, required=True, metavar="N", help="keep every event of the last N days")
    keep.add_argument("--apply", action="store_true", help="remove them (default: only say what would go)")
    keep.add_argument("--archive", metavar="DIR", help="with --apply: first write the events removed to DIR, one "
                                                       "private JSON Lines file per terminal")
    keep.add_argument("--tz", default=None, help="the terminals' time zone, which dates settlements as "
                                                 "`reconcile --tz` does (default: this machine's)")
    keep.add_argument("--json", action="store_true")

    day = sub.add_parser("day", parents=[common], help="a day's approved sales, refunds and voids per terminal")
    day.add_argument("day", type=_date, metavar="DATE", help="YYYY-MM-DD")
    day.add_argument("--tz", default="UTC", help="the time zone the day is in (default UTC)")
    day.add_argument("--json", action="store_true")

    from agent.reconcile.formats import ENCODINGS, FORMATS
    rec = sub.add_parser("reconcile", parents=[common], help="a merchant's statement against every terminal's journal")
    rec.add_argument("file", metavar="FILE", help="the statement file the acquirer sent")
    rec.add_argument("--format", default=None, help=f"statement format: {', '.join(FORMATS)} (default posim)")
    rec.add_argument("--encoding", choices=ENCODINGS, help="file encoding (default: the format's)")
    rec.add_argument("--tz", default=None, help="the terminals' time zone, which dates settlements (default: "
                                                "this machine's)")
    rec.add_argument("--claim", metavar="DIR", help="write the claim letters (zh, en) and claim.json here "
                                                    "(private files: 0600, the directory 0700)")
    rec.add_argument("--force", action="store_true", help="replace the claim files of an earlier run in DIR")
    for name, default, what in (("debit-rate", "0.50", "fee on debit cards, percent"),
                                ("debit-cap", "20.00", 'most fee per debit charge ("": none)'),
                                ("credit-rate", "0.60", "fee on credit cards, percent"),
                                ("credit-cap", "", 'most fee per credit charge ("": none)'),
                                ("credit-bins", "625094", "card number prefixes of credit cards, comma-separated")):
        rec.add_argument(f"--{name}", default=default, help=f"{what} (default {default!r})")
    rec.add_argument("--json", action="store_true")

    user = sub.add_parser("user", help="manage the web pages' users")
    usub = user.add_subparsers(dest="action", required=True, metavar="ACTION")
    uadd = usub.add_parser("add", parents=[common], help="add a user; the password is read from stdin (or asked)")
    uadd.add_argument("name", metavar="NAME")
    uadd.add_argument("--role", required=True, help="manager (reads everything), finance (also reconciles and "
                                                    "claims), admin (users and terminals)")
    ulist = usub.add_parser("list", parents=[common], help="the users, their roles and whether they are locked")
    ulist.add_argument("--json", action="store_true")
    unlock = usub.add_parser("unlock", parents=[common], help="lift a login lockout")
    unlock.add_argument("name", metavar="NAME")

    dup = sub.add_parser("duplicates", parents=[common],
                         help="the same card charged the same amount on two tills of a merchant within a window")
    dup.add_argument("--window", type=_seconds, default=300, metavar="SECONDS",
                     help="at most this many seconds apart (default 300)")
    dup.add_argument("--merchant", metavar="MID", help="only this merchant's terminals")
    dup.add_argument("--json", action="store_true")

    declined = sub.add_parser("declined", parents=[common], help="the sales stored offline that the bank declined "
                                                                   "when they were forwarded (the merchant bears them)")
    declined.add_argument("--merchant", metavar="MID", help="only this merchant's terminals")
    declined.add_argument("--terminal", metavar="TID", help="only this terminal")
    declined.add_argument("--new", action="store_true", help="only those not yet acknowledged on their terminal")
    declined.add_argument("--json", action="store_true")

    manual = sub.add_parser("manual", parents=[common], help="the sales stored offline never sent to the bank (their "
                                                               "sealed card does not open): the store settles them")
    manual.add_argument("--merchant", metavar="MID", help="only this merchant's terminals")
    manual.add_argument("--terminal", metavar="TID", help="only this terminal")
    manual.add_argument("--new", action="store_true", help="only those not yet marked handled on their terminal")
    manual.add_argument("--json", action="store_true")
    return parser




# ----------------------------------------------------------------------------- values
def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)")
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 86_400:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds from 0 to 86400")
    return value


def _days(text: str) -> int:
    from posoffice.retention import MAX_DAYS
    if not text.isdigit() or int(text) > MAX_DAYS:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of days from 0 to {MAX_DAYS}")
    return int(text)


def _hours(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 720:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of hours from 0 to 720 (30 days)")
    return value


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None
