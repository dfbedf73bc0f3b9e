"""The I/O around a merchant reconciliation: read the statement, the merchant's terminals' events from the
office database, keep the run in `reconciliations`, write the claim.  A statement that cannot be read is
kept as a refused run and is a one-line error (exit 2)."""

from __future__ import annotations

import argparse
import gc
import hashlib
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import psycopg

from agent.errors import PosagentError
from agent.money import format_amount
from agent.reconcile.fees import FeeContract
from agent.reconcile.formats import StatementFormat, check_encoding, get_format
from agent.reconcile.statement import StatementError, parse_statement
from posoffice import report as office_report
from posoffice import store
from posoffice.errors import OfficeError
from posoffice.reconcile import KINDS, MerchantReconciliation, reconcile_merchant


@dataclass(frozen=True)
class OfficeRun:
    report: MerchantReconciliation
    fmt: StatementFormat
    name: str
    sha256: str
    run_id: int
    claim_files: tuple[str, ...] = ()
    merchant_name: str = ""

    def as_json(self) -> dict[str, Any]:
        return {**self.report.as_dict(), "statement": self.name, "statement_sha256": self.sha256,
                "format": self.fmt.name, "run": self.run_id, "claim_files": list(self.claim_files)}


def reconcile_statement(args: argparse.Namespace,
                        connect: Callable[[argparse.Namespace], AbstractContextManager[psycopg.Connection]], *,
                        raw: bytes | None = None) -> OfficeRun:
    """`posoffice reconcile`'s work: `connect(args)` opens the migrated office database.  `raw`: the statement's
    bytes when they did not come from a file (an upload on the Reconcile page; `args.file` names it)."""
    from agent.reconcile.run import read_statement_file

    try:
        fmt = get_format(args.format)
        encoding = check_encoding(args.encoding, fmt)
        contract = FeeContract.from_text(args.debit_rate, args.debit_cap, args.credit_rate, args.credit_cap)
    except ValueError as exc:
        raise OfficeError(f"fee contract: {exc}") from None
    except PosagentError as exc:
        raise OfficeError(str(exc)) from None
    zone = zone_named(args.tz)
    bins = tuple(b.strip() for b in args.credit_bins.split(",") if b.strip())
    name = Path(args.file).name
    with connect(args) as conn:
        try:
            raw = read_statement_file(args.file) if raw is None else raw
            statement = parse_statement(raw, fmt, encoding=encoding, path=name)
        except StatementError as exc:
            sha = None if raw is None else hashlib.sha256(raw).hexdigest()
            store.record_reconciliation(conn, {"statement": name, "statement_sha256": sha, "format": fmt.name,
                                               "status": "refused", "error": str(exc)[:400]})
            raise OfficeError(str(exc)) from None
        except PosagentError as exc:  # no such file, a directory: nothing to keep
            raise OfficeError(str(exc)) from None
        sha256 = hashlib.sha256(raw).hexdigest()
        merchant_of = store.merchants_of_terminals(conn)
        ours = sorted(t for t, m in merchant_of.items() if m == statement.merchant_id)
        if not ours:
            error = f"statement {name}: no terminal of merchant {statement.merchant_id} is registered in the office"
            store.record_reconciliation(conn, {"statement": name, "statement_sha256": sha256, "format": fmt.name,
                                               "status": "refused", "merchant_id": statement.merchant_id,
                                               "settlement_date": statement.settlement_date, "error": error})
            raise OfficeError(error)
        with collector_paused():
            txns = office_report.transactions_of_rows(store.transaction_rows(conn, ours))
            result = reconcile_merchant(statement, txns, merchant_of, contract, zone=zone, credit_bins=bins,
                                        backlog=store.backlogs(conn, ours))
        data = result.as_dict()
        run_id = store.record_reconciliation(conn, {
            "statement": name, "statement_sha256": sha256, "format": fmt.name,
            "status": "balanced" if result.balanced else "differs", "merchant_id": result.merchant_id,
            "settlement_date": result.settlement_date, "owed": result.owed, "credited": result.credited,
            "difference": result.difference, "unexplained": result.unexplained, "findings": len(result.findings),
            "report": data})
    files: tuple[str, ...] = ()
    if args.claim:
        from posoffice.claims import write_claim
        try:
            files = tuple(write_claim(result, Path(args.claim), statement_name=name, statement_sha256=sha256,
                                      raw=raw, run_id=run_id, force=args.force,
                                      merchant_name=statement.merchant_name))
        except PosagentError as exc:
            raise OfficeError(f"the run is kept as #{run_id}, but the claim was not written: {exc}") from None
    return OfficeRun(result, fmt, name, sha256, run_id, files, statement.merchant_name)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for a while: deriving a day's transactions makes a few hundred
    thousand small objects that hold no cycles (reference counting frees them), and the collector's passes over
    them were about half of that step's time.  Whatever cycles come up meanwhile are collected afterwards."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def zone_named(name: str | None) -> ZoneInfo | None:
    if name is None:
        return None  # this machine's local time, as the terminal's journal dates its transactions
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise OfficeError(f"unknown time zone {name!r} (e.g. UTC, Asia/Shanghai)") from None


def render_report(run: OfficeRun, exponent: int = 2) -> str:
    r = run.report
    def money(minor: int) -> str:
        return format_amount(minor, exponent)

    out = [f"statement {run.name} ({run.fmt.name}): settlement date {r.settlement_date}, merchant {r.merchant_id}, "
           f"{r.statement_lines} lines; {len(r.terminals)} terminal(s) in the office"]
    for t in r.terminals:
        backlog = r.backlog.get(t.terminal_id)
        note = f"; {backlog} event(s) not shipped yet" if backlog else ""
        out.append(f"  terminal {t.terminal_id}: {t.expected} transactions in the day's batches, {t.lines} lines, "
                   f"owed {money(t.owed)}, credited {money(t.credited)}, difference {money(t.difference)}{note}")
    if r.balanced:
        out.append(f"balanced to the cent: owed {money(r.owed)}, credited {money(r.credited)}")
    else:
        out.append(f"owed (journals + contract) {money(r.owed):>14}")
        out.append(f"credited (statement)       {money(r.credited):>14}")
        out.append(f"difference                 {money(r.difference):>14}")
        out.append(f"{'#':>3}  {'finding':<44} {'terminal':<9} {'line':>5} {'trace':>6} {'RRN':<12} {'effect':>12}")
        for n, f in enumerate(r.findings, 1):
            line = f.discrepancy.line
            out.append(f"{n:>3}  {KINDS[f.kind][0]:<44} {f.terminal_id or '-':<9} {line.line if line else '-':>5} "
                       f"{f'{f.trace:06d}' if f.trace is not None else '-':>6} {f.rrn or '-':<12} {money(f.effect):>12}")
        out.append(f"explained by the findings  {money(r.explained):>14}")
        out.append(f"unexplained remainder      {money(r.unexplained):>14}")
        label = "claim: the acquirer kept" if r.claim_total >= 0 else "the acquirer paid in excess"
        out.append(f"{label} {money(abs(r.claim_total))}")
    out.append(f"kept as reconciliation run #{run.run_id}")
    out += [f"wrote {f}" for f in run.claim_files]
    return "\n".join(out) + "\n"
