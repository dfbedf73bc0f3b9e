"""`posagent reconcile FILE`: the acquirer's statement against the journal, to the cent.

    posagent reconcile statement.csv                      # table for people; exit 0 balanced, 1 not
    posagent reconcile stmt.txt --format unionpay-gbk --json
    posagent reconcile statement.csv --claim claims/      # claim letters (zh, en, both; letter, printer) + evidence

FILE is copied into the statements directory (a private file), and the daemon — the journal's owner —
reconciles it by name and journals the run (control operation `reconcile`); with no daemon running, this
process does the same under the journal's lock.  The claim letters are written from the answer.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from agent.atomicfile import PrivateDirectory
from agent.money import format_amount
from agent.reconcile.formats import ENCODINGS, FORMATS

if TYPE_CHECKING:
    from agent.config import Config
    from agent.reconcile.run import Request, Run

#: the claim letter's page width (the printer copy uses terminal.receipt_width)
LETTER_WIDTH = 80


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("reconcile", help="check the acquirer's settlement statement against the journal, to the cent")
    p.add_argument("file", help="the statement file the acquirer sent")
    p.add_argument("--format", default=None, help=f"statement format: {', '.join(FORMATS)} (default posim)")
    p.add_argument("--encoding", choices=ENCODINGS, help="file encoding (default: the format's)")
    p.add_argument("--date", type=_date, help="the settlement date expected in the file, YYYYMMDD or YYYY-MM-DD")
    p.add_argument("--journal", metavar="FILE", help="journal file (default: journal.path from the configuration)")
    p.add_argument("--claim", metavar="DIR", help="write the claim letters and the evidence of each item here "
                                                  "(private files: 0600, the directory 0700)")
    p.add_argument("--force", action="store_true", help="replace the claim files of an earlier run in DIR")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(handler=_reconcile)


def _date(text: str) -> str:
    for pattern in ("%Y%m%d", "%Y-%m-%d"):
        try:
            return dt.datetime.strptime(text, pattern).strftime("%Y%m%d")
        except ValueError:
            continue
    raise argparse.ArgumentTypeError(f"expected a date YYYYMMDD or YYYY-MM-DD, got {text!r}")


def _reconcile(args: argparse.Namespace) -> int:
    from agent.config import load_for_command
    from agent.reconcile.run import (Request, Run, journal_for_writing, place_statement, reconcile_named,
                                     statements_directory)

    cfg = load_for_command(args)
    journal_path = Path(os.path.expanduser(args.journal)) if args.journal else cfg.path("journal", "path")
    request = Request.checked("statement", fmt_name=args.format, encoding=args.encoding, date=args.date)
    directory = statements_directory(cfg, journal_path)
    name, raw = place_statement(args.file, directory)
    request = Request(name, request.format, request.encoding, request.date)
    with journal_for_writing(cfg, journal_path) as journal:
        if journal is None:
            run = Run.from_answer(ask_daemon(cfg, request), raw)
        else:
            found = reconcile_named(journal, cfg, directory, request, role="cashier")
            run = Run(found.report, found.name, found.format, found.encoding, found.sha256, found.event, raw)
    files: list[str] = []
    if args.claim:
        files = write_claim(run, Path(args.claim), cfg, journal_path, force=args.force)
    if args.json:
        out = run.report.as_dict()
        out.update({"statement": run.name, "format": run.format, "journal_event": run.event, "claim_files": files})
        print(json.dumps(out, indent=2, ensure_ascii=False))
    else:
        print(render_report(run, cfg.terminal.currency_exponent), end="")
        for f in files:
            print(f"wrote {f}")
    return 0 if run.report.balanced else 1


def ask_daemon(cfg: Config, request: Request) -> dict[str, Any]:
    """The daemon's `reconcile` of a statement of its statements directory; a refusal is one line, exit 2."""
    from agent.control_client import ControlClient
    from agent.errors import PosagentError, UsageError
    from agent.reconcile.run import StatementRefused

    reply = ControlClient(cfg.path("daemon", "control_socket"), timeout=300).call(
        "reconcile", {"statement": request.name, "format": request.format, "encoding": request.encoding,
                      **({"date": request.date} if request.date else {})})
    if reply.get("ok"):
        answer: dict[str, Any] = reply["result"]
        return answer
    error = reply.get("error") or {}
    message = str(error.get("message") or "the daemon refused the reconciliation")
    if error.get("code") == "statement_refused":
        raise StatementRefused(message)  # exit 2, as when this process reads a bad statement itself
    if error.get("code") == "usage":
        raise UsageError(message)
    raise PosagentError(message)


