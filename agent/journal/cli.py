"""`posagent journal ...`: look into the journal (read-only): list, show, purchase, duplicates, totals,
export, verify; and `prune`, the one maintenance write.  Tables for people by default, `--json` for
programs; bad input is one line, exit 2."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from agent.errors import UsageError
from agent.journal.errors import StorageError
from agent.journal import Journal, render_text
from agent.journal.records import Txn
from agent.journal.states import KINDS, BatchState
from agent.money import format_amount, parse_amount
from agent.localtime import local_time

if TYPE_CHECKING:
    from agent.config import Config

#: a subcommand: its parsed arguments in, the exit status out
Handler = Callable[[argparse.Namespace], int]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("journal", help="look into the transaction journal (read-only)")
    parser.add_argument("--journal", metavar="FILE", help="journal file (default: journal.path from the configuration)")
    actions = parser.add_subparsers(dest="journal_command", metavar="ACTION")
    actions.required = True

    def action(name: str, help_text: str | None, handler: Handler) -> argparse.ArgumentParser:
        # no help text: a name of the past, still accepted and not listed (docs/operations.md#renamed)
        p = actions.add_parser(name, help=help_text) if help_text else actions.add_parser(name)
        p.add_argument("--json", action="store_true", help="print JSON instead of a table")
        p.set_defaults(handler=_damage_is_one_line(handler))
        return p

    p = action("list", "list transactions, newest first (filters combine)", _list)
    p.add_argument("--trace", type=_trace, help="trace number (STAN)")
    p.add_argument("--rrn", help="retrieval reference number")
    p.add_argument("--date", type=_date, help="local calendar day, YYYY-MM-DD")
    p.add_argument("--amount", help="amount such as 120.00")
    p.add_argument("--last4", type=_last4, help="last 4 digits of the card")
    p.add_argument("--batch", type=_batch, help="batch number")
    p.add_argument("--kind", choices=tuple(KINDS), help="sale, correction, refund, void, preauth, completion, ...")
    p.add_argument("--limit", type=_limit, default=50, help="at most this many rows (default 50)")
    p = action("show", "one transaction with its messages and events", _show)
    p.add_argument("id", type=_txn_id)
    for name, text in (("purchase", "a transaction and every void, refund and correction linked to it"),
                       ("chain", None)):  # its name before the rename, unlisted
        p = action(name, text, _purchase)
        p.add_argument("id", type=_txn_id)
    p = action("duplicates", "suspected duplicate charges (same card, same amount, close in time)", _duplicates)
    p.add_argument("--window", type=_seconds, help="seconds (default: guards.duplicate_window_seconds)")
    p = action("totals", "settlement totals of a batch (default: the current one)", _totals)
    p.add_argument("batch", nargs="?", type=_batch)
    p = action("export", "an evidence bundle (JSON, or printable text with --text)", _export)
    p.add_argument("--purchase", type=_txn_id, help="export the purchase of this transaction (it and everything "
                                                    "linked to it)")
    p.add_argument("--chain", dest="purchase", type=_txn_id, help=argparse.SUPPRESS)  # the name before the rename
    p.add_argument("--since", type=_date, help="first day, YYYY-MM-DD")
    p.add_argument("--until", type=_date, help="last day, YYYY-MM-DD")
    p.add_argument("--text", action="store_true", help="printable text instead of JSON")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE (0600) instead of standard output")
    p.add_argument("--force", action="store_true", help="replace FILE if it exists (never through a symbolic link)")
    action("verify", "check SQLite integrity and the hash chain; exit 1 if broken", _verify)
    p = action("prune", "delete settled batches older than the retention period (a few per run)", _prune)
    p.add_argument("--retention-days", type=_days, help="days to keep (default: journal.retention_days)")
    p.add_argument("--max-batches", type=_limit, default=10, help="batches removed at most in this run (default 10)")


# ----------------------------------------------------------------- argument types (bad input -> exit 2)
def _int_in(text: str, lo: int, hi: int, what: str) -> int:
    if not re.fullmatch(r"[0-9]{1,7}", text or "") or not lo <= int(text) <= hi:
        raise argparse.ArgumentTypeError(f"{what} must be a number from {lo} to {hi}, not {text!r}")
    return int(text)


def _trace(text: str) -> int:
    return _int_in(text, 1, 999_999, "trace")


def _batch(text: str) -> int:
    return _int_in(text, 1, 999_999, "batch")


def _limit(text: str) -> int:
    return _int_in(text, 1, 1000, "limit")


def _seconds(text: str) -> int:
    return _int_in(text, 0, 9_999_999, "window")


def _days(text: str) -> int:
    return _int_in(text, 1, 3650, "retention")


def _txn_id(text: str) -> int:
    if not re.fullmatch(r"[0-9]{1,12}", text or ""):
        raise argparse.ArgumentTypeError(f"transaction id must be a number, not {text!r}")
    return int(text)


def _last4(text: str) -> str:
    if not re.fullmatch(r"[0-9]{4}", text or ""):
        raise argparse.ArgumentTypeError(f"last 4 digits must be 4 digits, not {text!r}")
    return text


def _date(text: str) -> str:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"date must be YYYY-MM-DD, not {text!r}") from None
    return text


# ----------------------------------------------------------------- handlers
def _open(args: argparse.Namespace) -> tuple[Journal, Config]:
    from agent.config import load_for_command
    cfg = load_for_command(args)
    path = Path(args.journal) if args.journal else cfg.path("journal", "path")
    if not path.exists():
        raise UsageError(f"no journal at {path} (set journal.path or pass --journal FILE)")
    return Journal.open(path, fingerprint_key=None, read_only=True,
                        busy_timeout_ms=cfg.journal.busy_timeout_ms), cfg


def _exponent(cfg: Config) -> int:
    exponent: int = cfg.terminal.currency_exponent
    return exponent


def _when(epoch: float) -> str:
    return local_time(epoch)


def _cards(journal: Journal, txns: list[Txn]) -> dict[int, str | None]:
    """The card each row shows: its own, or a void's or refund's original's."""
    cards: dict[int, str | None] = journal.queries.cards_shown(txns)
    return cards