def render_report(run: Run, exponent: int = 2) -> str:
    from agent.reconcile.reconciler import KINDS, OTHER_TERMINALS  # a report's words: not at every start

    r = run.report
    money: Callable[[int], str] = lambda minor: format_amount(minor, exponent)  # noqa: E731
    out = [f"statement {run.name} ({run.format}): settlement date {r.settlement_date}, merchant {r.merchant_id}, "
           f"{r.lines} lines; terminal {r.terminal_id}: {r.expected} transactions in the day's batches"]
    if r.balanced:
        out.append(f"balanced to the cent: owed {money(r.owed)}, credited {money(r.credited)}")
    else:
        out.append(f"owed (journal + contract) {money(r.owed):>14}")
        out.append(f"credited (statement)      {money(r.credited):>14}")
        out.append(f"difference                {money(r.difference):>14}")
        out.append(f"{'#':>3}  {'finding':<42} {'line':>6} {'txn':>6} {'RRN':<12} {'effect':>12}")
        for n, d in enumerate(r.discrepancies, 1):
            rrn = d.line.rrn if d.line else (d.rrn or "-")
            out.append(f"{n:>3}  {KINDS[d.kind][0]:<42} {d.line.line if d.line else '-':>6} "
                       f"{d.txn_id if d.txn_id is not None else '-':>6} {rrn:<12} {money(d.effect):>12}")
        out.append(f"explained by the findings {money(r.explained):>14}")
        out.append(f"unexplained remainder     {money(r.unexplained):>14}")
        label = "claim: the acquirer kept" if r.claim_total >= 0 else "the acquirer paid in excess"
        out.append(f"{label} {money(abs(r.claim_total))}")
    if r.other_terminals:
        out.append(f"{OTHER_TERMINALS[0]}: {len(r.other_terminals)}, net {money(r.other_terminals_net)} "
                   f"(the statement's credit {money(r.statement_credit)} less these is this terminal's)")
        out.append(f"{'#':>3}  {'terminal':<10} {'line':>6} {'RRN':<12} {'batch':>6} {'trace':>6} {'net':>12}")
        for n, line in enumerate(r.other_terminals, 1):
            out.append(f"{n:>3}  {line.terminal_id:<10} {line.line or '-':>6} {line.rrn:<12} {line.batch_no:06d} "
                       f"{line.trace_no:06d} {money(line.net):>12}")
    if run.event:
        out.append(f"journaled as event #{run.event['event_id']}")
    return "\n".join(out) + "\n"


def write_claim(run: Run, directory: Path, cfg: Config, journal_path: Path, *, force: bool = False) -> list[str]:
    """Claim letters (zh and en, letter and printer width), claim.json and one evidence file per item, written
    as private files (`agent.atomicfile.PrivateDirectory`: 0600, no link followed, no overwrite unless `force`)."""
    from agent.journal import Journal, render_text
    from agent.reconcile.claim import bilingual, claim_json, render_claim

    r = run.report
    stem = f"claim-{r.settlement_date}"
    written: dict[str, bytes] = {}
    raw = run.raw
    assert raw is not None, "a claim quotes the statement: only a run that read the file writes one"
    raw_lines = raw.decode(run.encoding).lstrip("\ufeff").split("\n")
    evidence: dict[int, str] = {}
    with Journal.open(journal_path, fingerprint_key=None, read_only=True,
                      busy_timeout_ms=cfg.journal.busy_timeout_ms) as journal:
        for n, d in enumerate(r.discrepancies, 1):
            item = {"item": n, "finding": d.as_dict(), "statement_line": None, "journal_purchase": None}
            if d.line is not None and d.line.line:
                item["statement_line"] = {"number": d.line.line, "text": raw_lines[d.line.line - 1].rstrip("\r")}
            text = ""
            if d.txn_id is not None:
                bundle = journal.export(purchase_of=d.txn_id)
                item["journal_purchase"] = bundle
                text = render_text(bundle)
            name = f"evidence/item-{n:03d}"
            written[name + ".json"] = json.dumps(item, indent=2, ensure_ascii=False).encode()
            if text:
                written[name + ".txt"] = text.encode()
            evidence[n] = name + ".json"
    common = {"statement_name": run.name, "statement_sha256": run.sha256, "event": run.event,
              "exponent": cfg.terminal.currency_exponent, "merchant_name": cfg.terminal.merchant_name,
              "letter_date": dt.date.today().strftime("%Y%m%d")}
    letters = {language: render_claim(r, language=language, width=LETTER_WIDTH, **common) for language in ("zh", "en")}
    for language, letter in letters.items():
        written[f"{stem}-{language}.txt"] = letter.encode()
        written[f"{stem}-{language}-printer.txt"] = render_claim(
            r, language=language, width=cfg.terminal.receipt_width, **common).encode()
    # both languages in one file to sign and hand over, the terminal's language first
    written[f"{stem}.txt"] = bilingual(letters, cfg.terminal.language).encode()
    written[f"{stem}.json"] = json.dumps(claim_json(r, statement_name=run.name, statement_sha256=run.sha256,
                                                    event=run.event, evidence_files=evidence),
                                         indent=2, ensure_ascii=False).encode()
    written[f"statement-{run.name}"] = raw
    paths = []
    evidence_files = {name[len("evidence/"):]: data for name, data in written.items() if name.startswith("evidence/")}
    top_files = {name: data for name, data in written.items() if not name.startswith("evidence/")}
    with PrivateDirectory.open(directory, create=True) as top:
        # refuse before writing anything: a run's files are written together or not at all
        for name in top_files:
            top.check_free(name, force=force)
        with top.subdirectory("evidence") as evidence_dir:
            for name in evidence_files:
                evidence_dir.check_free(name, force=force)
            for name, data in evidence_files.items():
                paths.append(str(evidence_dir.write(name, data, force=force)))
        for name, data in top_files.items():
            paths.append(str(top.write(name, data, force=force)))
    return paths