def _rows(txns: list[Txn], cards: dict[int, str | None]) -> list[dict[str, Any]]:
    """`--json` rows: the transaction with `card`, the masked card it was made with."""
    return [{**t.as_dict(), "card": cards.get(t.id)} for t in txns]


def _table(txns: list[Txn], exponent: int, cards: dict[int, str | None]) -> str:
    header = ("ID", "TIME", "KIND", "STATE", "AMOUNT", "TRACE", "BATCH", "CARD", "RRN", "AUTH")
    rows = [header] + [(str(t.id), _when(t.created_at), t.kind, t.state, format_amount(t.amount, exponent),
                        f"{t.trace:06d}", f"{t.batch:06d}" + (" settled" if t.batch_state == BatchState.SETTLED else ""),
                        cards.get(t.id) or "-", t.rrn or "-", t.auth_code or "-") for t in txns]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def _emit(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) if args.json else text)


def _list(args: argparse.Namespace) -> int:
    journal, cfg = _open(args)
    with journal:
        amount = parse_amount(args.amount, _exponent(cfg)) if args.amount else None
        found = journal.find(trace=args.trace, rrn=args.rrn, date=args.date, amount=amount, last4=args.last4,
                             batch=args.batch, kind=args.kind, limit=args.limit)
        cards = _cards(journal, found)
        _emit(args, _rows(found, cards), _table(found, _exponent(cfg), cards) if found else "no transactions match")
    return 0


def _show(args: argparse.Namespace) -> int:
    journal, cfg = _open(args)
    with journal:
        txn = journal.get(args.id)
        bundle = journal.export(purchase_of=args.id)
        messages = journal.messages(args.id)
        events = [e for e in bundle["events"] if e["txn_id"] == args.id]
        reversals = [r for r in bundle["reversals"] if r["txn_id"] == args.id]
        cards = _cards(journal, [txn])
        data = {"transaction": _rows([txn], cards)[0], "messages": messages, "reversals": reversals, "events": events}
        lines = [_table([txn], _exponent(cfg), cards), "", "messages (masked):"]
        lines += [f"  {_when(m['at'])} {m['direction']:<8} {json.dumps(m['body'], sort_keys=True)}" for m in messages]
        lines += ["reversals:"] + [f"  #{r['id']} {r['state']} reason {r['reason'] or '-'} tries {r['tries']} "
                                   f"{r['last_error'] or ''}".rstrip() for r in reversals]
        lines += ["events:"] + [f"  {e['id']:>6} {_when(e['at'])} {e['kind']:<18} {e['operator'] or '-'}/"
                                f"{e['role'] or '-'}" for e in events]
        _emit(args, data, "\n".join(lines))
    return 0


def _purchase(args: argparse.Namespace) -> int:
    journal, cfg = _open(args)
    with journal:
        purchase = journal.purchase(args.id)
        cards = _cards(journal, purchase)
        _emit(args, _rows(purchase, cards), _table(purchase, _exponent(cfg), cards))
    return 0


def _duplicates(args: argparse.Namespace) -> int:
    journal, cfg = _open(args)
    window = args.window if args.window is not None else cfg.guards.duplicate_window_seconds
    with journal:
        groups = journal.suspected_duplicates(window_seconds=window)
        cards = _cards(journal, [t for g in groups for t in g])
        text = "\n\n".join(_table(g, _exponent(cfg), cards) for g in groups) or "no suspected duplicates"
        _emit(args, [_rows(g, cards) for g in groups], text)
    return 0


def _totals(args: argparse.Namespace) -> int:
    journal, cfg = _open(args)
    with journal:
        batch = journal.get_batch(args.batch) if args.batch else journal.open_batch()
        totals = journal.batch_totals(batch.number)
        by_payment = journal.payment_totals(batch.number, wallet_entry_mode=cfg.wallet.entry_mode)
        e = _exponent(cfg)
        text = (f"batch {batch.number:06d} ({batch.state})\n"
                f"  debits  (sales)   {totals.debit_count:>6}  {format_amount(totals.debit_amount, e):>15}\n"
                f"  credits (refunds) {totals.credit_count:>6}  {format_amount(totals.credit_amount, e):>15}")
        for name, label in (("card", "card"), ("wallet", "payment code")):
            part = getattr(by_payment, name)
            text += (f"\n  {label}: sales {part.debit_count} for {format_amount(part.debit_amount, e)}, refunds "
                     f"{part.credit_count} for {format_amount(part.credit_amount, e)}, net "
                     f"{format_amount(part.debit_amount - part.credit_amount, e)}")
        _emit(args, {"batch": batch.number, "state": batch.state, **totals.as_dict(),
                     "by_payment": by_payment.as_dict()}, text)
    return 0


def _damage_is_one_line(handler: Handler) -> Handler:
    """A damaged page met while reading becomes one line (verify: "journal BROKEN", exit 1), never a traceback."""
    import sqlite3

    def guarded(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except sqlite3.DatabaseError as exc:
            if handler is _verify:
                _emit(args, {"ok": False, "events": 0, "first_broken": None, "why": f"the file is damaged: {exc}"},
                      f"journal BROKEN: the file is damaged: {exc}")
                return 1
            raise StorageError(f"the journal file is damaged ({exc}); run `posagent journal verify`") from None

    return guarded


def write_private(path: Path, data: bytes, *, force: bool) -> None:
    """An export file: 0600, never through a symbolic link, never over a file unless forced."""
    from agent.atomicfile import write_private as write
    write(path, data, force=force)


def _export(args: argparse.Namespace) -> int:
    if args.purchase is None and args.since is None and args.until is None:
        raise UsageError("export needs --purchase ID, or --since/--until dates")
    journal, _ = _open(args)
    with journal:
        bundle = journal.export(purchase_of=args.purchase, since=args.since, until=args.until)
    out = render_text(bundle) if args.text else json.dumps(bundle, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    if args.output:
        write_private(Path(args.output), out.encode("utf-8"), force=args.force)
        print(f"wrote {len(bundle['transactions'])} transaction(s) to {args.output}")
    else:
        sys.stdout.write(out)
    return 0


def _verify(args: argparse.Namespace) -> int:
    journal, _ = _open(args)
    with journal:
        result = journal.verify()
    if result.ok:
        text = f"journal ok: {result.events} events, hash chain and every row verified"
    else:
        where = f" at event {result.first_broken}" if result.first_broken is not None else ""
        text = f"journal BROKEN{where}: {result.why}"
    _emit(args, result.as_dict(), text)
    return 0 if result.ok else 1


def _prune(args: argparse.Namespace) -> int:
    from agent.config import load_for_command
    cfg = load_for_command(args)
    path = Path(args.journal) if args.journal else cfg.path("journal", "path")
    if not path.exists():
        raise UsageError(f"no journal at {path} (set journal.path or pass --journal FILE)")
    days = args.retention_days or cfg.journal.retention_days
    with Journal.open(path, fingerprint_key=None, busy_timeout_ms=cfg.journal.busy_timeout_ms) as journal:
        removed = journal.prune(retention_days=days, max_batches=args.max_batches)
    _emit(args, {"removed_transactions": removed, "retention_days": days},
          f"pruned {removed} transaction(s) from batches settled more than {days} days ago")
    return 0
